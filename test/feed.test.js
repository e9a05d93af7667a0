// The change feed across Store objects, processes and restarts on a database file.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { take } from './conformance/helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-feed-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = () => join(dir, `feed-${n++}.db`)
const writer = fileURLToPath(new URL('./helpers/feed-writer.js', import.meta.url))

describe('change feed on a file', () => {
  it('a watcher and onChange on store A see writes committed by store B, and by A, in revision order', async (t) => {
    const path = file()
    const a = await Store.open(path)
    const b = await Store.open(path)
    t.after(() => Promise.all([a.close(), b.close()]))
    const watcher = a.watch('*', '*')
    const callbacks = []
    a.onChange((e) => callbacks.push(e))
    await b.set('g', 'from-b', '1')
    await a.set('g', 'from-a', '2')
    await b.delete('g', 'from-b')
    const events = await take(watcher, 3)
    assert.deepEqual(events.map((e) => [e.type, e.key]), [['set', 'from-b'], ['set', 'from-a'], ['delete', 'from-b']])
    const revisions = events.map((e) => e.revision)
    assert.deepEqual(revisions, [revisions[0], revisions[0] + 1, revisions[0] + 2])
    assert.deepEqual(callbacks.map((e) => e.revision), revisions)
    assert.equal(await a.revision(), revisions[2])
    assert.equal(await b.revision(), revisions[2])
  })

  it('each event reaches a watcher exactly once when both stores write concurrently', async (t) => {
    const path = file()
    const a = await Store.open(path)
    const b = await Store.open(path)
    t.after(() => Promise.all([a.close(), b.close()]))
    const start = await a.revision()
    const watcher = a.watch('*', '*', { bufferSize: 8 })
    const writes = []
    for (let i = 0; i < 200; i++) writes.push((i % 2 ? a : b).set('g', `k${i}`, String(i)))
    await Promise.all(writes)
    const events = await take(watcher, 200)
    assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 200 }, (_, i) => start + i + 1))
    assert.deepEqual(new Set(events.map((e) => e.key)).size, 200)
  })

  it('a parent watches what a child process writes', async (t) => {
    const path = file()
    const store = await Store.open(path)
    t.after(() => store.close())
    const watcher = store.watch('child', '*')
    const child = spawn(process.execPath, [writer, path, '20'], { stdio: 'inherit' })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    const events = await take(watcher, 20)
    assert.equal(await exited, 0)
    assert.deepEqual(events.map((e) => e.key), Array.from({ length: 20 }, (_, i) => `k${i}`))
    assert.ok(events.every((e, i) => e.type === 'set' && e.value === `v${i}`))
  })

  it('resumes from a revision after a restart with nothing missed and nothing twice', async (t) => {
    const path = file()
    let store = await Store.open(path)
    await store.set('g', 'a', '1')
    const since = await store.revision()
    await store.close()
    // Another process writes while the consumer is down.
    const child = spawn(process.execPath, [writer, path, '5'], { stdio: 'inherit' })
    assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0)
    store = await Store.open(path)
    t.after(() => store.close())
    const watcher = store.watch('*', '*', { since })
    const replayed = await take(watcher, 5)
    assert.deepEqual(replayed.map((e) => [e.revision - since, e.key]), [1, 2, 3, 4, 5].map((i) => [i, `k${i - 1}`]))
    await store.set('g', 'b', '2')
    const [live] = await take(watcher, 1)
    assert.deepEqual([live.revision - since, live.key], [6, 'b'])
  })

  it('records every change in kv_changes in the same transaction; a rollback leaves nothing', async (t) => {
    const path = file()
    const store = await Store.open(path)
    t.after(() => store.close())
    await store.set('g', 'k', 'v', { ttl: 60_000 })
    await store.transaction(async (tx) => {
      await tx.set('g', 'k2', 'v2')
      await tx.deleteGroup('g')
    })
    await store.transaction(async (tx) => {
      await tx.set('g', 'never', 'x')
      throw new Error('rollback')
    }).catch(() => {})
    const db = new Database(path, { readonly: true })
    t.after(() => db.close())
    const rows = db.prepare('SELECT revision, type, grp, key, value FROM kv_changes ORDER BY revision').all()
    assert.deepEqual(rows.map((r) => [r.type, r.grp, r.key, r.value]), [
      ['set', 'g', 'k', 'v'],
      ['set', 'g', 'k2', 'v2'],
      ['delete_group', 'g', '', null],
    ])
    assert.deepEqual(rows.map((r) => r.revision), [1, 2, 3])
  })

  it('changeLog: false keeps events in process only and writes no log', async (t) => {
    const path = file()
    const quiet = await Store.open(path, { changeLog: false })
    const other = await Store.open(path)
    t.after(() => Promise.all([quiet.close(), other.close()]))
    const seen = []
    quiet.onChange((e) => seen.push(e.key))
    const revision = await quiet.set('g', 'k', 'v')
    assert.deepEqual(seen, ['k'])
    // The revision is the file's, which every store on it shares; the log holds nothing.
    assert.equal(await other.revision(), revision)
    assert.equal((await other.getEntry('g', 'k')).revision, revision)
    const db = new Database(path, { readonly: true })
    t.after(() => db.close())
    assert.equal(db.prepare('SELECT count(*) FROM kv_changes').pluck().get(), 0)
  })
})
