// Every query the SQLite backend runs is served by an index; in particular
// every prefix query (countAll, groups, deletePrefix, page/entries with a
// prefix) searches the primary-key index instead of scanning the table.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { SQL } from '../dist/backend/sqlite/sqlite-queries.js'
import { tempDir } from './helpers/sqlite.js'

const PARAMS = { grp: 'g', lo: 'app:', hi: 'app;', now: 1, after: 'k', limit: 10 }

const dir = mkdtempSync(join(tmpdir(), 'groupstore-plan-'))
const made = new Map()
after(async () => {
  for (const db of made.values()) (await db).close()
  rmSync(dir, { recursive: true, force: true })
})

/**
 * A database with groupstore's schema and rows, optionally analysed, for
 * realistic plans; made once per kind and shared by the tests (they only read).
 */
function database(analysed) {
  if (!made.has(analysed)) made.set(analysed, makeDatabase(join(dir, `plan-${analysed}.db`), analysed))
  return made.get(analysed)
}

async function makeDatabase(path, analysed) {
  const store = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
  const writes = []
  // a few large groups under the prefix, and many other groups around it
  for (let g = 0; g < 3; g++) {
    for (let k = 0; k < 500; k++) writes.push(store.set(`app:${g}`, `k${k}`, 'v', k % 4 === 0 ? { ttl: 60_000 } : undefined))
  }
  for (let g = 0; g < 200; g++) writes.push(store.set(`other:${g}`, 'k', 'v'), store.set(`ap${g}`, 'k', 'v'))
  await Promise.all(writes)
  // a quota check makes the namespace counts (see countNamespaceLive)
  await store.scope('app', { quota: { maxKeys: 1_000_000 } }).set('3', 'k', 'v')
  await store.close()
  const db = new Database(path)
  if (analysed) db.exec('ANALYZE')
  return db
}

/** The plan's detail lines for `sql`, binding what its parameters name. */
function plan(db, sql) {
  const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`)
  const named = Object.fromEntries(Object.entries(PARAMS).filter(([k]) => sql.includes(`@${k}`)))
  const positional = (sql.match(/\?/g) ?? []).map(() => 'x')
  const rows = Object.keys(named).length > 0 ? stmt.all(named) : stmt.all(...positional)
  return rows.map((r) => r.detail)
}

/** Asserts that every access to kv is an index search (no SCAN of kv, no temporary sort). */
function assertSearches(db, name, sql, index = /sqlite_autoindex_kv_1|PRIMARY KEY/) {
  const details = plan(db, sql)
  const kv = details.filter((d) => /\bkv\b/.test(d))
  assert.ok(kv.length > 0, `${name}: no access to kv in ${JSON.stringify(details)}`)
  for (const d of kv) {
    assert.match(d, /^SEARCH kv (EXISTS )?USING /, `${name}: ${d} (${sql})`)
    assert.match(d, index, `${name}: ${d} does not use the expected index`)
  }
  for (const d of details) assert.doesNotMatch(d, /USE TEMP B-TREE/, `${name}: sorts in a temporary b-tree: ${sql}`)
}

/** Every prefix query, in each of its variants (bounded prefix or not, with or without a cursor). */
function prefixQueries() {
  const out = []
  for (const bounded of [true, false]) {
    for (const name of ['countAll', 'groups', 'countGroups', 'prefixGroups', 'deletePrefix']) {
      out.push([`${name} (bounded ${bounded})`, SQL[name](bounded)])
    }
    for (const after of [true, false]) {
      out.push([`range (bounded ${bounded}, after ${after})`, SQL.range(after, bounded)])
      out.push([`range with expiries (bounded ${bounded}, after ${after})`, SQL.range(after, bounded, true)])
    }
  }
  return out
}

for (const analysed of [false, true]) {
  describe(`query plans (${analysed ? 'with' : 'without'} ANALYZE statistics)`, () => {
    it('the query module exports the prefix queries this test checks', () => {
      for (const name of ['countAll', 'groups', 'countGroups', 'prefixGroups', 'deletePrefix', 'range']) {
        assert.equal(typeof SQL[name], 'function', `SQL.${name}`)
      }
    })

    for (const [name, sql] of prefixQueries()) {
      it(`${name} searches the primary-key index`, async (t) => {
        assertSearches(await database(analysed), name, sql)
      })
    }

    it('incrementLive finds its row by rowid', async () => {
      assertSearches(await database(analysed), 'incrementLive', SQL.incrementLive, /USING INTEGER PRIMARY KEY \(rowid=\?\)/)
    })

    for (const name of ['get', 'incrementRead', 'delete', 'deleteExpired', 'deleteGroup', 'groupExists', 'getAll', 'getAllUnexpired']) {
      it(`${name} searches the primary-key index`, async (t) => {
        assert.equal(typeof SQL[name], 'string', `SQL.${name}`)
        assertSearches(await database(analysed), name, SQL[name])
      })
    }

    it('countGroupLive counts the primary-key index and the group\'s expired rows through the expiry index', async (t) => {
      assertSearches(await database(analysed), 'countGroupLive', SQL.countGroupLive, /sqlite_autoindex_kv_1|kv_expires_at/)
      assert.ok(plan(await database(analysed), SQL.countGroupLive).some((d) => /COVERING INDEX sqlite_autoindex_kv_1/.test(d)))
    })

    it('countNamespaceLive reads the namespace count and the expired rows through the expiry index', async (t) => {
      const details = plan(await database(analysed), SQL.countNamespaceLive)
      assert.ok(details.some((d) => /^SEARCH kv_namespace_keys USING PRIMARY KEY/.test(d)), JSON.stringify(details))
      assertSearches(await database(analysed), 'countNamespaceLive', SQL.countNamespaceLive, /kv_expires_at/)
    })

    it('hasExpired searches the expiry index', async (t) => {
      assertSearches(await database(analysed), 'hasExpired', SQL.hasExpired, /kv_expires_at/)
    })

    it('purge searches an index on expires_at instead of scanning', async (t) => {
      assertSearches(await database(analysed), 'purge', SQL.purge, /expires_at/)
    })
  })
}

describe('prefix bounds', () => {
  it('the bounded prefix condition selects exactly the groups that start with the prefix', async (t) => {
    const db = new Database(join(tempDir(t), 'bounds.db'))
    t.after(() => db.close())
    db.exec('CREATE TABLE kv (grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (grp, key))')
    for (const g of ['app:0', 'app:1', 'app:2']) db.prepare('INSERT INTO kv (grp, key, value) VALUES (?, ?, ?)').run(g, 'k', 'v')
    for (const g of ['app', 'app;', 'app:\u{10ffff}', 'apq', 'ap']) {
      db.prepare('INSERT INTO kv (grp, key, value) VALUES (?, ?, ?)').run(g, 'k', 'v')
    }
    const groups = db.prepare(SQL.groups(true)).pluck().all({ lo: 'app:', hi: 'app;', now: 0 })
    assert.deepEqual(groups, ['app:0', 'app:1', 'app:2', 'app:\u{10ffff}'])
    assert.ok(groups.every((g) => g.startsWith('app:')))
  })
})
