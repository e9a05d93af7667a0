// The page read behind `groupstore export` (not exported from the package):
// a page of live keys with their values and exact expiries, in key order,
// on ':memory:', a file and PostgreSQL.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Store, StoreClosedError } from 'groupstore'
import { ENTRY_PAGE } from '../dist/entry-page.js'
import { tempDir } from './helpers/cli.js'
import { admin, unavailable, unique, url } from './postgres/server.js'

const pgSkip = await unavailable()
const schema = unique('groupstore_entry_page')
let tables = 0
if (!pgSkip) {
  after(async () => {
    const client = await admin()
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      await client.end()
    }
  })
}

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
    const page = await target[ENTRY_PAGE](group, next, limit)
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
      for (const [key, value, expiresAt] of all) {
        const entry = await store.getEntry('g', key)
        assert.deepEqual([value, expiresAt], [entry.value, entry.expiresAt], key)
      }
      assert.equal(all.find(([key]) => key === 'k03')[2] > Date.now(), true)
      assert.deepEqual(all.at(-1), ['zz\u0000nul', 'a\u0000b', null])
      assert.deepEqual(await store[ENTRY_PAGE]('empty', undefined, 10), { entries: [] })
      // A page exactly full says nothing follows only when nothing does.
      const exact = await store[ENTRY_PAGE]('g', undefined, 25)
      assert.equal(exact.entries.length, 25)
      assert.equal(exact.next, undefined)
    })

    it('in a scope and a transaction, names are relative; a closed store refuses', async (t) => {
      const store = await backend.open(t)
      const scope = store.scope('t1')
      await scope.set('g', 'a', '1')
      await store.set('g', 'b', 'outside the scope')
      assert.deepEqual((await scope[ENTRY_PAGE]('g', undefined, 10)).entries, [['a', '1', null]])
      const inTx = await scope.transaction(async (tx) => {
        await tx.set('g', 'b', '2')
        return tx[ENTRY_PAGE]('g', undefined, 10)
      })
      assert.deepEqual(inTx.entries, [['a', '1', null], ['b', '2', null]])
      await store.close()
      await assert.rejects(store[ENTRY_PAGE]('g', undefined, 10), StoreClosedError)
    })
  })
}
