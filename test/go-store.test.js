// go-store compatibility: its databases open and read back exactly, the
// pre-TTL schema is upgraded, and a database we create is one go-store can open.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { fixtureCopy, tempDir } from './helpers/sqlite.js'

/** go-store.db's ttl1h row expires at this Unix millisecond (2026-11-25T21:30:58.643Z). */
const TTL1H_EXPIRES = 1795642258643
const BEFORE = () => TTL1H_EXPIRES - 1000

/** Every row of go-store.db (fixtures README), live ones first. */
const ROWS = [
  ['config', 'plain', 'hello'],
  ['config', 'empty', ''],
  ['a_b', 'k', 'in underscore group'],
  ['bin', 'nul', 'a\u0000b'],
  ['bin', 'emoji', 'héllo 🚀'],
  ['tenant-1:cfg', 'theme', 'dark'],
]

/** go-store's schema, as its New() creates it. */
const GO_STORE_SCHEMA = `CREATE TABLE IF NOT EXISTS kv (
  grp        TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (grp, key)
)`

/** The column groupstore adds to go-store's table, as `PRAGMA table_info` shows it. */
const REVISION_COLUMN = (cid) => ({ cid, name: 'revision', type: 'INTEGER', notnull: 0, dflt_value: null, pk: 0 })

async function open(t, path, options) {
  const store = await Store.open(path, { purgeInterval: 0, ...options })
  t.after(() => store.close())
  return store
}

function tableInfo(path) {
  const db = new Database(path, { readonly: true })
  try {
    return db.pragma('table_info(kv)')
  } finally {
    db.close()
  }
}

describe('go-store compatibility', () => {
  describe('a database written by go-store', () => {
    it('reads back every row exactly', async (t) => {
      const store = await open(t, fixtureCopy(t, 'go-store.db'), { now: BEFORE })
      for (const [group, key, value] of ROWS) {
        assert.equal(await store.get(group, key), value, `${group}/${key}`)
        assert.equal(await store.ttl(group, key), null, `${group}/${key}`)
      }
      assert.equal(await store.get('config', 'ttl1h'), 'expires-later')
      assert.equal(await store.ttl('config', 'ttl1h'), 1000)
      assert.deepEqual(await store.groups(), ['a_b', 'bin', 'config', 'tenant-1:cfg'])
      assert.equal(await store.countAll(), 7)
      assert.deepEqual({ ...(await store.getAll('config')) }, { empty: '', plain: 'hello', ttl1h: 'expires-later' })
      assert.deepEqual({ ...(await store.getAll('bin')) }, { emoji: 'héllo 🚀', nul: 'a\u0000b' })
      assert.equal(await store.scope('tenant-1').get('cfg', 'theme'), 'dark')
      assert.deepEqual(await store.scope('tenant-1').groups(), ['cfg'])
      assert.deepEqual(await store.groups('a_'), ['a_b'])
    })

    it('reads the expired row as expired from its expiry millisecond', async (t) => {
      let now = TTL1H_EXPIRES - 1
      const store = await open(t, fixtureCopy(t, 'go-store.db'), { now: () => now })
      assert.equal(await store.ttl('config', 'ttl1h'), 1)
      now = TTL1H_EXPIRES
      assert.equal(await store.get('config', 'ttl1h'), undefined)
      assert.equal(await store.has('config', 'ttl1h'), false)
      assert.equal(await store.count('config'), 2)
      assert.equal(await store.countAll(), 6)
      assert.equal(await store.purgeExpired(), 0, 'the read should have removed it already')
      for (const [group, key, value] of ROWS) assert.equal(await store.get(group, key), value)
    })

    it('reads the expired row as expired with the real clock (its expiry is in the past)', async (t) => {
      const store = await open(t, fixtureCopy(t, 'go-store.db'))
      assert.equal(await store.get('config', 'ttl1h'), undefined)
      assert.equal(await store.purgeExpired(), 0)
      assert.equal(await store.count('config'), 2)
    })

    it('keeps the schema as go-store wrote it (adding a nullable revision column), and takes writes', async (t) => {
      const path = fixtureCopy(t, 'go-store.db')
      const before = tableInfo(path)
      const store = await open(t, path)
      await store.set('config', 'plain', 'changed', { ttl: 60_000 })
      await store.set('new', 'k', 'v')
      await store.close()
      assert.deepEqual(tableInfo(path), [...before, REVISION_COLUMN(before.length)])
      const db = new Database(path, { readonly: true })
      t.after(() => db.close())
      assert.equal(db.prepare("SELECT value FROM kv WHERE grp = 'new' AND key = 'k'").pluck().get(), 'v')
      const row = db.prepare("SELECT value, expires_at, typeof(expires_at) AS t FROM kv WHERE grp = 'config' AND key = 'plain'").get()
      assert.equal(row.value, 'changed')
      assert.equal(row.t, 'integer')
      assert.ok(Math.abs(row.expires_at - (Date.now() + 60_000)) < 60_000, 'expires_at is not in Unix milliseconds')
    })
  })

  describe('a pre-TTL go-store database', () => {
    it('is upgraded on open and reads back', async (t) => {
      const path = fixtureCopy(t, 'go-store-pre-ttl.db')
      assert.equal(tableInfo(path).some((c) => c.name === 'expires_at'), false)
      const store = await open(t, path)
      assert.equal(await store.get('config', 'theme'), 'dark')
      assert.equal(await store.get('config', 'lang'), 'en-GB')
      assert.equal(await store.get('tenant-1:cfg', 'k'), 'v')
      assert.equal(await store.ttl('config', 'theme'), null)
      assert.deepEqual(await store.groups(), ['config', 'tenant-1:cfg'])
      await store.close()
      const column = tableInfo(path).find((c) => c.name === 'expires_at')
      assert.deepEqual({ type: column.type, notnull: column.notnull, pk: column.pk }, { type: 'INTEGER', notnull: 0, pk: 0 })
    })

    it('then works with TTL, and stays upgraded across reopening', async (t) => {
      const path = fixtureCopy(t, 'go-store-pre-ttl.db')
      let now = 1_800_000_000_000
      const first = await open(t, path, { now: () => now })
      await first.set('config', 'theme', 'light', { ttl: 500 })
      await first.set('session', 'abc', 'user', { ttl: 1000 })
      assert.equal(await first.ttl('config', 'theme'), 500)
      await first.close()
      const store = await open(t, path, { now: () => now })
      assert.equal(await store.get('config', 'theme'), 'light')
      now += 500
      assert.equal(await store.get('config', 'theme'), undefined)
      assert.equal(await store.get('session', 'abc'), 'user')
      assert.equal(await store.get('config', 'lang'), 'en-GB')
      now += 500
      assert.equal(await store.purgeExpired(), 1)
      assert.equal(await store.countAll(), 2)
    })

    it('rejects go-store’s own migration as a duplicate column afterwards (which go-store ignores)', async (t) => {
      const path = fixtureCopy(t, 'go-store-pre-ttl.db')
      await (await Store.open(path, { purgeInterval: 0 })).close()
      const db = new Database(path)
      t.after(() => db.close())
      assert.throws(() => db.exec('ALTER TABLE kv ADD COLUMN expires_at INTEGER'), /duplicate column/)
    })
  })

  describe('a database created by groupstore', () => {
    it('has go-store’s kv table, with a nullable revision column added last', async (t) => {
      const path = join(tempDir(t), 'ours.db')
      await (await Store.open(path)).close()
      const theirs = tableInfo(fixtureCopy(t, 'go-store.db'))
      assert.deepEqual(tableInfo(path), [...theirs, REVISION_COLUMN(theirs.length)])
      const db = new Database(path, { readonly: true })
      t.after(() => db.close())
      const pk = db.pragma('index_list(kv)').find((i) => i.origin === 'pk')
      assert.ok(pk, 'kv has no primary-key index')
      assert.deepEqual(db.pragma(`index_info(${pk.name})`).map((c) => c.name), ['grp', 'key'])
      assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kv'").pluck().get(), 1)
    })

    it('can be opened and written by go-store’s statements, and we read what it wrote', async (t) => {
      const path = join(tempDir(t), 'ours.db')
      const now = 1_800_000_000_000
      const ours = await Store.open(path, { purgeInterval: 0, now: () => now })
      await ours.set('config', 'theme', 'dark', { ttl: 1000 })
      await ours.set('config', 'lang', 'en-GB')
      await ours.close()

      // What go-store's New(), Get(), Set() and SetWithTTL() run.
      const db = new Database(path)
      db.pragma('journal_mode = WAL')
      db.pragma('busy_timeout = 5000')
      db.exec(GO_STORE_SCHEMA)
      assert.throws(() => db.exec('ALTER TABLE kv ADD COLUMN expires_at INTEGER'), /duplicate column/)
      const get = db.prepare('SELECT value, expires_at FROM kv WHERE grp = ? AND key = ?')
      assert.deepEqual(get.get('config', 'theme'), { value: 'dark', expires_at: now + 1000 })
      assert.deepEqual(get.get('config', 'lang'), { value: 'en-GB', expires_at: null })
      const upsert = db.prepare(
        'INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT(grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
      )
      upsert.run('config', 'theme', 'light', null)
      upsert.run('go', 'ttl', 'from go', now + 5000)
      upsert.run('bin', 'nul', 'a\u0000b', null)
      const count = db.prepare('SELECT COUNT(*) FROM kv WHERE grp = ? AND (expires_at IS NULL OR expires_at > ?)').pluck()
      assert.equal(count.get('config', now), 2)
      db.close()

      const store = await open(t, path, { now: () => now })
      assert.equal(await store.get('config', 'theme'), 'light')
      assert.equal(await store.ttl('config', 'theme'), null)
      assert.equal(await store.ttl('go', 'ttl'), 5000)
      assert.equal(await store.get('bin', 'nul'), 'a\u0000b')
    })
  })
})
