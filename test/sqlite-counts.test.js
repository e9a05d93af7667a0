// The per-namespace key counts the SQLite backend keeps by triggers, so that
// quota checks and countAll of a namespace never scan: made by the first
// quota check, they must then equal a recount after every kind of write,
// whoever makes it.
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { QuotaExceededError, Store } from 'groupstore'
import { writeOf } from '../dist/backend/backend.js'
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'

/** A backend write of a function, as the store hands its writes over (see `Write` in src/backend/backend.ts). */
const writeFn = (backend, method, fn, committed, options) => backend.write(writeOf(method, fn, committed), options)

const dir = mkdtempSync(join(tmpdir(), 'groupstore-counts-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = () => join(dir, `counts-${n++}.db`)
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')

/** A clock the test moves by hand. */
function clock(start = 1_700_000_000_000) {
  const c = { t: start, now: () => c.t }
  return c
}

/** The kept counts and a recount from `kv`, both as { namespace: keys } without zeros. */
function counts(path) {
  const db = new Database(path, { readonly: true })
  try {
    const kept = Object.fromEntries(db.prepare('SELECT namespace, keys FROM kv_namespace_keys WHERE keys <> 0 ORDER BY namespace').raw().all())
    const truth = Object.fromEntries(
      db.prepare("SELECT substr(grp, 1, instr(grp, ':')) AS ns, count(*) FROM kv WHERE instr(grp, ':') > 0 GROUP BY ns ORDER BY ns").raw().all(),
    )
    return { kept, truth }
  } finally {
    db.close()
  }
}

/** True when the file holds the counts' table or any of their triggers. */
function hasCounts(path) {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'kv_namespace_keys%'").pluck().get() > 0
  } finally {
    db.close()
  }
}

const BIG = { quota: { maxKeys: 1_000_000 } }

function assertExact(path, expected) {
  const { kept, truth } = counts(path)
  assert.deepEqual(kept, truth, 'kept counts equal a recount')
  if (expected !== undefined) assert.deepEqual(kept, expected)
}

describe('sqlite namespace counts', () => {
  it('stay exact through sets, overwrites, deletes, deleteGroup and deletePrefix', async (t) => {
    const path = file()
    const store = await Store.open(path, { durability: 'normal' })
    t.after(() => store.close())
    const a = store.scope('a', BIG)
    const b = store.scope('b')
    await b.set('g', 'before', 'v')
    await store.set('plain', 'k', 'v')
    assert.equal(hasCounts(path), false, 'no counts before a quota needs one')
    await b.delete('g', 'before')
    for (let i = 0; i < 20; i++) await a.set(`g${i % 4}`, `k${i}`, 'v')
    assert.equal(hasCounts(path), true, 'the first quota check made the counts')
    for (let i = 0; i < 5; i++) await b.set('g', `k${i}`, 'v')
    await a.set('g0', 'k0', 'again') // overwrite: no new key
    await store.set('plain', 'k', 'again') // no namespace
    await store.set('c:d:e', 'k', 'v') // namespace 'c:' (up to the first ':')
    assertExact(path, { 'a:': 20, 'b:': 5, 'c:': 1 })
    assert.equal(await a.delete('g1', 'k1'), true)
    assert.equal(await a.delete('g1', 'missing'), false)
    assertExact(path, { 'a:': 19, 'b:': 5, 'c:': 1 })
    assert.equal(await a.deleteGroup('g2'), 5)
    assertExact(path, { 'a:': 14, 'b:': 5, 'c:': 1 })
    assert.equal(await store.deletePrefix('b:'), 5)
    assert.equal(await store.deletePrefix('c'), 1)
    assertExact(path, { 'a:': 14 })
    assert.equal(await a.countAll(), 14)
    assert.equal(await store.countAll('a:'), 14)
  })

  it('stay exact through expiry, purge and TTL overwrites', async (t) => {
    const path = file()
    const c = clock()
    const store = await Store.open(path, { durability: 'normal', now: c.now, purgeInterval: 0 })
    t.after(() => store.close())
    const s = store.scope('t', BIG)
    await s.set('g', 'short', 'v', { ttl: 1000 })
    await s.set('g', 'long', 'v', { ttl: 60_000 })
    await s.set('g', 'forever', 'v')
    await s.set('g', 'cleared', 'v', { ttl: 1000 })
    await s.set('g', 'cleared', 'v2') // an overwrite clears the TTL
    assertExact(path, { 't:': 4 })
    c.t += 2000
    // 'short' has expired: counted as a row until removed, never as a live key.
    assert.equal(await s.countAll(), 3)
    assert.equal(await s.count('g'), 3)
    assert.equal(await s.get('g', 'short'), undefined) // a read removes it
    await new Promise((resolve) => setImmediate(resolve))
    assertExact(path, { 't:': 3 })
    await s.set('g', 'short', 'back', { ttl: 1000 }) // re-created after removal
    await s.set('g', 'long', 'renewed', { ttl: 1000 }) // TTL overwrite of a live key
    assertExact(path, { 't:': 4 })
    c.t += 5000
    assert.equal(await s.countAll(), 2)
    assert.equal(await store.purgeExpired(), 2)
    assertExact(path, { 't:': 2 })
    assert.equal(await s.countAll(), 2)
  })

  it('stay exact when a transaction rolls back or a quota refuses a write', async (t) => {
    const path = file()
    const store = await Store.open(path, { durability: 'normal' })
    t.after(() => store.close())
    const s = store.scope('q', { quota: { maxKeys: 3 } })
    // Counts made inside a transaction that rolls back go with it, and are made again.
    await assert.rejects(
      s.transaction(async (tx) => {
        await tx.set('g', 'gone', 'v')
        throw new Error('undo')
      }),
      /undo/,
    )
    assert.equal(hasCounts(path), false)
    await s.set('g', 'a', '1')
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.set('q:g', 'b', '2')
        await tx.delete('q:g', 'a')
        throw new Error('undo')
      }),
      /undo/,
    )
    assertExact(path, { 'q:': 1 })
    await s.set('g', 'b', '2')
    await s.set('g', 'c', '3')
    await assert.rejects(s.set('g', 'd', '4'), QuotaExceededError)
    await s.set('g', 'c', 'overwrite') // at the limit an overwrite still passes
    assertExact(path, { 'q:': 3 })
    assert.equal(await s.countAll(), 3)
  })

  it('stay exact when another connection writes the file with plain SQL', async (t) => {
    const path = file()
    const store = await Store.open(path, { durability: 'normal' })
    t.after(() => store.close())
    const s = store.scope('x', { quota: { maxKeys: 5 } })
    await s.set('g', 'a', '1')
    const raw = new Database(path)
    t.after(() => raw.close())
    raw.pragma('busy_timeout = 5000')
    const upsert = raw.prepare(
      'INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, NULL) ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value',
    )
    upsert.run('x:g', 'b', '2') // go-store's own statement
    upsert.run('x:g', 'b', '2b')
    raw.prepare("INSERT OR REPLACE INTO kv (grp, key, value) VALUES ('x:g', 'a', 'replaced')").run()
    raw.prepare("INSERT OR REPLACE INTO kv (grp, key, value) VALUES ('x:h', 'c', '3')").run()
    raw.prepare("INSERT OR IGNORE INTO kv (grp, key, value) VALUES ('x:h', 'c', 'ignored')").run()
    assert.throws(() => raw.prepare("INSERT INTO kv (grp, key, value) VALUES ('x:h', 'c', 'duplicate')").run(), /UNIQUE|PRIMARY/)
    assert.throws(() => raw.prepare("INSERT INTO kv (grp, key, value) VALUES ('x:h', 'd', NULL)").run(), /NOT NULL/)
    assertExact(path, { 'x:': 3 })
    raw.prepare("UPDATE kv SET grp = 'y:moved' WHERE grp = 'x:h'").run()
    assertExact(path, { 'x:': 2, 'y:': 1 })
    raw.prepare("DELETE FROM kv WHERE grp = 'y:moved'").run()
    raw.transaction(() => {
      for (let i = 0; i < 3; i++) upsert.run('x:bulk', `k${i}`, 'v')
    })()
    assertExact(path, { 'x:': 5 })
    // The quota sees the other connection's keys at once.
    assert.equal(await s.countAll(), 5)
    await assert.rejects(s.set('g', 'new', 'v'), QuotaExceededError)
    raw.prepare('DELETE FROM kv').run()
    assertExact(path, {})
    await s.set('g', 'new', 'v')
    assertExact(path, { 'x:': 1 })
  })

  it('are built from the rows of a go-store database, once, and rebuilt when missing', async (t) => {
    for (const name of ['go-store.db', 'go-store-pre-ttl.db']) {
      const path = join(dir, `fixture-${n++}-${name}`)
      copyFileSync(join(fixtures, name), path)
      const store = await Store.open(path, { durability: 'normal' })
      assert.equal(hasCounts(path), false, 'opening adds no triggers')
      await store.scope('tenant-1', BIG).set('cfg', 'extra', 'v')
      assert.equal(await store.scope('tenant-1').countAll(), 2)
      await store.close()
      assertExact(path, { 'tenant-1:': 2 })
      // Opening again changes nothing; a lost trigger makes the next open rebuild the counts.
      const again = await Store.open(path)
      await again.close()
      assertExact(path, { 'tenant-1:': 2 })
      const raw = new Database(path)
      raw.exec('DROP TRIGGER kv_namespace_keys_insert')
      raw.prepare("INSERT INTO kv (grp, key, value) VALUES ('tenant-1:cfg', 'uncounted', 'v')").run()
      raw.close()
      const rebuilt = await Store.open(path)
      t.after(() => rebuilt.close())
      assertExact(path, { 'tenant-1:': 3 })
      assert.equal(await rebuilt.scope('tenant-1', BIG).countAll(), 3)
    }
  })

  for (const counted of [false, true]) {
    it(`answer countAll and groups of a namespace like a scan would (${counted ? 'with' : 'without'} counts)`, async (t) => {
      const c = clock()
      const store = await Store.open(':memory:', { now: c.now, purgeInterval: 0 })
      t.after(() => store.close())
      if (counted) await store.scope('other', BIG).set('g', 'k', 'v')
      await store.set('n:a', 'k', 'v')
      await store.set('n:b', 'k', 'v', { ttl: 10 })
      await store.set('n:b:c', 'k', 'v')
      await store.set('n', 'k', 'v') // not in namespace 'n:'
      await store.set('m:a', 'k', 'v')
      await store.set('n;', 'k', 'v') // just past the namespace's bound
      const n = store.scope('n', { quota: { maxKeys: 4 } })
      assert.equal(await store.countAll('n:'), 3)
      assert.equal(await n.countAll(), 3)
      assert.equal(await store.countAll('n'), 5)
      assert.deepEqual(await store.groups('n:'), ['n:a', 'n:b', 'n:b:c'])
      c.t += 100
      assert.equal(await store.countAll('n:'), 2)
      assert.equal(await store.countAll('n:b'), 1)
      assert.deepEqual(await store.groups('n:'), ['n:a', 'n:b:c'])
      assert.deepEqual(await n.groups(), ['a', 'b:c'])
      assert.equal(await store.count('n:b'), 0)
      // The expired key counts no more against the quota: two more fit, a third does not.
      await n.set('x', '1', 'v')
      await n.set('x', '2', 'v')
      await assert.rejects(n.set('x', '3', 'v'), QuotaExceededError)
      assert.equal(await n.countAll(), 4)
    })
  }

  it('in memory, a quota check outside any transaction makes them in a transaction of their own, and a read does not', async (t) => {
    const backend = await openBackend(':memory:', resolveOptions({ purgeInterval: 0 }))
    t.after(() => backend.close())
    const db = backend.database
    const made = () => db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'kv_namespace_keys%'").pluck().get()
    await writeFn(backend, 'seed', (q) => q.set('ns:g', 'old', 'v', null), undefined, { kind: 'point' })
    assert.equal(await backend.read('test.read', (q) => q.countAll('ns:', 0)), 1)
    assert.equal(made(), 0, 'a read counts by scanning and makes nothing')
    // What a scoped set with a quota runs: reads, then one write, outside a transaction.
    const counted = await writeFn(backend, 
      'test.quota',
      (q) => {
        assert.equal(db.inTransaction, false)
        const n = q.countAll('ns:', 0)
        q.set('ns:g', 'new', 'v', null)
        return n
      },
      undefined,
      { kind: 'checked' },
    )
    assert.equal(counted, 1)
    assert.equal(made(), 4, 'the table and its three triggers')
    assert.equal(db.inTransaction, false)
    assert.deepEqual(db.prepare('SELECT namespace, keys FROM kv_namespace_keys').raw().all(), [['ns:', 2]])
  })
})
