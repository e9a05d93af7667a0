// `npm run bench:churn`: the size a file store reaches under sustained
// overwrites, with its default options and no explicit purge, against the
// same writes with `changeLog: false`. By default 500,000 sets of 100-byte
// values over 10,000 keys, issued in waves of concurrent sets (each wave one
// group commit). Prints the database file, its WAL and their sum for each
// store while it is still open (the WAL is removed when the last connection
// closes), the pages SQLite keeps free for reuse, the change log's entries,
// and the ratio of the two sums: the target is at most 3×.
//
//   node bench/churn.js [--writes N] [--keys N] [--wave N] [--value-bytes N] [--keep]
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { tempDir } from './lib/systems.js'

const { values: flags } = parseArgs({
  options: {
    writes: { type: 'string', default: '500000' },
    keys: { type: 'string', default: '10000' },
    wave: { type: 'string', default: '100' },
    'value-bytes': { type: 'string', default: '100' },
    keep: { type: 'boolean', default: false },
  },
})
const writes = Number(flags.writes)
const keys = Number(flags.keys)
const wave = Number(flags.wave)
const valueBytes = Number(flags['value-bytes'])
for (const [name, n] of Object.entries({ writes, keys, wave, valueBytes })) {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`bench/churn: --${name} must be a positive integer`)
}

const MiB = 2 ** 20
const size = (path) => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** The same pseudo-random sequence of keys in every run and for every store. */
function* keyOrder() {
  let seed = 0x2545f491
  for (let i = 0; i < writes; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    yield `key-${String(seed % keys).padStart(6, '0')}`
  }
}

const value = (i) => `${i}:`.padEnd(valueBytes, 'abcdefghijklmnopqrstuvwxyz')

/** Runs the churn on a fresh file; answers what it measured while the store was still open. */
async function churn(file, options) {
  const store = await Store.open(file, options)
  const start = process.hrtime.bigint()
  let i = 0
  let pending = []
  for (const key of keyOrder()) {
    pending.push(store.set('sessions', key, value(i++)))
    if (pending.length === wave) {
      await Promise.all(pending)
      pending = []
    }
  }
  await Promise.all(pending)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const db = new Database(file, { readonly: true })
  const pages = db.pragma('page_count', { simple: true })
  const free = db.pragma('freelist_count', { simple: true })
  const pageSize = db.pragma('page_size', { simple: true })
  const rows = db.prepare('SELECT count(*) FROM kv').pluck().get()
  const logged = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'kv_changes'").pluck().get()
  const log = logged === 1 ? db.prepare('SELECT count(*) FROM kv_changes').pluck().get() : 0
  db.close()
  const measured = {
    seconds,
    file: size(file),
    wal: size(`${file}-wal`),
    freeBytes: free * pageSize,
    usedBytes: (pages - free) * pageSize,
    rows,
    log,
  }
  await store.close()
  measured.closedFile = size(file)
  return measured
}

const tmp = tempDir('churn')
try {
  console.log(
    `churn: ${writes.toLocaleString('en-GB')} sets of ${valueBytes}-byte values over ${keys.toLocaleString('en-GB')} keys, ` +
      `in waves of ${wave} concurrent sets, file stores with durability 'full', no explicit purge`,
  )
  const results = {}
  for (const [label, options] of [
    ['changeLog: false', { changeLog: false }],
    ['default options', undefined],
  ]) {
    process.stdout.write(`${label}: `)
    results[label] = await churn(join(tmp.dir, `${label.replace(/\W+/g, '-')}.db`), options)
    console.log(`${results[label].seconds.toFixed(1)} s`)
  }
  const mib = (b) => `${(b / MiB).toFixed(2)} MiB`
  console.log()
  console.log('store              file        WAL         file + WAL  free pages  log entries  file after close')
  for (const [label, r] of Object.entries(results)) {
    console.log(
      `${label.padEnd(17)}  ${mib(r.file).padStart(10)}  ${mib(r.wal).padStart(10)}  ${mib(r.file + r.wal).padStart(10)}  ` +
        `${mib(r.freeBytes).padStart(10)}  ${r.log.toLocaleString('en-GB').padStart(11)}  ${mib(r.closedFile).padStart(16)}`,
    )
  }
  const base = results['changeLog: false']
  const logged = results['default options']
  const ratio = (logged.file + logged.wal) / (base.file + base.wal)
  console.log()
  console.log(`file + WAL, default options / changeLog: false: ${ratio.toFixed(2)}× (target ≤ 3×: ${ratio <= 3 ? 'met' : 'NOT met'})`)
  console.log(`file after close, default options / changeLog: false: ${(logged.closedFile / base.closedFile).toFixed(2)}×`)
  if (flags.keep) console.log(`files kept in ${tmp.dir}`)
} finally {
  if (!flags.keep) tmp.remove()
}
