// `npm run bench:scale`: how groupstore's costs grow with the size of a
// database file, beside raw better-sqlite3 on go-store's schema (the `raw`
// system of the benchmark: a `kv` table with its primary key, no other
// index). For each size, both files are filled with the same keys (groups
// of 10,000 keys, 100-byte values): raw with plain INSERTs in transactions
// of 10,000, groupstore through its API, one `store.transaction` of 10,000
// sets per group (change log and all). Then a few thousand operations per
// measurement, the two systems taking turns in slices: get of a random key,
// set (an overwrite of a random key, each its own commit), count of one
// 10,000-key group, getAll of one. Both files use `durability: 'normal'`
// (no fsync per commit: with one, the fsync would hide the B-tree's cost).
// Then the bytes on disk per key (file and WAL, after closing). The files
// are deleted at the end (--keep keeps them).
//
//   node bench/scale.js [--sizes 10000,100000,1000000,10000000] [--keep]
//
// The 10M size writes about 3 GB and takes several minutes.
import { statSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { formatNs, formatRatio, markdownTable } from './lib/stats.js'
import { SYSTEMS, tempDir } from './lib/systems.js'

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000,10000000' },
    keep: { type: 'boolean', default: false },
  },
})
const sizes = flags.sizes.split(',').map(Number)
for (const n of sizes) {
  if (!Number.isInteger(n) || n < 10_000 || n % 10_000 !== 0) throw new RangeError('bench/scale: every size must be a multiple of 10,000')
}

const GROUP = 10_000
const group = (g) => `group-${String(g).padStart(5, '0')}`
const key = (i) => `key-${String(i).padStart(6, '0')}`
const value = (i) => `${i}:`.padEnd(100, 'abcdefghijklmnopqrstuvwxyz')
const SLICES = 10
const MEASURES = {
  get: { count: 5_000, label: 'get' },
  set: { count: 2_000, label: 'set' },
  count: { count: 200, label: 'count, 10k-key group' },
  getAll: { count: 20, label: 'getAll, 10k-key group' },
}

/** A pseudo-random sequence, the same in every run. */
function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

const fileBytes = (path) => {
  let total = 0
  for (const p of [path, `${path}-wal`]) {
    try {
      total += statSync(p).size
    } catch {
      // no WAL
    }
  }
  return total
}

/** Fills one system with `n` keys; answers the seconds taken. */
async function fill(handle, n) {
  const start = process.hrtime.bigint()
  for (let g = 0; g < n / GROUP; g++) {
    const pairs = function* () {
      for (let i = 0; i < GROUP; i++) yield [key(i), value(g * GROUP + i)]
    }
    await handle.s.load(group(g), pairs())
  }
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Times `count` calls of `op(handle, i)` per system, in slices taking turns; answers ns per call per system. */
async function interleaved(handles, count, op) {
  const total = handles.map(() => 0)
  const per = Math.ceil(count / SLICES)
  for (let k = 0; k < SLICES; k++) {
    for (let j = 0; j < handles.length; j++) {
      const h = (j + k) % handles.length
      const start = process.hrtime.bigint()
      for (let i = k * per; i < Math.min(count, (k + 1) * per); i++) await op(handles[h], i)
      total[h] += Number(process.hrtime.bigint() - start)
    }
  }
  return total.map((t) => t / count)
}

const rows = [['keys', 'measure', 'raw', 'groupstore', 'ratio']]
const results = {}
console.log(`scale: sizes ${sizes.map((n) => n.toLocaleString('en-GB')).join(', ')}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
for (const n of sizes) {
  const tmp = tempDir(`scale-${n}`)
  try {
    const systems = ['raw', 'groupstore'].map((name) => SYSTEMS.find((s) => s.name === name))
    const handles = []
    for (const system of systems) {
      const file = join(tmp.dir, `${system.name}.db`)
      handles.push({ system, file, s: await system.open({ file, durable: false, store: { durability: 'normal', purgeInterval: 0 } }) })
    }
    const loaded = []
    for (const h of handles) loaded.push(await fill(h, n))
    const groups = n / GROUP
    const middle = group(Math.floor(groups / 2))
    const measured = {}
    // Random keys, the same for both systems.
    const next = random(n)
    const picks = Array.from({ length: MEASURES.get.count }, () => Math.floor(next() * n))
    for (const h of handles) for (let i = 0; i < 500; i++) await h.s.get(group(Math.floor(picks[i] / GROUP)), key(picks[i] % GROUP))
    measured.get = await interleaved(handles, MEASURES.get.count, (h, i) => h.s.get(group(Math.floor(picks[i] / GROUP)), key(picks[i] % GROUP)))
    measured.set = await interleaved(handles, MEASURES.set.count, (h, i) => {
      const k = picks[(i * 7) % picks.length]
      return h.s.set(group(Math.floor(k / GROUP)), key(k % GROUP), value(i))
    })
    for (const h of handles) if ((await h.s.count(middle)) !== GROUP) throw new Error(`${h.system.name}: count is wrong`)
    measured.count = await interleaved(handles, MEASURES.count.count, (h) => h.s.count(middle))
    for (const h of handles) if (Object.keys(await h.s.getAll(middle)).length !== GROUP) throw new Error(`${h.system.name}: getAll is wrong`)
    measured.getAll = await interleaved(handles, MEASURES.getAll.count, (h) => h.s.getAll(middle))
    for (const h of handles) await h.s.close()
    const bytes = handles.map((h) => fileBytes(h.file) / n)
    results[n] = { loadSeconds: loaded, measured, bytesPerKey: bytes }
    for (const [id, m] of Object.entries(MEASURES)) {
      const [raw, gs] = measured[id]
      rows.push([n.toLocaleString('en-GB'), m.label, formatNs(raw), formatNs(gs), formatRatio(gs / raw)])
    }
    rows.push([n.toLocaleString('en-GB'), 'bytes on disk per key', bytes[0].toFixed(0), bytes[1].toFixed(0), formatRatio(bytes[1] / bytes[0])])
    console.log(
      `${n.toLocaleString('en-GB')} keys: filled in ${loaded.map((s) => `${s.toFixed(1)} s`).join(' (raw), ')} (groupstore); ` +
        `get ${formatNs(measured.get[1])} (${formatRatio(measured.get[1] / measured.get[0])}), ` +
        `set ${formatNs(measured.set[1])} (${formatRatio(measured.set[1] / measured.set[0])}), ` +
        `${bytes[1].toFixed(0)} B/key (${formatRatio(bytes[1] / bytes[0])}); load average ${loadavg()[0].toFixed(2)}`,
    )
  } finally {
    if (flags.keep) console.log(`files kept in ${tmp.dir}`)
    else tmp.remove()
  }
}
console.log()
console.log(markdownTable(rows))
console.log()
console.log(`load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
