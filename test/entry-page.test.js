// The page read behind `groupstore export` (not exported from the package):
// a page of live keys with their values and exact expiries, in key order,
// on ':memory:', a file and PostgreSQL.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { Store, StoreClosedError } from 'groupstore'
import { ENTRY_PAGE } from '../dist/entry-page.js'
import { tempDir } from './helpers/cli.js'
import { admin, testSchema, unavailable, url } from './postgres/server.js'

const pgSkip = await unavailable()
const schema = pgSkip ? undefined : testSchema('groupstore_entry_page')
let tables = 0

const BACKENDS = [
  { name: ':memory:', skip: false, open: () => Store.open(':memory:') },
  { name: 'a file', skip: false, open: (t) => Store.open(join(tempDir(t, 'groupstore-entry-page-'), 'test.db')) },
  { name: 'PostgreSQL', skip: pgSkip, open: () => Store.open(url, { schema, table: `e${tables++}` }) },
]

/** Every entry of `group`, read `limit` at a time through the page read. */
async function readAll(target, group, limit) {
  const all = []
  let next
  let pages = 0
  do {
    const page = await target[ENTRY_PAGE](group, { after: next, limit })
    all.push(...page.entries)
    next = page.next
    pages++
  } while (next !== undefined)
  return { all, pages }
}

for (const backend of BACKENDS) {
  describe(`the export page read on ${backend.name}`, { skip: backend.skip }, () => {
    it('reads every live key with its value and exact expiry, in key order, a page at a time', async (t) => {
      const store = await backend.open(t)
      t.after(() => store.close())
      await store.setMany('g', Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${String(i).padStart(2, '0')}`, `v${i}`])))
      await store.set('g', 'k03', 'expiring', { ttl: 3_600_000 })
      await store.set('g', 'k04', 'gone', { ttl: 1 })
      await store.set('g', 'zz\u0000nul', 'a\u0000b')
      await store.set('other', 'k00', 'not this group')
      await sleep(10) // k04 expires
      const { all, pages } = await readAll(store, 'g', 10)
      assert.equal(pages, 3)
      const keys = all.map(([key]) => key)
      assert.deepEqual(keys, [...keys].sort())
      assert.equal(all.length, 25, 'the expired key is left out')
      assert.ok(!keys.includes('k04'))
      for (const [key, value, expiresAt, revision] of all) {
        const entry = await store.getEntry('g', key)
        assert.deepEqual([value, expiresAt, revision], [entry.value, entry.expiresAt, entry.revision], key)
      }
      assert.equal(all.find(([key]) => key === 'k03')[2] > Date.now(), true)
      assert.deepEqual(all.at(-1).slice(0, 3), ['zz\u0000nul', 'a\u0000b', null])
      assert.deepEqual(await store[ENTRY_PAGE]('empty', { limit: 10 }), { entries: [] })
      // A page exactly full says nothing follows only when nothing does.
      const exact = await store[ENTRY_PAGE]('g', { limit: 25 })
      assert.equal(exact.entries.length, 25)
      assert.equal(exact.next, undefined)
    })

    it('in a scope and a transaction, names are relative; a closed store refuses', async (t) => {
      const store = await backend.open(t)
      const scope = store.scope('t1')
      await scope.set('g', 'a', '1')
      await store.set('g', 'b', 'outside the scope')
      const ra = (await scope.getEntry('g', 'a')).revision
      assert.deepEqual((await scope[ENTRY_PAGE]('g', { limit: 10 })).entries, [['a', '1', null, ra]])
      let rb
      const inTx = await scope.transaction(async (tx) => {
        rb = await tx.set('g', 'b', '2')
        return tx[ENTRY_PAGE]('g', { limit: 10 })
      })
      assert.deepEqual(inTx.entries, [['a', '1', null, ra], ['b', '2', null, rb]])
      await store.close()
      await assert.rejects(store[ENTRY_PAGE]('g', { limit: 10 }), StoreClosedError)
    })

    it('takes a prefix and checks its arguments as page does', async (t) => {
      const store = await backend.open(t)
      t.after(() => store.close())
      await store.setMany('g', { a1: '1', a2: '2', b1: '3' })
      const page = await store[ENTRY_PAGE]('g', { prefix: 'a', limit: 1 })
      assert.deepEqual(page.entries.map(([key]) => key), ['a1'])
      assert.equal(page.next, 'a1')
      const rest = await store[ENTRY_PAGE]('g', { prefix: 'a', after: 'a1', limit: 10 })
      assert.deepEqual(rest.entries.map(([key]) => key), ['a2'])
      assert.deepEqual((await store[ENTRY_PAGE]('g')).entries.length, 3, 'the default limit is page’s')
      await assert.rejects(store[ENTRY_PAGE]('g', { limit: 10_001 }), { name: 'RangeError', message: /^store\.page: options\.limit must be an integer from 1 to 10000/ })
      await assert.rejects(store[ENTRY_PAGE]('g', { limit: 0 }), RangeError)
      await assert.rejects(store[ENTRY_PAGE]('g', { limit: '5' }), { name: 'TypeError', message: /^store\.page: options\.limit/ })
      await assert.rejects(store[ENTRY_PAGE]('g', { colour: 1 }), TypeError)
      await assert.rejects(store[ENTRY_PAGE](5, { limit: 5 }), { name: 'TypeError', message: /^store\.page: group/ })
    })
  })
}

/** Stores whose rows can be written outside the package: a row without a revision, as an old file's. */
const OUTSIDE = [
  {
    name: 'a file',
    skip: false,
    async open(t) {
      const path = join(tempDir(t, 'groupstore-entry-page-'), 'old.db')
      const store = await Store.open(path)
      const raw = new Database(path)
      t.after(() => raw.close())
      return { store, clear: async (g, key) => raw.prepare('UPDATE kv SET revision = NULL WHERE grp = ? AND key = ?').run(g, key) }
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    async open(t) {
      const table = `e${tables++}`
      const store = await Store.open(url, { schema, table })
      const client = await admin()
      t.after(() => client.end())
      return { store, clear: (g, key) => client.query(`UPDATE "${schema}"."${table}" SET revision = NULL WHERE grp = $1 AND key = $2`, [g, key]) }
    },
  },
]

for (const backend of OUTSIDE) {
  describe(`the page read of rows without a revision on ${backend.name}`, { skip: backend.skip }, () => {
    it('gives them one as getEntry does, and keeps it', async (t) => {
      const { store, clear } = await backend.open(t)
      t.after(() => store.close())
      await store.setMany('g', { a: '1', b: '2', c: '3' })
      const before = await store.revision()
      await clear('g', 'a')
      await clear('g', 'c')
      const page = await store[ENTRY_PAGE]('g', { limit: 10 })
      assert.deepEqual(page.entries.map(([key, value]) => [key, value]), [['a', '1'], ['b', '2'], ['c', '3']])
      for (const [key, , , revision] of page.entries) {
        assert.equal(typeof revision, 'number', key)
        assert.equal((await store.getEntry('g', key)).revision, revision, key)
      }
      const [a, , c] = page.entries.map((e) => e[3])
      assert.ok(a > before && c > before && a !== c, 'new revisions, one per row')
      assert.deepEqual(await store[ENTRY_PAGE]('g', { limit: 10 }), page, 'kept')
      assert.equal(await store.set('g', 'a', 'x', { ifRevision: a }) > 0, true, 'a conditional write on it holds')
    })
  })
}
