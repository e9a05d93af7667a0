// Durable sequential sets on a file, taking turns with raw better-sqlite3 in
// rounds of 300 writes: raw's upsert in autocommit on go-store's schema,
// groupstore with default options and with `changeLog: false`, each on a
// file of its own with an fsync per commit. Prints the medians of the
// rounds and, for each, the median of its rounds' ratios to raw's (a round's
// systems run within moments of each other, so a change in the disk's speed
// falls on all of them). Figures in docs/performance.md.
//
//   node bench/sequential.js [rounds, default 16]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Store } from '../dist/index.js'
import { GO_STORE_SCHEMA, RAW_UPSERT } from './lib/go-store.js'

const N = 300
const ROUNDS = Number(process.argv[2] ?? 16)
const dir = mkdtempSync(join(tmpdir(), 'groupstore-sequential-'))
try {
  const raw = new Database(join(dir, 'raw.db'))
  raw.pragma('journal_mode = WAL')
  raw.pragma('synchronous = FULL')
  raw.exec(GO_STORE_SCHEMA)
  const upsert = raw.prepare(RAW_UPSERT)
  const logged = await Store.open(join(dir, 'logged.db'), { purgeInterval: 0 })
  const quiet = await Store.open(join(dir, 'quiet.db'), { purgeInterval: 0, changeLog: false })
  const systems = {
    raw: async (k) => upsert.run('g', k, 'value', null),
    groupstore: (k) => logged.set('g', k, 'value'),
    'changeLog: false': (k) => quiet.set('g', k, 'value'),
  }
  const times = Object.fromEntries(Object.keys(systems).map((name) => [name, []]))
  for (const set of Object.values(systems)) for (let i = 0; i < 400; i++) await set(`warm-${i}`)
  for (let r = 0; r < ROUNDS; r++) {
    const names = Object.keys(systems)
    if (r % 2 === 1) names.reverse()
    for (const name of names) {
      const set = systems[name]
      const start = process.hrtime.bigint()
      for (let i = 0; i < N; i++) await set(`key-${r}-${i}`)
      times[name].push(Number(process.hrtime.bigint() - start) / N / 1000)
    }
  }
  const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1]
  console.log(
    `durable sequential set, ${ROUNDS} rounds of ${N} (medians; the ratio is the median of the rounds' ratios to raw's), ` +
      `load average ${(await import('node:os')).loadavg()[0].toFixed(2)}`,
  )
  for (const [name, v] of Object.entries(times)) {
    const ratio = med(v.map((t, r) => t / times.raw[r]))
    console.log(`  ${name.padEnd(18)} ${med(v).toFixed(1).padStart(7)} µs  ${ratio.toFixed(2)}×`)
  }
  raw.close()
  await logged.close()
  await quiet.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
