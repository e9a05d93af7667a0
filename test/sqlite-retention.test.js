// A database file under sustained writes stays bounded: the change log is
// pruned as writes happen (no purge needed), and the WAL is truncated when
// it has outgrown its limit, even while another connection reads.
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { WAL_LIMIT_BYTES } from '../dist/backend/sqlite/sqlite-wal.js'
import { tempDir } from './helpers/sqlite.js'

const logEntries = (path) => {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT count(*) FROM kv_changes').pluck().get()
  } finally {
    db.close()
  }
}

/** Sets `count` keys over `keys` distinct ones, in waves of concurrent sets. */
async function churn(store, count, keys, wave = 1000) {
  for (let i = 0; i < count; i += wave) {
    await Promise.all(Array.from({ length: Math.min(wave, count - i) }, (_, j) => store.set('g', `k${(i + j) % keys}`, `v${i + j}`)))
  }
}

describe('change log retention on a file', () => {
  it('with default options the log stays bounded as writes happen, with no purge', async (t) => {
    const path = join(tempDir(t), 'default.db')
    const store = await Store.open(path)
    t.after(() => store.close())
    await churn(store, 40_000, 1_000)
    const kept = logEntries(path)
    assert.ok(kept < 15_000, `the log holds ${kept} entries after 40,000 writes`)
    assert.equal(await store.revision(), 40_000, 'pruning never lowers the revision')
    // A watcher resuming from before the pruned entries is told how many it missed.
    const watcher = store.watch('*', '*', { since: 0 })
    t.after(() => watcher.close())
    const first = (await watcher.next()).value
    assert.ok(first.missed > 0)
    assert.equal(first.missed, first.revision - 1)
    assert.equal(watcher.dropped, first.missed)
  })

  it('a write prunes only a bounded number of entries: a large backlog goes a little at a time', async (t) => {
    const path = join(tempDir(t), 'backlog.db')
    {
      const keepAll = await Store.open(path, { purgeInterval: 0, changeRetention: { maxAge: 86_400_000, maxCount: 1_000_000 } })
      await churn(keepAll, 30_000, 100, 5_000)
      await keepAll.close()
    }
    assert.equal(logEntries(path), 30_000)
    const store = await Store.open(path, { purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 10 } })
    t.after(() => store.close())
    await store.set('g', 'one', '1')
    const afterOne = logEntries(path)
    assert.ok(afterOne > 20_000, `one write pruned ${30_001 - afterOne} entries at once`)
    for (let i = 0; i < 100; i++) await store.set('g', `more${i}`, String(i))
    assert.ok(logEntries(path) < afterOne, 'later writes go on pruning')
    await store.purgeExpired()
    assert.equal(logEntries(path), 10, 'the purge prunes everything past retention')
  })
})

describe('the WAL on a file', () => {
  const bigTransaction = (store) =>
    store.transaction(async (tx) => {
      const value = 'x'.repeat(1000)
      for (let i = 0; i < 20_000; i++) await tx.set('big', `k${i}`, value)
    })

  it('is truncated before the next write once it has outgrown its limit', async (t) => {
    const path = join(tempDir(t), 'wal.db')
    const store = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    t.after(() => store.close())
    await bigTransaction(store)
    assert.ok(statSync(`${path}-wal`).size > WAL_LIMIT_BYTES, 'one large transaction grows the WAL past its limit')
    await sleep(150) // the size is looked at no more than every 100 ms
    await store.set('g', 'next', '1')
    assert.ok(statSync(`${path}-wal`).size < WAL_LIMIT_BYTES / 4, `the WAL still holds ${statSync(`${path}-wal`).size} bytes`)
    assert.equal(await store.get('big', 'k19999'), 'x'.repeat(1000))
  })

  it('writes go on while another connection holds a read open, and the WAL is truncated once it ends', async (t) => {
    const path = join(tempDir(t), 'reader.db')
    const store = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    t.after(() => store.close())
    await store.set('g', 'first', '1')
    const reader = new Database(path, { readonly: true })
    t.after(() => reader.close())
    reader.prepare('BEGIN').run()
    assert.equal(reader.prepare("SELECT value FROM kv WHERE grp = 'g' AND key = 'first'").pluck().get(), '1')
    await bigTransaction(store)
    await sleep(150)
    await store.set('g', 'during', '2') // the truncation cannot happen; the write is not refused
    assert.ok(statSync(`${path}-wal`).size > WAL_LIMIT_BYTES)
    reader.prepare('COMMIT').run()
    await sleep(1100) // after a truncation readers prevented, the next try waits a second
    await store.set('g', 'after', '3')
    assert.ok(statSync(`${path}-wal`).size < WAL_LIMIT_BYTES / 4)
    assert.deepEqual({ ...(await store.getAll('g')) }, { first: '1', during: '2', after: '3' })
  })
})

describe('checkpoints on the checkpoint thread', () => {
  it('a store that wrote enough to use the thread closes cleanly: no WAL left, every write in the file', async (t) => {
    const path = join(tempDir(t), 'thread.db')
    const store = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    for (let i = 0; i < 200; i++) {
      await store.set('g', `k${i}`, String(i))
      if (i % 50 === 0) await sleep(60) // the thread checkpoints at most every 50 ms
    }
    await store.close()
    assert.throws(() => statSync(`${path}-wal`), { code: 'ENOENT' })
    const db = new Database(path, { readonly: true })
    t.after(() => db.close())
    assert.equal(db.pragma('quick_check', { simple: true }), 'ok')
    assert.equal(db.prepare("SELECT count(*) FROM kv WHERE grp = 'g'").pluck().get(), 200)
  })

  it('two stores on one file share the thread and close in either order', async (t) => {
    const path = join(tempDir(t), 'shared.db')
    const a = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    const b = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    for (let i = 0; i < 100; i++) {
      await a.set('a', `k${i}`, String(i))
      await b.set('b', `k${i}`, String(i))
      if (i % 40 === 0) await sleep(60)
    }
    await a.close()
    await b.set('b', 'last', 'x')
    assert.equal(await b.count('a'), 100)
    await b.close()
    const reopened = await Store.open(path, { purgeInterval: 0 })
    t.after(() => reopened.close())
    assert.equal(await reopened.count('b'), 101)
    assert.equal(await reopened.revision(), 201)
  })
})
