// The start-up cost of the command line: wall time of `groupstore get` on a
// small file against `node -e 0`, the runs taking turns so that both see the
// same machine, median of each kept. Prints both medians and their ratio
// (the target of the sustained-load issue: ≤ 1.5×), and beside them the
// floor: a script that only requires better-sqlite3, opens the file
// read-only and prints the row (bench/lib/floor-get.js).
//
//   npm run bench:cli                        # builds first; 10 runs of each
//   node bench/cli-startup.js [runs] [main.js]  # on an existing build, or another
//                                               # build's dist/cli/main.js (before/after)
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median } from './lib/stats.js'

const runs = Number(process.argv[2] ?? 10)
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`bench/cli-startup.js: runs must be a positive integer, got ${process.argv[2]}`)

const cli = process.argv[3] ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'groupstore-cli-startup-'))
const db = join(dir, 'small.db')
const env = { ...process.env }
delete env.GROUPSTORE_DB
delete env.NODE_OPTIONS

/** Runs node with `args` once; answers the wall time in ms. */
function time(args) {
  const start = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return { ms, out: r.stdout }
}

try {
  // A small file: one group of 20 keys.
  for (let i = 0; i < 20; i++) time([cli, '--db', db, 'set', 'config', `key-${i}`, `value-${i}`])
  time([cli, '--db', db, 'set', 'config', 'theme', 'dark'])
  const get = [cli, '--db', db, 'get', 'config', 'theme']
  if (time(get).out !== 'dark') throw new Error('groupstore get did not print the value')
  const floor = [fileURLToPath(new URL('./lib/floor-get.js', import.meta.url)), db, 'config', 'theme']
  if (time(floor).out !== 'dark') throw new Error('bench/lib/floor-get.js did not print the value')
  // One untimed run of each, so that both start from warm file caches.
  time(['-e', '0'])

  const bare = []
  const cmd = []
  const least = []
  for (let i = 0; i < runs; i++) {
    bare.push(time(['-e', '0']).ms)
    cmd.push(time(get).ms)
    least.push(time(floor).ms)
  }
  const a = median(bare)
  const b = median(cmd)
  const c = median(least)
  console.log(`node ${process.version}, ${runs} runs of each, taking turns, median wall time`)
  console.log(`node -e 0                          ${a.toFixed(1)} ms`)
  console.log(`groupstore get config theme        ${b.toFixed(1)} ms`)
  console.log(`ratio                              ${(b / a).toFixed(2)}× (target ≤ 1.5×)`)
  console.log(`floor (better-sqlite3 alone)       ${c.toFixed(1)} ms, ${(c / a).toFixed(2)}×`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
