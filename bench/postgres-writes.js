// `npm run bench:pg`: groupstore on PostgreSQL against Keyv with
// @keyv/postgres on the same server, each opened as `npm run bench` opens
// them (groupstore with its default options in a fresh schema, Keyv in a
// fresh table): sequential sets of distinct keys and waves of concurrent
// sets, in rounds that take turns (the order alternating each round); gets
// are measured by `npm run bench` (set-get). Prints the median time per operation and the median of the
// rounds' ratios, so that a change in the machine's load between two
// measurements does not decide the figure. Needs GROUPSTORE_BENCH_PG (or
// GROUPSTORE_TEST_PG).
//
//   node bench/postgres-writes.js [--rounds N] [--slice N] [--wave N]
import { parseArgs } from 'node:util'
import { PG_URL, SYSTEMS } from './lib/systems.js'

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    slice: { type: 'string', default: '100' },
    wave: { type: 'string', default: '1000' },
  },
})
const rounds = Number(flags.rounds)
const slice = Number(flags.slice)
const wave = Number(flags.wave)
for (const [name, n] of Object.entries({ rounds, slice, wave })) {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`bench/postgres-writes: --${name} must be a positive integer`)
}
if (PG_URL === undefined) throw new Error('bench/postgres-writes: set GROUPSTORE_BENCH_PG to a PostgreSQL URL')

const key = (i) => `key-${String(i).padStart(7, '0')}`
const systems = ['groupstore-pg', 'keyv-pg'].map((name) => SYSTEMS.find((s) => s.name === name))
const handles = []
for (const system of systems) handles.push({ name: system.name, s: await system.open({}) })
const [gs, kv] = handles

/** Microseconds per operation of `count` calls of `op(i)` from `from`, one at a time or all at once. */
async function time(op, from, count, together) {
  const start = process.hrtime.bigint()
  if (together) await Promise.all(Array.from({ length: count }, (_, i) => op(from + i)))
  else for (let i = from; i < from + count; i++) await op(i)
  return Number(process.hrtime.bigint() - start) / count / 1000
}

const workloads = {
  'sequential set': (h, r) => time((i) => h.s.set('seq', key(i), `value-${i}`), r * slice, slice, false),
  [`${wave.toLocaleString('en-GB')} concurrent sets (per set)`]: (h, r) => time((i) => h.s.set('wave', key(i), `value-${i}`), r * wave, wave, true),
}
const times = Object.fromEntries(Object.keys(workloads).map((w) => [w, { [gs.name]: [], [kv.name]: [] }]))
try {
  for (const h of handles) for (let i = 0; i < 200; i++) await h.s.set('warm', key(i), 'v')
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(workloads)) {
      for (const h of r % 2 === 0 ? handles : [...handles].reverse()) times[name][h.name].push(await run(h, r))
    }
  }
} finally {
  for (const h of handles) await h.s.close()
}

const median = (list) => [...list].sort((a, b) => a - b)[list.length >> 1]
console.log(`groupstore-pg against keyv-pg on ${PG_URL.replace(/\/\/[^@]*@/, '//…@')}: ${rounds} rounds, median`)
for (const [name, t] of Object.entries(times)) {
  const ratio = median(t[gs.name].map((g, r) => g / t[kv.name][r]))
  console.log(`${name.padEnd(36)} keyv-pg ${median(t[kv.name]).toFixed(1).padStart(7)} µs   groupstore-pg ${median(t[gs.name]).toFixed(1).padStart(7)} µs   ${ratio.toFixed(2)}×`)
}
