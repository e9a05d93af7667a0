// `npm run bench`: groupstore against raw better-sqlite3, Keyv (+@keyv/sqlite)
// and lmdb-js, every workload in one process run. Prints a table of time per
// operation with each system's ratio to raw better-sqlite3 measured in the
// same run, checks the targets of the performance issue, and writes the
// results to bench/results/latest.json (latest-quick.json for a quick run)
// and a timestamped copy.
//
// Options (flags or environment):
//   --quick        | BENCH_QUICK=1     smaller sizes and 3 repeats (well under a minute)
//   --repeat N     | BENCH_REPEAT=N    repeats of every workload (default 5, quick 3)
//   --only a,b     | BENCH_ONLY=a,b    run only these workloads (set-get, ttl, group-reads,
//                                      entries, scoped, watched, atomic, durable, stalls, memory)
//   --systems a,b  | BENCH_SYSTEMS=a,b run only these systems (raw is always run): raw, groupstore,
//                                      keyv, lmdb, and with a PostgreSQL server keyv-pg, groupstore-pg
//
// PostgreSQL: with GROUPSTORE_BENCH_PG (or GROUPSTORE_TEST_PG) set to a postgres:// URL, the
// set-get, ttl, group-reads, entries and atomic workloads also run groupstore on PostgreSQL (a fresh
// schema per instance) and Keyv + @keyv/postgres (a fresh table), both dropped afterwards, with
// their ratios to keyv-pg in the same run; without one they are skipped with a message.
//   --no-save      | BENCH_SAVE=0      do not write the JSON files
//   --markdown                        print the tables in Markdown
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatNs, formatRatio, machine, markdownTable, median, table } from './lib/stats.js'
import { PG_URL, SYSTEMS } from './lib/systems.js'
import { entriesMemory, MEASUREMENTS, sizes, WORKLOADS } from './lib/workloads.js'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
    repeat: { type: 'string', default: process.env.BENCH_REPEAT },
    only: { type: 'string', default: process.env.BENCH_ONLY },
    systems: { type: 'string', default: process.env.BENCH_SYSTEMS },
    save: { type: 'boolean', default: process.env.BENCH_SAVE !== '0' },
    'no-save': { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
  },
})
const quick = flags.quick
const repeats = flags.repeat !== undefined ? Number(flags.repeat) : quick ? 3 : 5
if (!Number.isInteger(repeats) || repeats < 1) throw new RangeError(`bench: --repeat must be a positive integer, got ${flags.repeat}`)
const list = (s) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean))
const only = list(flags.only)
const wantedSystems = list(flags.systems)
const save = flags.save && !flags['no-save']
const n = sizes(quick)

// A quick run also stops the slow systems sooner.
if (quick) for (const s of SYSTEMS) if (s.cap !== undefined) s.cap = Math.floor(s.cap / 5)
const chosen = SYSTEMS.filter((s) => s.name === 'raw' || wantedSystems === undefined || wantedSystems.includes(s.name))
const pgSkipped = PG_URL === undefined ? chosen.filter((s) => s.postgres) : []
const systems = chosen.filter((s) => !pgSkipped.includes(s))
const workloads = WORKLOADS.filter((w) => only === undefined || only.includes(w.name))
const runMemory = only === undefined || only.includes('memory')

const info = machine()
const startedAt = new Date()
console.log(`groupstore bench: ${quick ? 'quick' : 'full'} run, ${repeats} repeats, median kept`)
console.log(`${info.cores} × ${info.cpu}, ${info.memoryGiB} GiB, ${info.platform}, Node ${info.node}, load ${info.loadAverage.join(' ')}`)
if (pgSkipped.length > 0) {
  console.log(`skipping ${pgSkipped.map((s) => s.name).join(', ')}: no PostgreSQL server (set GROUPSTORE_BENCH_PG or GROUPSTORE_TEST_PG to a postgres:// URL)`)
} else if (systems.some((s) => s.postgres)) {
  console.log(`PostgreSQL systems on ${PG_URL.replace(/\/\/[^@/]*@/, '//…@')}, ratios to ${[...new Set(systems.filter((s) => s.postgres).map((s) => s.baseline))].join(', ')} in the same run`)
}
if (typeof globalThis.gc !== 'function') console.log('(run with --expose-gc, as `npm run bench` does, to collect garbage between runs)')

/** samples[measurement][system] = ns per op of each repeat. */
const samples = {}
const extra = {}
const began = Date.now()
for (const w of workloads) {
  const eligible = systems.filter(
    (s) => (w.only === undefined || w.only.includes(s.name)) && (!s.postgres || w.postgres) && (w.needs ?? []).every((f) => s.features.includes(f)),
  )
  process.stdout.write(`${w.name}:`)
  const t = Date.now()
  for (let r = 0; r < repeats; r++) {
    // Every system in one run of the workload, its timed slices taking turns (see workloads.js).
    const result = await w.run(eligible, n)
    for (const [id, bySystem] of Object.entries(result)) {
      if (id === 'pgRoundTrips') {
        extra.pgRoundTrips = bySystem
        continue
      }
      const bucket = MEASUREMENTS[id] !== undefined ? samples : extra
      for (const [name, ns] of Object.entries(bySystem)) ((bucket[id] ??= {})[name] ??= []).push(ns)
    }
    process.stdout.write('.')
  }
  console.log(` ${((Date.now() - t) / 1000).toFixed(1)} s`)
}

let memory
if (runMemory) {
  process.stdout.write(`memory (${n.memoryKeys.toLocaleString('en-GB')} keys):`)
  memory = await entriesMemory(n.memoryKeys)
  console.log(` ${memory.heapGrowthMiB.toFixed(1)} MiB`)
}

const med = (bucket, id, sys) => median(bucket[id]?.[sys] ?? [])
const results = {}
for (const id of Object.keys(samples)) {
  results[id] = {}
  const raw = med(samples, id, 'raw')
  for (const s of systems) {
    const m = med(samples, id, s.name)
    if (Number.isNaN(m)) continue
    // PostgreSQL systems: the ratio is to their baseline (Keyv on the same server), not to raw.
    const base = s.baseline === undefined ? raw : med(samples, id, s.baseline)
    results[id][s.name] = s.baseline === undefined
      ? { nsPerOp: m, ratioToRaw: m / raw, samples: samples[id][s.name] }
      : { nsPerOp: m, ratioTo: s.baseline, ratio: m / base, samples: samples[id][s.name] }
  }
}
const blocking = {}
for (const name of Object.keys(extra.blockingP50 ?? {})) {
  blocking[name] = { p50Ns: med(extra, 'blockingP50', name), p99Ns: med(extra, 'blockingP99', name) }
}

// The issue's targets, as ratios within this run.
const gs = (id) => results[id]?.groupstore?.nsPerOp
const gsPg = (id) => results[id]?.['groupstore-pg']?.nsPerOp
const raw = (id) => results[id]?.raw?.nsPerOp
const conditional = (of) => Math.max(of('setIfAbsent'), of('setIfRevision')) / of('atomicPlain')
const targets = [
  { name: 'get ≤ 1.3× raw', value: gs('get') / raw('get'), limit: 1.3 },
  { name: 'set ≤ 1.3× raw', value: gs('set') / raw('set'), limit: 1.3 },
  { name: 'getAll of 10k ≤ 0.5× raw', value: gs('getAll') / raw('getAll'), limit: 0.5 },
  { name: 'count (TTL filter) ≤ 1.2× raw count (none)', value: gs('count') / raw('count'), limit: 1.2 },
  { name: 'scoped set: 100k namespace ≤ 1.5× 100 namespace', value: gs('scoped100k') / gs('scoped100'), limit: 1.5 },
  { name: 'scoped set (100k namespace) ≤ 2× plain set', value: gs('scoped100k') / gs('scopedPlain'), limit: 2 },
  { name: 'set + watcher + onChange ≤ 1.5× plain set', value: gs('watched') / gs('watchPlain'), limit: 1.5 },
  { name: 'durable sequential set ≤ 1.2× raw', value: gs('durableSet') / raw('durableSet'), limit: 1.2 },
  {
    // The target is for 10,000 writes issued together; a quick run issues fewer, over which a batch's fixed costs weigh more.
    name: `durable concurrent set ≤ 10 µs${n.durableConcurrent === 10_000 ? '' : ` (${n.durableConcurrent.toLocaleString('en-GB')} at once: the target is for 10,000)`}`,
    value: gs('durableConcurrent') / 1000,
    limit: 10,
    unit: 'µs',
  },
  { name: 'durable concurrent > 20× sequential rate', value: gs('durableSet') / gs('durableConcurrent'), limit: 20, above: true },
  // Five bursts of concurrent durable sets (10,000 each; a quick run 2,000): the event loop keeps running.
  { name: 'bursts: longest gap between 1 ms timer ticks ≤ 10 ms', value: gs('stallMaxGap') / 1e6, limit: 10, unit: 'ms' },
  { name: 'bursts: slowest get issued during a burst ≤ 10 ms', value: gs('stallReadMax') / 1e6, limit: 10, unit: 'ms' },
  {
    name: `bursts: durable concurrent set ≤ 10 µs${n.durableConcurrent === 10_000 ? '' : ` (bursts of ${n.durableConcurrent.toLocaleString('en-GB')})`}`,
    value: gs('stallSet') / 1000,
    limit: 10,
    unit: 'µs',
  },
  // The atomic operations, each as a ratio to groupstore's own plain operation in the same run.
  { name: 'conditional set (ifAbsent, ifRevision: the dearer) ≤ 1.2× plain set', value: conditional(gs), limit: 1.2 },
  { name: 'increment ≤ 1.3× plain set', value: gs('increment') / gs('atomicPlain'), limit: 1.3 },
  { name: 'getMany of 100 ≤ 0.3× 100 sequential gets', value: gs('getMany100') / gs('get100'), limit: 0.3 },
  { name: 'PostgreSQL: conditional set ≤ 1.2× plain set', value: conditional(gsPg), limit: 1.2 },
  { name: 'PostgreSQL: increment ≤ 1.3× plain set', value: gsPg('increment') / gsPg('atomicPlain'), limit: 1.3 },
  { name: 'PostgreSQL: getMany of 100 ≤ 0.1× 100 sequential gets', value: gsPg('getMany100') / gsPg('get100'), limit: 0.1 },
]
if (extra.pgRoundTrips !== undefined) {
  const trips = extra.pgRoundTrips
  for (const label of ['set ifAbsent', 'set ifRevision', 'increment']) {
    targets.push({ name: `PostgreSQL: ${label} alone is one round trip`, value: trips[label], limit: 1, unit: 'round trips' })
  }
}
// Not a target: what the change log adds to a durable write.
const changeLogCost = {
  sequential: gs('durableSet') / gs('durableSetNoLog'),
  concurrent: gs('durableConcurrent') / gs('durableConcurrentNoLog'),
}
if (memory !== undefined) {
  targets.push({ name: `entries() over ${memory.keys.toLocaleString('en-GB')} keys: heap growth < 50 MiB`, value: memory.heapGrowthMiB, limit: 50, unit: 'MiB' })
}
for (const t of targets) t.met = Number.isFinite(t.value) ? (t.above ? t.value > t.limit : t.value <= t.limit) : null

// The tables.
const baselines = [...new Set(systems.filter((s) => s.baseline !== undefined).map((s) => s.baseline))]
const header = [
  `workload (time per op, ratio to raw${baselines.length > 0 ? `; -pg columns: PostgreSQL, ratio to ${baselines.join(', ')} on the same server` : ''})`,
  ...systems.map((s) => s.name),
]
const rows = [header]
for (const [id, m] of Object.entries(MEASUREMENTS)) {
  if (results[id] === undefined) continue
  rows.push([
    `${m.label} (per ${m.op})`,
    ...systems.map((s) => {
      const r = results[id][s.name]
      if (r === undefined) return 'n/a'
      if (s.name === 'raw' || s.name === s.baseline) return formatNs(r.nsPerOp)
      return `${formatNs(r.nsPerOp)} ${formatRatio(r.ratioToRaw ?? r.ratio)}`
    }),
  ])
}
const blockRows = [['event-loop time one durable sequential write blocks', 'p50', 'p99']]
for (const [name, b] of Object.entries(blocking)) blockRows.push([name, formatNs(b.p50Ns), formatNs(b.p99Ns)])
const targetRows = [['target', 'measured', 'met']]
for (const t of targets) {
  const v = !Number.isFinite(t.value) ? 'n/a' : t.unit !== undefined ? `${t.value.toFixed(2)} ${t.unit}` : `${t.value.toFixed(2)}×`
  targetRows.push([t.name, v, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO'])
}
const render = flags.markdown ? markdownTable : table
console.log()
console.log(render(rows))
const caps = systems.filter((s) => s.cap !== undefined).map((s) => `${s.name} ${s.cap.toLocaleString('en-GB')}`)
if (caps.length > 0) console.log(`(at most this many operations per timed measurement: ${caps.join(', ')})`)
const pgCaps = systems.filter((s) => s.postgres && results.entries?.[s.name] !== undefined)
if (pgCaps.length > 0) console.log(`(entries on PostgreSQL walks a group of at most ${Math.min(...pgCaps.map((s) => s.cap)).toLocaleString('en-GB')} keys)`)
console.log()
console.log(render(blockRows))
if (memory !== undefined) {
  console.log()
  console.log(`entries() over ${memory.keys.toLocaleString('en-GB')} keys (file): heap grew ${memory.heapGrowthMiB.toFixed(1)} MiB, ${formatNs(memory.nsPerEntry)} per entry`)
}
if (Number.isFinite(changeLogCost.sequential)) {
  console.log()
  console.log(
    `change log cost (groupstore with it / without it, durable file): sequential set ${formatRatio(changeLogCost.sequential)}, ` +
      `concurrent sets ${formatRatio(changeLogCost.concurrent)}`,
  )
}
if (extra.pgRoundTrips !== undefined) {
  console.log()
  console.log(
    'PostgreSQL round trips per operation, nothing else queued (calls of pg Client#query): ' +
      Object.entries(extra.pgRoundTrips).map(([label, n]) => `${label} ${n}`).join(', '),
  )
}
console.log()
console.log(render(targetRows))
const after = machine()
console.log()
console.log(`took ${((Date.now() - began) / 1000).toFixed(0)} s; load average now ${after.loadAverage.join(' ')}`)

if (save) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results')
  mkdirSync(dir, { recursive: true })
  const report = {
    startedAt: startedAt.toISOString(),
    machine: info,
    loadAverageAfter: after.loadAverage,
    config: {
      quick,
      repeats,
      sizes: n,
      systems: systems.map((s) => s.name),
      caps: Object.fromEntries(systems.filter((s) => s.cap !== undefined).map((s) => [s.name, s.cap])),
      workloads: workloads.map((w) => w.name),
    },
    results,
    blocking,
    memory,
    changeLogCost,
    pgRoundTrips: extra.pgRoundTrips,
    targets,
  }
  const text = `${JSON.stringify(report, null, 2)}\n`
  const stamp = startedAt.toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')
  // A quick run does not replace the full run's latest.json (which docs/performance.md shows).
  const latest = quick ? 'latest-quick.json' : 'latest.json'
  writeFileSync(join(dir, latest), text)
  writeFileSync(join(dir, `${stamp}${quick ? '-quick' : ''}.json`), text)
  console.log(`results written to bench/results/${latest} and bench/results/${stamp}${quick ? '-quick' : ''}.json`)
}
