// Waiting for another connection's write lock: the wait happens between
// event-loop turns, not inside SQLite's busy handler, so the process keeps
// running (timers, I/O, other work) while a write waits, and the write goes
// through as soon as the lock is free. A lone write (changeLog: false: one
// statement, no batch transaction) waits the same way.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { it } from 'node:test'
import Database from 'better-sqlite3'
import { Store, StoreError } from 'groupstore'
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'
import { tempDir } from './helpers/sqlite.js'

for (const changeLog of [true, false]) {
  it(`a write waiting for the lock does not block the event loop (changeLog: ${changeLog})`, async (t) => {
    const path = join(tempDir(t), 'wait.db')
    const store = await Store.open(path, { purgeInterval: 0, busyTimeout: 30_000, changeLog })
    t.after(() => store.close())
    await store.set('g', 'k', 'before')
    const other = new Database(path)
    t.after(() => other.close())
    other.exec('BEGIN IMMEDIATE')
    let released = false
    const write = store.set('g', 'k', 'after')
    // Only a running event loop fires this timer; it releases the lock.
    setTimeout(() => {
      released = true
      other.exec('COMMIT')
    }, 50)
    await write
    assert.equal(released, true)
    assert.equal(await store.get('g', 'k'), 'after')
  })

  it(`a write still fails with a StoreError once busyTimeout has passed (changeLog: ${changeLog})`, async (t) => {
    const path = join(tempDir(t), 'timeout.db')
    const store = await Store.open(path, { purgeInterval: 0, busyTimeout: 30, changeLog })
    t.after(() => store.close())
    const other = new Database(path)
    t.after(() => other.close())
    other.exec('BEGIN IMMEDIATE')
    await assert.rejects(Promise.all([store.set('g', 'a', '1'), store.set('g', 'b', '2')]), (err) => {
      assert.ok(err instanceof StoreError)
      assert.match(err.message, /^store\.set: the database is locked by another connection \(waited busyTimeout 30 ms\)/)
      return true
    })
    other.exec('ROLLBACK')
    await store.set('g', 'c', '3')
    assert.equal(await store.get('g', 'c'), '3')
  })

  it(`reads go on while another connection holds the write lock (changeLog: ${changeLog})`, async (t) => {
    const path = join(tempDir(t), 'reads.db')
    const store = await Store.open(path, { purgeInterval: 0, busyTimeout: 30, changeLog })
    t.after(() => store.close())
    await store.set('g', 'k', 'v')
    const other = new Database(path)
    t.after(() => other.close())
    other.exec('BEGIN IMMEDIATE')
    other.prepare('INSERT INTO kv (grp, key, value) VALUES (?, ?, ?)').run('g', 'uncommitted', 'x')
    assert.equal(await store.get('g', 'k'), 'v')
    assert.equal(await store.count('g'), 1, 'the other connection\'s uncommitted row is not seen')
    other.exec('ROLLBACK')
  })
}

it("a read that finds the database busy runs once more, with SQLite's own wait of busyTimeout", async (t) => {
  const backend = await openBackend(join(tempDir(t), 'read-busy.db'), resolveOptions({ purgeInterval: 0, busyTimeout: 1234 }))
  t.after(() => backend.close())
  const db = backend.database
  const waits = []
  const answer = await backend.read('test.read', () => {
    waits.push(db.pragma('busy_timeout', { simple: true }))
    // What a read meets while another connection recovers or checkpoints the log.
    if (waits.length === 1) throw new Database.SqliteError('database is locked', 'SQLITE_BUSY')
    return 'read'
  })
  assert.equal(answer, 'read')
  assert.deepEqual(waits, [0, 1234], 'first without the wait, then with it')
  assert.equal(db.pragma('busy_timeout', { simple: true }), 0, 'and the wait is off again')
  const failing = backend.read('test.read', () => {
    throw new Database.SqliteError('database is locked', 'SQLITE_BUSY')
  })
  await assert.rejects(failing, (err) => {
    assert.ok(err instanceof StoreError)
    assert.match(err.message, /^test\.read: the database is locked by another connection \(waited busyTimeout 1234 ms\)/)
    return true
  })
  assert.equal(db.pragma('busy_timeout', { simple: true }), 0)
})
