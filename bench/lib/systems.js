// The systems under test, each behind the same small adapter so that every
// workload runs the same calls on each. A method left undefined means the
// system has no such feature; the workload reports n/a for it.
//
// Adapter: { set(g, k, v), setTtl(g, k, v, ttlMs), get(g, k), getAll(g), count(g),
//            entries(g) (async iterable of [key, value]), load(g, pairs) (bulk fill, untimed),
//            close() }
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import KeyvPostgres from '@keyv/postgres'
import KeyvSqlite from '@keyv/sqlite'
import Keyv from 'keyv'
import { open as openLmdb } from 'lmdb'
import pg from 'pg'
import { Store } from 'groupstore'
import { GO_STORE_SCHEMA, RAW_UPSERT } from './go-store.js'

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(label) {
  const dir = mkdtempSync(join(tmpdir(), `groupstore-bench-${label}-`))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

const LIVE = '(expires_at IS NULL OR expires_at > @now)'

/**
 * raw better-sqlite3: go-store's `kv` table, prepared statements, each call
 * wrapped in an async function (the least a Promise API costs). The limit
 * for any SQLite store in Node. For a feature SQLite has no notion of
 * (quotas, change events) it runs the plain statement: the floor.
 */
async function openRaw({ file, durable }) {
  const db = new Database(file ?? ':memory:')
  if (file !== undefined) {
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`)
  }
  db.exec(GO_STORE_SCHEMA)
  const set = db.prepare(RAW_UPSERT)
  const get = db.prepare('SELECT value, expires_at FROM kv WHERE grp = ? AND key = ?')
  const all = db.prepare(`SELECT key, value FROM kv WHERE grp = @grp AND ${LIVE}`)
  const count = db.prepare('SELECT count(*) FROM kv WHERE grp = ?').pluck()
  const page = db.prepare(`SELECT key, value FROM kv WHERE grp = @grp AND key > @after AND ${LIVE} ORDER BY key LIMIT 256`).raw()
  const firstPage = db.prepare(`SELECT key, value FROM kv WHERE grp = @grp AND ${LIVE} ORDER BY key LIMIT 256`).raw()
  const readPage = async (grp, after) =>
    after === undefined ? firstPage.all({ grp, now: Date.now() }) : page.all({ grp, after, now: Date.now() })
  return {
    set: async (g, k, v) => {
      set.run(g, k, v, null)
    },
    setTtl: async (g, k, v, ttl) => {
      set.run(g, k, v, Date.now() + ttl)
    },
    get: async (g, k) => {
      const row = get.get(g, k)
      return row === undefined || (row.expires_at !== null && row.expires_at <= Date.now()) ? undefined : row.value
    },
    getAll: async (g) => {
      const out = Object.create(null)
      for (const row of all.all({ grp: g, now: Date.now() })) out[row.key] = row.value
      return out
    },
    count: async (g) => count.get(g),
    entries: async function* (g) {
      let after
      for (;;) {
        const rows = await readPage(g, after)
        yield* rows
        if (rows.length < 256) return
        after = rows[rows.length - 1][0]
      }
    },
    // A scope's quota and events have no SQLite equivalent: the plain write is the floor.
    scopedSet: async (ns, g, k, v) => {
      set.run(`${ns}:${g}`, k, v, null)
    },
    load: (g, pairs) => {
      db.transaction(() => {
        for (const [k, v] of pairs) set.run(g, k, v, null)
      })()
    },
    close: async () => db.close(),
  }
}

/**
 * groupstore with its default options (on a file: `durability: 'full'` and
 * the change log), or with `store` options where a workload says so.
 */
async function openGroupstore({ file, store: options }) {
  const store = await Store.open(file ?? ':memory:', options)
  const scopes = new Map()
  return {
    store,
    set: (g, k, v) => store.set(g, k, v),
    setTtl: (g, k, v, ttl) => store.set(g, k, v, { ttl }),
    get: (g, k) => store.get(g, k),
    getAll: (g) => store.getAll(g),
    count: (g) => store.count(g),
    entries: (g) => store.entries(g),
    scopedSet: (ns, g, k, v) => {
      let scope = scopes.get(ns)
      if (scope === undefined) {
        scope = store.scope(ns, { quota: { maxKeys: 1_000_000_000 } })
        scopes.set(ns, scope)
      }
      return scope.set(g, k, v)
    },
    load: async (g, pairs) => {
      const list = [...pairs]
      for (let i = 0; i < list.length; i += 10_000) {
        await store.transaction(async (tx) => {
          for (const [k, v] of list.slice(i, i + 10_000)) await tx.set(g, k, v)
        })
      }
    },
    close: () => store.close(),
  }
}

/**
 * The operations of Keyv over one adapter, one Keyv per group with the group
 * as its namespace (how Keyv users keep groups apart), made on first use.
 */
function keyvPerGroup(adapter) {
  const groups = new Map()
  const keyv = (g) => {
    let k = groups.get(g)
    if (k === undefined) {
      k = new Keyv({ store: adapter, namespace: g })
      groups.set(g, k)
    }
    return k
  }
  // Keyv's iterator reads the namespace from the shared adapter, which the last Keyv made sets.
  const iterate = (g) => {
    const kv = keyv(g)
    adapter.namespace = g
    return kv.iterator()
  }
  return {
    set: (g, k, v) => keyv(g).set(k, v),
    setTtl: (g, k, v, ttl) => keyv(g).set(k, v, ttl),
    get: (g, k) => keyv(g).get(k),
    getAll: async (g) => {
      const out = Object.create(null)
      for await (const [k, v] of iterate(g)) out[k] = v
      return out
    },
    entries: (g) => iterate(g),
  }
}

/**
 * Keyv 5 with @keyv/sqlite (node-sqlite3 underneath): one Keyv per group,
 * the group as its namespace, as Keyv is meant to be used. Files run in WAL
 * mode with `synchronous = FULL` or `NORMAL`, like the others.
 */
async function openKeyv({ file, durable }) {
  const adapter = new KeyvSqlite({ uri: `sqlite://${file ?? ':memory:'}`, iterationLimit: 1000 })
  if (file !== undefined) {
    await adapter.query('PRAGMA journal_mode = WAL')
    await adapter.query(`PRAGMA synchronous = ${durable ? 'FULL' : 'NORMAL'}`)
  }
  return {
    ...keyvPerGroup(adapter),
    // Filled with multi-row INSERTs in one transaction, rows as Keyv itself writes them
    // ('<namespace>:<key>', JSON of { value }): one set at a time would take most of the run.
    load: async (g, pairs) => {
      const list = [...pairs]
      await adapter.query('BEGIN')
      for (let i = 0; i < list.length; i += 500) {
        const rows = list.slice(i, i + 500)
        await adapter.query(
          `INSERT INTO keyv (key, value) VALUES ${rows.map(() => '(?, ?)').join(', ')}`,
          rows.flatMap(([k, v]) => [`${g}:${k}`, JSON.stringify({ value: v })]),
        )
      }
      await adapter.query('COMMIT')
    },
    close: () => adapter.disconnect(),
  }
}

/**
 * lmdb-js: keys `[group, key]`, string values. It has no in-memory mode, so
 * the in-memory workloads run it on a temporary file with `noSync` (no
 * flush at all); the durable ones with its defaults, where a write's
 * promise resolves once the commit is flushed to disk.
 */
async function openLmdbSystem({ file, durable }) {
  const own = file === undefined ? tempDir('lmdb') : undefined
  const path = file ?? join(own.dir, 'data.mdb')
  const db = openLmdb(path, { encoding: 'string', noSubdir: true, ...(durable ? {} : { noSync: true }) })
  const groupRange = (g) => ({ start: [g, ''], end: [`${g}\u0000`] })
  return {
    set: (g, k, v) => db.put([g, k], v),
    get: async (g, k) => db.get([g, k]),
    getAll: async (g) => {
      const out = Object.create(null)
      for (const { key, value } of db.getRange(groupRange(g))) out[key[1]] = value
      return out
    },
    count: async (g) => db.getKeysCount(groupRange(g)),
    entries: async function* (g) {
      for (const { key, value } of db.getRange(groupRange(g))) yield [key[1], value]
    },
    load: async (g, pairs) => {
      await db.transaction(() => {
        for (const [k, v] of pairs) db.put([g, k], v)
      })
    },
    close: async () => {
      await db.close()
      own?.remove()
    },
  }
}

/** The PostgreSQL server of the PostgreSQL systems, or undefined: they are skipped without one. */
export const PG_URL = process.env.GROUPSTORE_BENCH_PG || process.env.GROUPSTORE_TEST_PG || undefined

let fresh = 0
/** A name no other run or instance uses: every PostgreSQL instance gets its own schema or table. */
const freshName = (prefix) => `${prefix}_${process.pid}_${Date.now().toString(36)}_${++fresh}`

/** Runs one statement on its own connection (the untimed setup and clean-up). */
async function pgExec(sql) {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/**
 * groupstore on PostgreSQL, in a fresh schema dropped on close: the same
 * adapter as groupstore on SQLite, on `Store.open(url, { schema })`.
 */
async function openGroupstorePg({ store: options }) {
  const schema = freshName('gs_bench')
  const h = await openGroupstore({ file: PG_URL, store: { ...options, schema } })
  const close = h.close
  h.close = async () => {
    try {
      await close()
    } finally {
      await pgExec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    }
  }
  return h
}

/**
 * Keyv 5 with @keyv/postgres on the same server, in a fresh table dropped on
 * close: one Keyv per group, the group as its namespace, as on SQLite.
 */
async function openKeyvPg() {
  const table = freshName('keyv_bench')
  const adapter = new KeyvPostgres({ uri: PG_URL, table, iterationLimit: 1000 })
  await adapter.query('SELECT 1') // the table exists once the first query has run
  return {
    ...keyvPerGroup(adapter),
    // Multi-row INSERTs in one transaction, rows as Keyv writes them (see openKeyv).
    load: async (g, pairs) => {
      const list = [...pairs]
      const client = new pg.Client({ connectionString: PG_URL })
      await client.connect()
      try {
        await client.query('BEGIN')
        for (let i = 0; i < list.length; i += 500) {
          const rows = list.slice(i, i + 500)
          await client.query(
            `INSERT INTO public.${table} (key, value) VALUES ${rows.map((_, j) => `($${2 * j + 1}, $${2 * j + 2})`).join(', ')}`,
            rows.flatMap(([k, v]) => [`${g}:${k}`, JSON.stringify({ value: v })]),
          )
        }
        await client.query('COMMIT')
      } finally {
        await client.end()
      }
    },
    close: async () => {
      try {
        await adapter.disconnect()
      } finally {
        await pgExec(`DROP TABLE IF EXISTS public.${table}`)
      }
    },
  }
}

/** Every system, raw first: ratios are to raw measured in the same run. `features` beyond set/get. */
export const SYSTEMS = [
  { name: 'raw', label: 'raw better-sqlite3', open: openRaw, features: ['setTtl', 'getAll', 'count', 'entries', 'scopedSet'] },
  { name: 'groupstore', label: 'groupstore', open: openGroupstore, features: ['setTtl', 'getAll', 'count', 'entries', 'scopedSet'] },
  // The slow ones stop at `cap` operations per timed measurement (their time per operation
  // hardly depends on how many keys the store holds), so that a full run takes minutes.
  { name: 'keyv', label: 'Keyv + @keyv/sqlite', open: openKeyv, features: ['setTtl', 'getAll', 'entries'], cap: 10_000 },
  { name: 'lmdb', label: 'lmdb-js', open: openLmdbSystem, features: ['getAll', 'count', 'entries'], cap: 20_000 },
  // PostgreSQL (when a server is given, see PG_URL): every operation is a round trip, so they
  // stop at a few thousand operations per measurement, and their ratios are to `baseline`
  // (Keyv on the same server, same run), not to raw better-sqlite3 in the same process.
  { name: 'keyv-pg', label: 'Keyv + @keyv/postgres', open: openKeyvPg, features: ['setTtl', 'getAll', 'entries'], cap: 5_000, postgres: true, baseline: 'keyv-pg' },
  { name: 'groupstore-pg', label: 'groupstore on PostgreSQL', open: openGroupstorePg, features: ['setTtl', 'getAll', 'count', 'entries'], cap: 5_000, postgres: true, baseline: 'keyv-pg' },
]
