// The get/set hot path alone, for a profiler: N sets then N gets in
// scattered order on an in-memory store with default options, and the same
// on raw better-sqlite3 for comparison.
//
//   node --cpu-prof --cpu-prof-dir=prof bench/profile.js [n] [set|get|both]
//   node bench/lib/top-profile.js prof          # self time per function
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { GO_STORE_SCHEMA, RAW_UPSERT } from './lib/go-store.js'

const n = Number(process.argv[2] ?? 200_000)
const which = process.argv[3] ?? 'both'
const keys = Array.from({ length: n }, (_, i) => `key-${String(i).padStart(7, '0')}`)
const order = keys.map((_, i) => keys[(i * 7919) % n])

const db = new Database(':memory:')
db.exec(GO_STORE_SCHEMA)
const set = db.prepare(RAW_UPSERT)
const get = db.prepare('SELECT value, expires_at FROM kv WHERE grp = ? AND key = ?')
const raw = {
  set: async (g, k, v) => {
    set.run(g, k, v, null)
  },
  get: async (g, k) => get.get(g, k)?.value,
}
const store = await Store.open(':memory:', { purgeInterval: 0 })

async function time(label, fn) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await fn(i)
  const ns = Number(process.hrtime.bigint() - start) / n
  console.log(`${label.padEnd(16)} ${(ns / 1000).toFixed(2)} µs`)
}

for (const [name, s] of [['raw', raw], ['groupstore', store]]) {
  if (which !== 'get') await time(`${name} set`, (i) => s.set('g', keys[i], 'value'))
  if (which !== 'set') {
    if (which === 'get') for (let i = 0; i < n; i++) await s.set('g', keys[i], 'value')
    await time(`${name} get`, (i) => s.get('g', order[i]))
  }
}
await store.close()
