// The runtime every backend's writes go through (src/backend/write-queue.ts):
// a write that committed resolves even when its commit callback throws, the
// rest of its batch is announced too, the failure is one coded warning, work
// after close() is refused and close() waits for the writes in flight. Run on
// SQLite (':memory:' and a file) and on PostgreSQL (GROUPSTORE_TEST_PG).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { StoreError } from 'groupstore'
import { writeOf } from '../dist/backend/backend.js'
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'
import { tempDir } from './helpers/sqlite.js'
import { testSchema, unavailable, url } from './postgres/server.js'

/** A backend write of a function, as the store hands its writes over (see `Write` in src/backend/backend.ts). */
const writeFn = (backend, method, fn, committed, options) => backend.write(writeOf(method, fn, committed), options)

const pgSkip = await unavailable()
const schema = pgSkip ? undefined : testSchema('groupstore_wq')
let tables = 0

const backends = [
  { name: 'sqlite :memory:', open: () => openBackend(':memory:', resolveOptions({ purgeInterval: 0 })) },
  { name: 'sqlite file', open: (t) => openBackend(join(tempDir(t), 'wq.db'), resolveOptions({ purgeInterval: 0 })) },
  {
    name: 'postgres',
    skip: pgSkip,
    open: () => openBackend(url, resolveOptions({ purgeInterval: 0, schema, table: `wq${tables++}` }, true)),
  },
]

/** Collects the warnings emitted until the test ends. */
function warnings(t) {
  const seen = []
  const listener = (w) => seen.push(w)
  process.on('warning', listener)
  t.after(() => process.off('warning', listener))
  return seen
}

/** Lets process warnings (emitted on the next tick) arrive. */
const tick = () => new Promise((resolve) => setImmediate(resolve))

for (const b of backends) {
  describe(`write queue: ${b.name}`, { skip: b.skip }, () => {
    it('a committed write whose onCommit throws resolves, and its data is there', async (t) => {
      const backend = await b.open(t)
      t.after(() => backend.close())
      const seen = warnings(t)
      const kinds = [undefined, { kind: 'point' }, { kind: 'point', inline: true }, { kind: 'checked' }, { kind: 'multi' }]
      for (const [i, options] of kinds.entries()) {
        const result = await writeFn(backend, 
          'test.set',
          (q) => {
            q.set('g', `k${i}`, 'v', null)
            return i
          },
          () => {
            throw new Error(`callback failed on ${b.name}`)
          },
          options,
        )
        assert.equal(result, i)
        assert.deepEqual(await backend.read('test.get', (q) => q.get('g', `k${i}`)), { value: 'v', expiresAt: null })
      }
      await tick()
      const ours = seen.filter((w) => w.code === 'GROUPSTORE_COMMIT_CALLBACK' && w.message.startsWith('test.set:'))
      assert.equal(ours.length, 1, 'one warning for one cause, however often it recurs')
      assert.equal(ours[0].name, 'GroupstoreWarning')
      assert.equal(ours[0].message, `test.set: a commit callback threw: callback failed on ${b.name}`)
    })

    it('a throwing onCommit does not strand the other writes of its batch', async (t) => {
      const backend = await b.open(t)
      t.after(() => backend.close())
      warnings(t)
      const calls = []
      const writes = []
      for (let i = 0; i < 5; i++) {
        writes.push(
          writeFn(backend, 
            'test.batch',
            (q) => then(q.set('g', `b${i}`, String(i), null), () => i),
            (r) => {
              calls.push(r)
              if (r === 2) throw new Error('third callback failed')
            },
          ),
        )
      }
      assert.deepEqual(await Promise.all(writes), [0, 1, 2, 3, 4])
      assert.deepEqual(calls, [0, 1, 2, 3, 4], 'callbacks run in commit order')
      const all = await backend.read('test.getAll', (q) => q.getAll('g', Date.now()))
      assert.deepEqual({ ...all }, { b0: '0', b1: '1', b2: '2', b3: '3', b4: '4' })
    })

    it('close() waits for the writes in flight, then refuses new work', async (t) => {
      const backend = await b.open(t)
      const pending = []
      for (let i = 0; i < 20; i++) pending.push(writeFn(backend, 'test.set', (q) => q.set('g', `c${i}`, 'v', null)))
      await backend.close()
      const settled = await Promise.allSettled(pending)
      assert.ok(settled.every((s) => s.status === 'fulfilled'), 'every write issued before close() committed')
      await assert.rejects(writeFn(backend, 'test.late', (q) => q.set('g', 'late', 'v', null)), (err) => {
        assert.ok(err instanceof StoreError)
        assert.match(err.message, /^test\.late: the database is closed/)
        return true
      })
      await backend.close() // idempotent
    })
  })
}

function then(value, fn) {
  return value instanceof Promise ? value.then(fn) : fn(value)
}

describe('write queue: steps that run on the event loop', () => {
  /** Busy for `ms`, so that a 1 ms timer is due when the step returns. */
  const busy = (ms) => {
    const end = performance.now() + ms
    while (performance.now() < end);
  }

  for (const from of ['a timer callback', 'an I/O callback', 'an immediate']) {
    it(`let a due timer run between two steps when the work was queued from ${from}`, async (t) => {
      const { WriteQueue } = await import('../dist/backend/write-queue.js')
      const events = []
      const queue = new WriteQueue(() => {
        queue.take(1)
        events.push('step')
        busy(3)
        return undefined
      })
      const timer = setInterval(() => events.push('tick'), 1)
      t.after(() => clearInterval(timer))
      const start = () => {
        for (let i = 0; i < 3; i++) queue.push(i)
      }
      if (from === 'a timer callback') await new Promise((resolve) => setTimeout(() => resolve(start()), 5))
      else if (from === 'an I/O callback') await new Promise((resolve) => import('node:fs').then((fs) => fs.stat('.', () => resolve(start()))))
      else await new Promise((resolve) => setImmediate(() => resolve(start())))
      await queue.close()
      clearInterval(timer)
      const steps = events.flatMap((e, i) => (e === 'step' ? [i] : []))
      assert.equal(steps.length, 3)
      for (let s = 1; s < steps.length; s++) {
        assert.ok(events.slice(steps[s - 1], steps[s]).includes('tick'), `no timer ran between step ${s} and step ${s + 1}: ${events.join(' ')}`)
      }
    })
  }
})

describe('write queue: work queued over a long stretch of synchronous code', () => {
  it('lets a due timer run before the first step', async (t) => {
    const { WriteQueue } = await import('../dist/backend/write-queue.js')
    const events = []
    const queue = new WriteQueue(() => {
      queue.take()
      events.push('step')
      return undefined
    })
    const timer = setInterval(() => events.push('tick'), 1)
    t.after(() => clearInterval(timer))
    await new Promise((resolve) => setImmediate(resolve))
    events.length = 0
    // A burst of calls that keeps the event loop for a while, as 10,000 writes issued in one callback do.
    queue.push(0)
    const end = performance.now() + 3
    while (performance.now() < end);
    await queue.close()
    clearInterval(timer)
    assert.ok(events.indexOf('tick') >= 0 && events.indexOf('tick') < events.indexOf('step'), `the step ran before any timer: ${events.join(' ')}`)
  })
})
