// How `groupstore export` reads a group: the way it did (entries() and one
// ttl() call per key); with the public API only, a page of 256 keys and each
// key's entry read in one transaction; and the way it does, a page of keys
// with their values and expiries in one read (the internal ENTRY_PAGE
// method), on a file and, with GROUPSTORE_BENCH_PG (or GROUPSTORE_TEST_PG),
// on PostgreSQL. Figures in docs/performance.md.
//
//   npm run build && node bench/export-read.js [keys]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Store } from 'groupstore'
import { ENTRY_PAGE } from '../dist/entry-page.js'
import { median } from './lib/stats.js'

const N = Number(process.argv[2] ?? 20_000)
const PG = process.env.GROUPSTORE_BENCH_PG ?? process.env.GROUPSTORE_TEST_PG
const ROUNDS = 5

/** The old way: every key's TTL read by a call of its own. */
async function entriesAndTtl(store) {
  let n = 0
  for await (const [key] of store.entries('g')) if ((await store.ttl('g', key)) !== undefined) n++
  return n
}

/** With the public API only: a page and its keys' entries in one transaction. */
async function pagesInTransactions(store) {
  let n = 0
  let after
  do {
    const page = await store.transaction(async (tx) => {
      const p = await tx.page('g', { after, limit: 256 })
      let found = 0
      for (const [key] of p.entries) if ((await tx.getEntry('g', key)) !== undefined) found++
      return { found, next: p.next }
    })
    n += page.found
    after = page.next
  } while (after !== undefined)
  return n
}

/** The way export reads now: a page of keys, values and expiries in one read. */
async function entryPages(store) {
  let n = 0
  let after
  do {
    const page = await store[ENTRY_PAGE]('g', after, 256)
    n += page.entries.length
    after = page.next
  } while (after !== undefined)
  return n
}

async function measure(name, location, options) {
  const store = await Store.open(location, { purgeInterval: 0, ...options })
  try {
    const pairs = Array.from({ length: N }, (_, i) => [`key-${String(i).padStart(7, '0')}`, `value-${i}`])
    for (let i = 0; i < N; i += 5000) await store.setMany('g', pairs.slice(i, i + 5000), i % 10_000 === 0 ? { ttl: 3_600_000 } : undefined)
    const times = { old: [], tx: [], now: [] }
    for (let r = 0; r < ROUNDS; r++) {
      for (const [which, fn] of [['old', entriesAndTtl], ['tx', pagesInTransactions], ['now', entryPages]]) {
        const start = performance.now()
        if ((await fn(store)) !== N) throw new Error(`${which}: wrong count`)
        times[which].push(performance.now() - start)
      }
    }
    const [a, b, c] = [times.old, times.tx, times.now].map(median)
    const ratio = (x) => `${x.toFixed(0)} ms (${(x / a).toFixed(2)}×)`
    console.log(`${name}, ${N} keys, median of ${ROUNDS}:`)
    console.log(`  entries() + ttl() per key               ${a.toFixed(0)} ms`)
    console.log(`  page + getEntry per key, a transaction  ${ratio(b)}`)
    console.log(`  a page with expiries in one read        ${ratio(c)}`)
  } finally {
    await store.close()
  }
}

/** Drops the PostgreSQL schema the run made. */
async function dropSchema(schema) {
  const client = new pg.Client({ connectionString: PG })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

const dir = mkdtempSync(join(tmpdir(), 'groupstore-export-read-'))
try {
  await measure('file', join(dir, 'e.db'))
  if (PG === undefined) console.log('postgres: skipped (set GROUPSTORE_BENCH_PG or GROUPSTORE_TEST_PG)')
  else {
    const schema = `bench_export_${process.pid}`
    try {
      await measure('postgres', PG, { schema })
    } finally {
      await dropSchema(schema)
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
