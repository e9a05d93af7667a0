// Opening and closing: close semantics, Symbol.asyncDispose, the purge timer
// that never holds the process open, and the error classes.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { QuotaExceededError, ScopedStore, Store, StoreClosedError, StoreError, TemplateError, Transaction } from 'groupstore'
import { brief, collect, openStore, record, throwsWith, within } from './helpers.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Every promise-returning method of a store or scope, called with valid arguments. */
function calls(target) {
  return {
    get: () => target.get('g', 'k'),
    has: () => target.has('g', 'k'),
    ttl: () => target.ttl('g', 'k'),
    set: () => target.set('g', 'k', 'v'),
    delete: () => target.delete('g', 'k'),
    deleteGroup: () => target.deleteGroup('g'),
    deletePrefix: () => target.deletePrefix(''),
    count: () => target.count('g'),
    countAll: () => target.countAll(),
    groups: () => target.groups(),
    getAll: () => target.getAll('g'),
    page: () => target.page('g'),
    entries: () => target.entries('g').next(),
    render: () => target.render('x', 'g'),
    getEntry: () => target.getEntry('g', 'k'),
    increment: () => target.increment('g', 'n'),
    getMany: () => target.getMany('g', ['k']),
    setMany: () => target.setMany('g', { k: 'v' }),
    deleteMany: () => target.deleteMany('g', ['k']),
    'set (ifAbsent)': () => target.set('g', 'k', 'v', { ifAbsent: true }),
    'set (ifRevision)': () => target.set('g', 'k', 'v', { ifRevision: 1 }),
    'delete (ifRevision)': () => target.delete('g', 'k', { ifRevision: 1 }),
    transaction: () => target.transaction(() => 1),
    ...(target instanceof Store ? { purgeExpired: () => target.purgeExpired(), revision: () => target.revision() } : {}),
  }
}

/**
 * Runs `code` (an ES module body with `location` defined) in a child Node
 * process from the package root; resolves with its exit code and output.
 */
function runChild(code, location) {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', `const location = process.argv[1];\n${code}`, location],
      { cwd: ROOT, timeout: 15_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr, err }),
    )
  })
}

/** @param {import('./index.js').Factory} factory */
export default function lifecycle(factory) {
  describe('lifecycle', () => {
    describe('close', () => {
      it('is idempotent', async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', 'k', 'v')
        const a = store.close()
        const b = store.close()
        await Promise.all([a, b])
        assert.equal(await store.close(), undefined)
      })

      it('makes every operation reject with StoreClosedError naming the method', async (t) => {
        const store = await openStore(t, factory)
        const scope = store.scope('ns')
        await store.close()
        for (const [kind, target] of [['store', store], ['scope', scope]]) {
          for (const [method, call] of Object.entries(calls(target))) {
            await assert.rejects(Promise.resolve().then(call), (err) => {
              assert.ok(err instanceof StoreClosedError, `${kind}.${method}: got ${err}`)
              assert.ok(err instanceof StoreError)
              assert.equal(err.code, 'ERR_STORE_CLOSED')
              assert.equal(err.name, 'StoreClosedError')
              assert.ok(err.message.startsWith(`${kind}.${method.split(' ')[0]}: `), err.message)
              return true
            })
          }
        }
      })

      it('an entries iteration begun before close rejects with StoreClosedError when it fetches its next page', async (t) => {
        const store = await openStore(t, factory)
        await store.transaction(async (tx) => {
          for (let i = 0; i < 1200; i++) await tx.set('g', `k${String(i).padStart(4, '0')}`, 'v')
        })
        const it = store.entries('g')
        assert.equal((await it.next()).done, false)
        await store.close()
        let read = 1
        await assert.rejects(
          (async () => {
            for (;;) {
              if ((await it.next()).done) break
              read++
            }
          })(),
          (err) => err instanceof StoreClosedError && err.message.startsWith('store.entries: '),
        )
        assert.ok(read < 1200, `the whole group was read after close (${read} entries)`)
      })

      it('closed beats bad arguments: a closed store rejects with StoreClosedError', async (t) => {
        const store = await openStore(t, factory)
        await store.close()
        await assert.rejects(store.get(1, 2), StoreClosedError)
        await assert.rejects(store.page('g', { limit: -1 }), StoreClosedError)
      })

      it('makes watch, onChange and scope throw StoreClosedError synchronously', async (t) => {
        const store = await openStore(t, factory)
        const scope = store.scope('ns')
        await store.close()
        throwsWith(() => store.watch('g', 'k'), StoreClosedError, ['store.watch: '])
        throwsWith(() => store.onChange(() => {}), StoreClosedError, ['store.onChange: '])
        throwsWith(() => store.scope('ns'), StoreClosedError, ['store.scope: '])
        throwsWith(() => scope.watch('g', 'k'), StoreClosedError, ['scope.watch: '])
        throwsWith(() => scope.onChange(() => {}), StoreClosedError, ['scope.onChange: '])
      })

      it('ends every watcher, including one waiting in next() and a for-await loop', async (t) => {
        const store = await openStore(t, factory)
        const waiting = store.watch('g', 'k')
        const pending = waiting.next()
        const looping = store.watch('*', '*')
        const loop = collect(looping)
        const scoped = store.scope('ns').watch('*', '*')
        await store.set('g', 'k', 'v')
        await store.close()
        assert.deepEqual(await within(pending, 'the waiting watcher'), { done: false, value: (await pending).value })
        assert.deepEqual(await within(waiting.next(), 'the end'), { done: true, value: undefined })
        assert.equal((await within(loop, 'the loop to end')).length, 1)
        assert.deepEqual(await within(scoped.next(), 'the scoped watcher'), { done: true, value: undefined })
      })

      it('a watcher past its buffer still accounts for every event once the store closes', async (t) => {
        const store = await openStore(t, factory)
        const scope = store.scope('ns')
        const all = store.watch('*', '*', { bufferSize: 2 })
        const scoped = scope.watch('*', '*', { bufferSize: 2 })
        const idle = store.watch('g', '*', { bufferSize: 2 })
        for (let i = 0; i < 20; i++) {
          await store.set('g', `k${i}`, String(i))
          await scope.set('h', `k${i}`, String(i))
        }
        // Writes still in flight when close is called count too.
        const inFlight = []
        for (let i = 20; i < 30; i++) inFlight.push(store.set('g', `k${i}`, String(i)))
        const closing = store.close()
        await Promise.all(inFlight)
        await closing
        const everything = await within(collect(all), 'the watcher of everything to end')
        assert.equal(everything.length + all.dropped, 50, `received ${everything.length}, dropped ${all.dropped}`)
        const mine = await within(collect(scoped), 'the scoped watcher to end')
        assert.equal(mine.length + scoped.dropped, 20, `received ${mine.length}, dropped ${scoped.dropped}`)
        assert.deepEqual(brief(mine.slice(0, 2)), ['set h/k0=0', 'set h/k1=1'])
        const group = await within(collect(idle), 'the group watcher to end')
        assert.equal(group.length + idle.dropped, 30, `received ${group.length}, dropped ${idle.dropped}`)
        assert.deepEqual(group.map((e) => Number(e.value)).slice(0, 2), [0, 1])
      })

      it('stops onChange callbacks', async (t) => {
        const store = await openStore(t, factory)
        const { events } = record(store)
        await store.set('g', 'k', 'v')
        await store.close()
        assert.equal(events.length, 1)
      })

      it('lets writes in flight complete, with their events', async (t) => {
        const store = await openStore(t, factory)
        const { events } = record(store)
        const writes = []
        for (let i = 0; i < 50; i++) writes.push(store.set('g', `k${i}`, 'v'))
        writes.push(store.deleteGroup('other'))
        const closing = store.close()
        const results = await within(Promise.allSettled(writes), 'the writes')
        for (const r of results) assert.equal(r.status, 'fulfilled', String(r.reason))
        await closing
        assert.equal(events.length, 50)
      })

      it('lets reads in flight answer, and close settles after them', async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', 'k', 'v')
        const reads = [store.get('g', 'k'), store.count('g'), store.getAll('g'), store.page('g'), store.groups()]
        const closing = store.close()
        const answers = await within(Promise.all(reads), 'the reads')
        assert.deepEqual(answers.slice(0, 2), ['v', 1])
        assert.deepEqual({ ...answers[2] }, { k: 'v' })
        assert.deepEqual(answers[3], { entries: [['k', 'v']] })
        assert.deepEqual(answers[4], ['g'])
        await within(closing, 'close')
        await assert.rejects(store.get('g', 'k'), StoreClosedError)
      })

      it('lets a transaction in flight finish before closing', async (t) => {
        const store = await openStore(t, factory)
        let started
        const reached = new Promise((resolve) => {
          started = resolve
        })
        const tx = store.transaction(async (tx) => {
          started()
          await new Promise((resolve) => setTimeout(resolve, 5))
          await tx.set('g', 'k', 'v')
          return 'committed'
        })
        await within(reached, 'the transaction to start')
        const closing = store.close()
        assert.equal(await within(tx, 'the transaction'), 'committed')
        await within(closing, 'close')
      })

      it('Symbol.asyncDispose closes the store', async (t) => {
        const store = await openStore(t, factory)
        assert.equal(typeof store[Symbol.asyncDispose], 'function')
        await store[Symbol.asyncDispose]()
        await assert.rejects(store.get('g', 'k'), StoreClosedError)
        await store[Symbol.asyncDispose]()
      })

      it('opening after another store closed works (stores are independent)', async (t) => {
        const a = await openStore(t, factory)
        const b = await openStore(t, factory)
        await a.close()
        await b.set('g', 'k', 'v')
        assert.equal(await b.get('g', 'k'), 'v')
      })
    })

    describe('the purge timer', { skip: factory.location === undefined && 'the factory has no location for a child process' }, () => {
      it('never keeps the process alive', async () => {
        const result = await runChild(
          `import { Store } from 'groupstore'
          const store = await Store.open(location, { purgeInterval: 10 })
          await store.set('g', 'k', 'v', { ttl: 1 })
          store.watch('*', '*')
          store.onChange(() => {})
          await new Promise((resolve) => setTimeout(resolve, 30))
          process.stdout.write('opened, not closed\\n')`,
          factory.location?.() ?? ':memory:',
        )
        assert.equal(result.signal, null, `the child had to be killed: it did not exit on its own (${result.stderr})`)
        assert.equal(result.code, 0, result.stderr)
        assert.equal(result.stdout, 'opened, not closed\n')
      })

      it('with the default interval never keeps the process alive either', async () => {
        const result = await runChild(
          `import { Store } from 'groupstore'
          const store = await Store.open(location)
          await store.set('g', 'k', 'v')
          process.stdout.write('ok\\n')`,
          factory.location?.() ?? ':memory:',
        )
        assert.equal(result.signal, null, 'the child had to be killed')
        assert.equal(result.code, 0, result.stderr)
      })
    })

    describe('errors', () => {
      it('the classes form one hierarchy with stable names and codes', () => {
        const base = new StoreError('store.x: failed')
        assert.ok(base instanceof Error)
        assert.equal(base.name, 'StoreError')
        assert.equal(base.code, 'ERR_STORE')
        assert.equal(base.message, 'store.x: failed')
        const cause = new Error('driver')
        assert.equal(new StoreError('store.x: failed', { cause }).cause, cause)
        const closed = new StoreClosedError('store.get')
        assert.ok(closed instanceof StoreError)
        assert.equal(closed.name, 'StoreClosedError')
        assert.equal(closed.code, 'ERR_STORE_CLOSED')
        assert.ok(closed.message.startsWith('store.get: '))
        const quota = new QuotaExceededError('scope.set', 'ns', 'maxKeys', 5)
        assert.ok(quota instanceof StoreError)
        assert.equal(quota.name, 'QuotaExceededError')
        assert.equal(quota.code, 'ERR_QUOTA_EXCEEDED')
        assert.equal(quota.namespace, 'ns')
        assert.equal(quota.limit, 'maxKeys')
        assert.ok(quota.message.startsWith('scope.set: '))
        const template = new TemplateError('store.render: bad', { cause })
        assert.ok(template instanceof StoreError)
        assert.equal(template.name, 'TemplateError')
        assert.equal(template.code, 'ERR_TEMPLATE')
        assert.equal(template.cause, cause)
        assert.ok(String(template).startsWith('TemplateError: store.render: '))
        assert.ok(typeof base.stack === 'string')
      })

      it('the package exports the classes the contract names', () => {
        for (const cls of [Store, ScopedStore, Transaction, StoreError, StoreClosedError, QuotaExceededError, TemplateError]) {
          assert.equal(typeof cls, 'function')
        }
        assert.equal(typeof Store.open, 'function')
      })

      it('errors raised by the store are instances of the exported classes', async (t) => {
        const store = await openStore(t, factory)
        await assert.rejects(store.render('{{', 'g'), (e) => e instanceof TemplateError && e.code === 'ERR_TEMPLATE')
        await assert.rejects(
          store.scope('q', { quota: { maxKeys: 1 } }).transaction(async (tx) => {
            await tx.set('g', 'a', 'v')
            await tx.set('g', 'b', 'v')
          }),
          (e) => e instanceof QuotaExceededError && e.limit === 'maxKeys' && e.namespace === 'q',
        )
      })
    })

    it('Store.open rejects a location that is not a string, or is empty', async () => {
      await assert.rejects(Store.open(5), (e) => e instanceof TypeError && e.message.startsWith('Store.open: ') && e.message.includes('location'))
      await assert.rejects(Store.open(''), (e) => e instanceof TypeError && e.message.startsWith('Store.open: '))
    })

    it("Store.open() with no location opens an empty in-memory store", async (t) => {
      const store = await Store.open()
      t.after(() => store.close())
      assert.deepEqual(await store.groups(), [])
      await store.set('g', 'k', 'v')
      assert.equal(await store.get('g', 'k'), 'v')
    })
  })
}
