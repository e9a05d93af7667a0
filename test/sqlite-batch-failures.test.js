// The SQLite backend's batches when the database fails under them: SQLite
// may roll a whole transaction back by itself (a full disk, an I/O error).
// Then the writes already run in the batch fail, the reads and the writes
// still to come run again in the next batch, and nothing runs outside a
// transaction. The full-disk cases of test/broken-files.test.js cover a
// failing commit; here the rollback is forced from inside a write.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { it } from 'node:test'
import { StoreError } from 'groupstore'
import { writeOf } from '../dist/backend/backend.js'
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'
import { tempDir } from './helpers/sqlite.js'

/** A backend write of a function, as the store hands its writes over (see `Write` in src/backend/backend.ts). */
const writeFn = (backend, method, fn, committed, options) => backend.write(writeOf(method, fn, committed), options)

it('a batch rolled back by SQLite halfway: earlier writes fail, later work runs again, nothing half-done', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'batch.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  await writeFn(backend, 'seed', (q) => q.set('g', 'before', 'kept', null))

  // Issued together: one batch.
  const first = writeFn(backend, 'test.first', (q) => q.set('g', 'a', '1', null))
  const read = backend.read('test.read', (q) => q.get('g', 'a'))
  const lost = writeFn(backend, 'test.lost', (q) => {
    q.set('g', 'b', '2', null)
    backend.database.exec('ROLLBACK') // what SQLite does by itself on some errors
    q.set('g', 'c', '3', null) // a callback that carries on must not write in autocommit
    return 'unreachable'
  })
  const after = writeFn(backend, 'test.after', (q) => q.set('g', 'd', '4', null))
  const [r1, r2, r3, r4] = await Promise.allSettled([first, read, lost, after])

  assert.equal(r1.status, 'rejected', 'a write run before the rollback fails: it was undone')
  assert.ok(r1.reason instanceof StoreError)
  assert.equal(r3.status, 'rejected')
  assert.ok(r3.reason instanceof StoreError)
  assert.match(r3.reason.message, /^test\.lost: the transaction was rolled back by SQLite/)
  assert.equal(r2.status, 'fulfilled', 'a read runs again and answers')
  assert.equal(r2.value, undefined, 'it sees the state without the undone write')
  assert.equal(r4.status, 'fulfilled', 'a write after the failure runs in the next batch')

  const rows = backend.database.prepare('SELECT key, value FROM kv ORDER BY key').all()
  assert.deepEqual(rows.map((r) => `${r.key}=${r.value}`), ['before=kept', 'd=4'])
  assert.equal(backend.database.inTransaction, false)
})

// A batch runs its writes without savepoints; a write that fails after it
// wrote makes the batch roll back and run again, that write under a
// savepoint. Transaction callbacks never run twice: a batch holding one
// runs every write under a savepoint.
it('a write that fails after writing is undone alone; the batch runs again and commits the others', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'rerun.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  const runs = { a: 0, half: 0, c: 0 }
  const a = writeFn(backend, 'test.a', (q) => {
    runs.a++
    q.set('g', 'a', '1', null)
    return 'a'
  })
  const half = writeFn(backend, 'test.half', (q) => {
    runs.half++
    q.set('g', 'half', 'written', null)
    throw new Error('refused after writing')
  })
  const c = writeFn(backend, 'test.c', (q) => {
    runs.c++
    q.set('g', 'c', '3', null)
    return 'c'
  })
  const [ra, rh, rc] = await Promise.allSettled([a, half, c])
  assert.deepEqual([ra.status, ra.value], ['fulfilled', 'a'])
  assert.equal(rh.status, 'rejected')
  assert.match(rh.reason.message, /refused after writing/)
  assert.deepEqual([rc.status, rc.value], ['fulfilled', 'c'])
  const rows = backend.database.prepare('SELECT key FROM kv ORDER BY key').pluck().all()
  assert.deepEqual(rows, ['a', 'c'], 'the failed write left nothing behind')
  assert.deepEqual(runs, { a: 2, half: 2, c: 1 }, 'the batch ran again from its start, the failing write under a savepoint')
  assert.equal(backend.database.inTransaction, false)
})

it('a write that fails before writing fails alone, and the batch does not run again', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'clean.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  const runs = { a: 0, quota: 0 }
  const a = writeFn(backend, 'test.a', (q) => {
    runs.a++
    q.set('g', 'a', '1', null)
  })
  const quota = writeFn(backend, 'test.quota', (q) => {
    runs.quota++
    if (q.count('g', 0) >= 1) throw new Error('over quota')
  })
  const [ra, rq] = await Promise.allSettled([a, quota])
  assert.equal(ra.status, 'fulfilled')
  assert.equal(rq.status, 'rejected')
  assert.deepEqual(runs, { a: 1, quota: 1 })
  assert.deepEqual(backend.database.prepare('SELECT key FROM kv').pluck().all(), ['a'])
})

it('a transaction callback in a batch never runs twice: every write of that batch has its savepoint', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'tx.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  const runs = { tx: 0, half: 0 }
  const tx = writeFn(backend, 
    'test.tx',
    (q) => {
      runs.tx++
      q.set('g', 'tx', '1', null)
    },
    undefined,
    { kind: 'transaction' },
  )
  const half = writeFn(backend, 'test.half', (q) => {
    runs.half++
    q.set('g', 'half', 'written', null)
    throw new Error('refused after writing')
  })
  const [rt, rh] = await Promise.allSettled([tx, half])
  assert.equal(rt.status, 'fulfilled')
  assert.equal(rh.status, 'rejected')
  assert.deepEqual(runs, { tx: 1, half: 1 })
  assert.deepEqual(backend.database.prepare('SELECT key FROM kv').pluck().all(), ['tx'])
})

it('in memory, a write whose function answers a promise holds the queue until it settles', async (t) => {
  const backend = await openBackend(':memory:', resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  let release
  const gate = new Promise((resolve) => {
    release = resolve
  })
  const order = []
  const slow = writeFn(backend, 'test.slow', async (q) => {
    q.set('g', 'slow', '1', null)
    await gate
    q.set('g', 'slow2', '2', null)
    order.push('slow')
    return 'slow'
  })
  const read = backend.read('test.read', (q) => {
    order.push('read')
    return q.get('g', 'slow2')?.value
  })
  const failing = writeFn(backend, 'test.failing', async (q) => {
    q.set('g', 'undone', '1', null)
    await null
    throw new Error('refused')
  })
  release()
  assert.equal(await slow, 'slow')
  assert.equal(await read, '2', 'the read waited for the write, and sees all of it')
  await assert.rejects(failing, /refused/)
  assert.equal(order[0], 'slow', 'nothing ran while the write was pending')
  const rows = backend.database.prepare('SELECT key FROM kv ORDER BY key').pluck().all()
  assert.deepEqual(rows, ['slow', 'slow2'], 'the failed write was rolled back whole')
})

it('a statement that SQLite undid by itself is not a write: its op fails alone, the batch does not run again', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'statement.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  const runs = { a: 0, bad: 0, c: 0 }
  const a = writeFn(backend, 'test.a', (q) => {
    runs.a++
    q.set('g', 'a', '1', null)
  })
  const bad = writeFn(backend, 'test.bad', (q) => {
    runs.bad++
    q.set('g', 'bad', null, null) // NOT NULL: the statement fails and changes nothing
  })
  const c = writeFn(backend, 'test.c', (q) => {
    runs.c++
    q.set('g', 'c', '3', null)
  })
  const [ra, rb, rc] = await Promise.allSettled([a, bad, c])
  assert.equal(ra.status, 'fulfilled')
  assert.equal(rb.status, 'rejected')
  assert.ok(rb.reason instanceof StoreError)
  assert.equal(rc.status, 'fulfilled')
  assert.deepEqual(runs, { a: 1, bad: 1, c: 1 }, 'no rerun: nothing of the failed op was left to undo')
  assert.deepEqual(backend.database.prepare('SELECT key FROM kv ORDER BY key').pluck().all(), ['a', 'c'])
})

it('in a batch, every query after SQLite rolled the transaction back is refused (no statement runs in autocommit)', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'refused.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  const seen = []
  const first = writeFn(backend, 'test.first', (q) => q.set('g', 'a', '1', null))
  const tx = writeFn(backend, 
    'test.tx',
    (q) => {
      backend.database.prepare('ROLLBACK').run() // as SQLite does after a full disk
      for (const query of [() => q.get('g', 'a'), () => q.set('g', 'b', '2', null), () => q.count('g', 0)]) {
        try {
          query()
          seen.push('ran')
        } catch (err) {
          seen.push(err.constructor.name)
        }
      }
    },
    undefined,
    { kind: 'transaction' },
  )
  await Promise.allSettled([first, tx])
  assert.deepEqual(seen, ['TransactionLost', 'TransactionLost', 'TransactionLost'])
  assert.deepEqual(backend.database.prepare('SELECT key FROM kv').pluck().all(), [])
})
