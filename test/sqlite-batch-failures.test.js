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
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'
import { tempDir } from './helpers/sqlite.js'

it('a batch rolled back by SQLite halfway: earlier writes fail, later work runs again, nothing half-done', async (t) => {
  const backend = await openBackend(join(tempDir(t), 'batch.db'), resolveOptions({ purgeInterval: 0 }))
  t.after(() => backend.close())
  await backend.write('seed', (q) => q.set('g', 'before', 'kept', null))

  // Issued together: one batch.
  const first = backend.write('test.first', (q) => q.set('g', 'a', '1', null))
  const read = backend.read('test.read', (q) => q.get('g', 'a'))
  const lost = backend.write('test.lost', (q) => {
    q.set('g', 'b', '2', null)
    backend.database.exec('ROLLBACK') // what SQLite does by itself on some errors
    q.set('g', 'c', '3', null) // a callback that carries on must not write in autocommit
    return 'unreachable'
  })
  const after = backend.write('test.after', (q) => q.set('g', 'd', '4', null))
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
