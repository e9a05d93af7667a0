// Transactions: all-or-nothing across groups, rollback, isolation, events
// after commit, misuse that rejects instead of hanging.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { QuotaExceededError, StoreError, Transaction } from 'groupstore'
import { brief, collect, nextEvent, openStore, record, within } from './helpers.js'

/** @param {import('./index.js').Factory} factory */
export default function transactions(factory) {
  describe('transactions', () => {
    it('commits every write across groups and answers what fn returns', async (t) => {
      const store = await openStore(t, factory)
      await store.set('queue', 'job-1', 'waiting')
      const result = await store.transaction(async (tx) => {
        assert.ok(tx instanceof Transaction)
        await tx.delete('queue', 'job-1')
        await tx.set('done', 'job-1', 'ok')
        await tx.set('log', 'job-1', 'moved')
        return 42
      })
      assert.equal(result, 42)
      assert.equal(await store.has('queue', 'job-1'), false)
      assert.equal(await store.get('done', 'job-1'), 'ok')
      assert.equal(await store.get('log', 'job-1'), 'moved')
    })

    it('a synchronous fn works too', async (t) => {
      const store = await openStore(t, factory)
      assert.equal(await store.transaction(() => 'sync'), 'sync')
      const p = await store.transaction((tx) => {
        void tx.set('g', 'k', 'v')
        return 'done'
      })
      assert.equal(p, 'done')
      assert.equal(await store.get('g', 'k'), 'v')
    })

    it('reads inside see the transaction’s own writes', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'a', '1')
      await store.transaction(async (tx) => {
        await tx.set('g', 'b', '2')
        await tx.delete('g', 'a')
        assert.equal(await tx.get('g', 'b'), '2')
        assert.equal(await tx.has('g', 'a'), false)
        assert.equal(await tx.count('g'), 1)
        assert.deepEqual(await tx.groups(), ['g'])
        assert.deepEqual({ ...(await tx.getAll('g')) }, { b: '2' })
        assert.deepEqual((await tx.page('g')).entries, [['b', '2']])
        assert.deepEqual(await collect(tx.entries('g')), [['b', '2']])
        assert.equal(await tx.render('{{ b }}', 'g'), '2')
        assert.equal(await tx.ttl('g', 'b'), null)
        assert.equal(await tx.deletePrefix('g'), 1)
        assert.equal(await tx.countAll(), 0)
      })
      assert.equal(await store.countAll(), 0)
    })

    it('a throw rolls back every write, across groups, and rethrows the same error', async (t) => {
      const store = await openStore(t, factory)
      await store.set('a', 'k', 'old')
      await store.set('c', 'k', 'keep')
      const boom = new Error('boom')
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.set('a', 'k', 'new')
          await tx.set('b', 'k', 'new')
          await tx.delete('c', 'k')
          await tx.deleteGroup('a')
          throw boom
        }),
        (err) => err === boom,
      )
      assert.equal(await store.get('a', 'k'), 'old')
      assert.equal(await store.has('b', 'k'), false)
      assert.equal(await store.get('c', 'k'), 'keep')
      assert.deepEqual(await store.groups(), ['a', 'c'])
    })

    it('a synchronous throw rolls back and rethrows too, even a non-Error value', async (t) => {
      const store = await openStore(t, factory)
      await assert.rejects(
        store.transaction((tx) => {
          void tx.set('g', 'k', 'v').catch(() => {})
          throw 'plain string'
        }),
        (err) => err === 'plain string',
      )
      assert.equal(await store.has('g', 'k'), false)
    })

    it('a rejected operation caught inside fn does not roll back the rest', async (t) => {
      const store = await openStore(t, factory)
      await store.transaction(async (tx) => {
        await tx.set('g', 'a', '1')
        await assert.rejects(tx.set('g', 'b', '2', { ttl: -1 }), RangeError)
        await tx.set('g', 'c', '3')
      })
      assert.deepEqual({ ...(await store.getAll('g')) }, { a: '1', c: '3' })
    })

    it('operations outside fn never see its uncommitted writes', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'old')
      let release
      const gate = new Promise((resolve) => {
        release = resolve
      })
      let inside
      const reached = new Promise((resolve) => {
        inside = resolve
      })
      const boom = new Error('rolled back')
      const tx = store.transaction(async (tx) => {
        await tx.set('g', 'k', 'uncommitted')
        await tx.set('g', 'new', 'uncommitted')
        inside()
        await gate
        throw boom
      })
      await within(reached, 'the transaction to start')
      const outside = [store.get('g', 'k'), store.has('g', 'new'), store.count('g'), store.getAll('g')]
      release()
      await assert.rejects(tx, (err) => err === boom)
      const [value, has, count, all] = await within(Promise.all(outside), 'the outside reads')
      assert.equal(value, 'old')
      assert.equal(has, false)
      assert.equal(count, 1)
      assert.deepEqual({ ...all }, { k: 'old' })
    })

    it('operations issued together inside fn run in the order issued, each seeing those before it', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'old', 'x')
      const start = await store.revision()
      const { events } = record(store)
      const answers = await store.transaction((tx) =>
        Promise.all([
          tx.set('g', 'a', '1'),
          tx.increment('g', 'n', 2),
          tx.set('g', 'b', '2', { ifAbsent: true }),
          tx.setMany('g', { c: '3', d: '4' }),
          tx.delete('g', 'old'),
          tx.increment('g', 'n', 3),
          tx.set('g', 'a', '5', { ifAbsent: true }),
          tx.deleteMany('g', ['c']),
          tx.getEntry('g', 'n'),
          tx.get('g', 'a'),
          tx.count('g'),
        ]),
      )
      const r = (n) => start + n
      assert.deepEqual(answers, [r(1), 2, r(3), r(5), true, 5, false, 1, { value: '5', revision: r(7), expiresAt: null }, '1', 4])
      assert.deepEqual(brief(events), ['set g/a=1', 'set g/n=2', 'set g/b=2', 'set g/c=3', 'set g/d=4', 'delete g/old', 'set g/n=5', 'delete g/c'])
      assert.deepEqual(events.map((e) => e.revision), [r(1), r(2), r(3), r(4), r(5), r(6), r(7), r(8)])
      assert.deepEqual({ ...(await store.getAll('g')) }, { a: '1', b: '2', d: '4', n: '5' })
      assert.equal(await store.revision(), r(8))
    })

    it('a scoped transaction’s writes issued together cannot pass its quota', async (t) => {
      const store = await openStore(t, factory)
      const scope = store.scope('ns', { quota: { maxKeys: 3 } })
      const outcomes = await scope.transaction((tx) => Promise.allSettled(['a', 'b', 'c', 'd', 'e'].map((k) => tx.set('g', k, 'v'))))
      assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'])
      assert.ok(outcomes.slice(3).every((o) => o.reason instanceof QuotaExceededError))
      assert.deepEqual(Object.keys(await scope.getAll('g')).sort(), ['a', 'b', 'c'])
    })

    it('concurrent transactions are isolated: read-modify-write increments never get lost', async (t) => {
      const store = await openStore(t, factory)
      await store.set('c', 'n', '0')
      const runs = []
      for (let i = 0; i < 10; i++) {
        runs.push(
          store.transaction(async (tx) => {
            const n = Number(await tx.get('c', 'n'))
            await tx.set('c', 'n', String(n + 1))
          }),
        )
      }
      await within(Promise.all(runs), 'the transactions')
      assert.equal(await store.get('c', 'n'), '10')
    })

    it('writes outside and a transaction running together all apply', async (t) => {
      const store = await openStore(t, factory)
      const work = [store.transaction(async (tx) => {
        for (let i = 0; i < 10; i++) await tx.set('tx', `k${i}`, 'v')
      })]
      for (let i = 0; i < 10; i++) work.push(store.set('out', `k${i}`, 'v'))
      await within(Promise.all(work), 'the writes')
      assert.equal(await store.count('tx'), 10)
      assert.equal(await store.count('out'), 10)
    })

    it('events fire only after commit, in order, once; none after a rollback', async (t) => {
      const store = await openStore(t, factory)
      const { events } = record(store)
      const watcher = store.watch('*', '*')
      await store.transaction(async (tx) => {
        await tx.set('a', 'k', '1')
        await tx.set('b', 'k', '2')
        await tx.delete('a', 'k')
        assert.equal(events.length, 0, 'an event fired before commit')
      })
      assert.deepEqual(brief(events), ['set a/k=1', 'set b/k=2', 'delete a/k'])
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.set('c', 'k', '3')
          await tx.deleteGroup('b')
          throw new Error('no')
        }),
      )
      assert.equal(events.length, 3, 'a rolled-back transaction emitted events')
      await store.set('end', 'k', 'e')
      const seen = []
      for (let i = 0; i < 4; i++) seen.push((await watcher.next()).value)
      assert.deepEqual(brief(seen), ['set a/k=1', 'set b/k=2', 'delete a/k', 'set end/k=e'])
    })

    it('writes issued while fn runs wait, and every event comes in commit order with consecutive revisions', async (t) => {
      const store = await openStore(t, factory)
      const start = await store.revision()
      const { events } = record(store)
      const watcher = store.watch('*', '*', { bufferSize: 1 })
      let release
      const gate = new Promise((resolve) => (release = resolve))
      let entered
      const inside = new Promise((resolve) => (entered = resolve))
      const tx = store.transaction(async (tx) => {
        await tx.set('tx', 'a', '1')
        entered()
        await gate
        await tx.set('tx', 'b', '2')
        await tx.delete('tx', 'a')
      })
      await within(inside, 'the transaction to start')
      const plain = [store.set('plain', 'x', '1'), store.increment('plain', 'n'), store.delete('tx', 'a')]
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.deepEqual(events, [], 'an event fired before the transaction committed')
      release()
      await within(Promise.all([tx, ...plain]), 'the transaction and the writes')
      const expected = ['set tx/a=1', 'set tx/b=2', 'delete tx/a', 'set plain/x=1', 'set plain/n=1']
      assert.deepEqual(brief(events), expected)
      assert.deepEqual(events.map((e) => e.revision - start), [1, 2, 3, 4, 5])
      const seen = []
      for (let i = 0; i < expected.length; i++) seen.push(await nextEvent(watcher))
      assert.deepEqual(seen, events)
      assert.equal(watcher.dropped, 0)
    })

    it('calling the store inside fn rejects with StoreError instead of hanging', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v')
      const scope = store.scope('ns')
      await within(
        store.transaction(async (tx) => {
          await tx.set('g', 'k2', 'v2')
          for (const call of [
            () => store.get('g', 'k'),
            () => store.set('g', 'k', 'x'),
            () => store.delete('g', 'k'),
            () => store.count('g'),
            () => store.groups(),
            () => store.purgeExpired(),
            () => store.revision(),
            () => store.transaction(() => 1),
            () => scope.get('g', 'k'),
            () => scope.set('g', 'k', 'x'),
            () => collect(store.entries('g')),
            () => store.render('x', 'g'),
          ]) {
            await assert.rejects(call(), (err) => {
              assert.ok(err instanceof StoreError, `got ${err}`)
              assert.equal(err.code, 'ERR_STORE')
              assert.match(err.message, /^(store|scope)\.\w+: /)
              return true
            })
          }
        }),
        'the transaction',
      )
      assert.equal(await store.get('g', 'k'), 'v')
      assert.equal(await store.get('g', 'k2'), 'v2')
    })

    it('closing the store, or calling it through a scope’s transaction, inside fn rejects with StoreError instead of hanging', async (t) => {
      const store = await openStore(t, factory)
      const scope = store.scope('ns')
      const misuse = (err) => {
        assert.ok(err instanceof StoreError, `got ${err}`)
        assert.equal(err.code, 'ERR_STORE')
        assert.match(err.message, /^(store|scope)\.\w+: /)
        return true
      }
      await within(
        store.transaction(async (tx) => {
          await tx.set('g', 'k', 'v')
          await assert.rejects(within(store.close(), 'close inside fn'), misuse)
          await assert.rejects(within(store[Symbol.asyncDispose](), 'dispose inside fn'), misuse)
          await assert.rejects(within(scope.transaction(() => 1), 'a scope transaction inside fn'), misuse)
        }),
        'the transaction',
      )
      await within(
        scope.transaction(async (tx) => {
          await tx.set('g', 'k', 'v')
          await assert.rejects(within(store.get('g', 'k'), 'the store inside a scope transaction'), misuse)
          await assert.rejects(within(store.scope('other').set('g', 'k', 'v'), 'another scope inside a scope transaction'), misuse)
          await assert.rejects(within(store.close(), 'close inside a scope transaction'), misuse)
        }),
        'the scoped transaction',
      )
      // the refused close closed nothing: both transactions committed and the store still works
      assert.equal(await store.get('g', 'k'), 'v')
      assert.equal(await scope.get('g', 'k'), 'v')
      assert.deepEqual(await store.groups(), ['g', 'ns:g'])
    })

    it('the misuse check follows async work inside fn (timers, awaited promises)', async (t) => {
      const store = await openStore(t, factory)
      await within(
        store.transaction(async () => {
          await new Promise((resolve) => setTimeout(resolve, 1))
          await assert.rejects(store.get('g', 'k'), StoreError)
          await new Promise((resolve) => setImmediate(resolve))
          await assert.rejects(store.set('g', 'k', 'v'), StoreError)
        }),
        'the transaction',
      )
      await store.set('g', 'k', 'v')
    })

    it('using tx after fn has settled rejects with StoreError', async (t) => {
      const store = await openStore(t, factory)
      let saved
      await store.transaction((tx) => {
        saved = tx
      })
      for (const call of [
        () => saved.get('g', 'k'),
        () => saved.set('g', 'k', 'v'),
        () => saved.set('g', 'k', 'v', { ifAbsent: true }),
        () => saved.deleteGroup('g'),
        () => saved.countAll(),
        () => collect(saved.entries('g')),
        () => saved.render('x', 'g'),
        () => saved.getEntry('g', 'k'),
        () => saved.increment('g', 'n'),
        () => saved.getMany('g', ['k']),
        () => saved.setMany('g', { k: 'v' }),
        () => saved.deleteMany('g', ['k']),
      ]) {
        await assert.rejects(within(call(), 'the late call'), (err) => {
          assert.ok(err instanceof StoreError, `got ${err}`)
          assert.equal(err.code, 'ERR_STORE')
          assert.match(err.message, /^tx\.\w+: /)
          return true
        })
      }
      assert.equal(await store.has('g', 'k'), false)
      let failed
      await assert.rejects(
        store.transaction((tx) => {
          failed = tx
          throw new Error('x')
        }),
      )
      await assert.rejects(failed.set('g', 'k', 'v'), StoreError)
      assert.equal(await store.has('g', 'k'), false)
    })

    it('an operation on tx left running when fn settles does not hang the store', async (t) => {
      const store = await openStore(t, factory)
      let late
      await within(
        store.transaction((tx) => {
          late = tx.set('g', 'k', 'v')
        }),
        'the transaction',
      )
      await within(late.catch(() => {}), 'the late write')
      await within(store.set('g', 'other', 'v'), 'a later write')
    })

    it('the transaction object has every read/write method', async (t) => {
      const store = await openStore(t, factory)
      await store.transaction((tx) => {
        for (const m of [
          'get', 'has', 'set', 'delete', 'deleteGroup', 'deletePrefix', 'count', 'countAll', 'groups', 'getAll', 'page', 'entries', 'ttl', 'render',
          'getEntry', 'increment', 'getMany', 'setMany', 'deleteMany',
        ]) {
          assert.equal(typeof tx[m], 'function', m)
        }
      })
    })

    it('a store stays usable after many rolled-back transactions', async (t) => {
      const store = await openStore(t, factory)
      for (let i = 0; i < 20; i++) {
        await assert.rejects(store.transaction(async (tx) => {
          await tx.set('g', `k${i}`, 'v')
          throw new Error('no')
        }))
      }
      await store.set('g', 'ok', 'v')
      assert.deepEqual(await store.groups(), ['g'])
      assert.equal(await store.count('g'), 1)
    })
  })
}
