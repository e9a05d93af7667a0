#!/usr/bin/env node
// The long fault runs: PostgreSQL connections ended with pg_terminate_backend
// for two minutes, then the server stopped for 5 s and started again three
// times, each under 4 writer and 2 watcher processes (on a throwaway server
// of its own, never a shared one); `groupstore serve` SIGKILLed 100 times
// under HTTP load; a disk filling under writes (a tmpfs; needs root). Prints
// the figures docs/reliability.md reports and exits non-zero on any failure.
//
//   npm run faults                          # everything, as documented
//   npm run faults -- --only serve,disk     # some of: terminate, restart, serve, disk
//   npm run faults -- --seconds 30          # a shorter connection-cutting run
//   npm run faults -- --serve-rounds 20 --seed 7
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { diskFill, mountTmpfs } from '../test/reliability/disk-fill.js'
import { pgFaults } from '../test/reliability/pg-fault-run.js'
import { startInstance } from '../test/reliability/pg-instance.js'
import { serveKillRounds } from '../test/reliability/serve-kill.js'

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'terminate,restart,serve,disk' },
    seconds: { type: 'string', default: '120' },
    restarts: { type: 'string', default: '3' },
    'serve-rounds': { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
  },
})
const only = new Set(values.only.split(','))
for (const name of only) if (!['terminate', 'restart', 'serve', 'disk'].includes(name)) throw new RangeError(`--only: unknown run '${name}'`)
const positive = (name) => {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer`)
  return n
}
const seconds = positive('seconds')
const restarts = positive('restarts')
const serveRounds = positive('serve-rounds')
const seed = Number(values.seed)
if (!Number.isInteger(seed)) throw new RangeError('--seed must be an integer')

const out = (s) => process.stdout.write(`${s}\n`)
const load = () => loadavg().map((n) => n.toFixed(1)).join(', ')
const dir = mkdtempSync(join(tmpdir(), 'groupstore-faults-'))
let failed = false
const report = (failures) => {
  if (failures.length === 0) return
  failed = true
  for (const f of failures.slice(0, 50)) out(`  FAILURE ${f}`)
}

out(`groupstore faults: seed ${seed}, Node ${process.version}, ${process.platform}, load average ${load()}`)
try {
  if (only.has('terminate') || only.has('restart')) {
    let instance
    try {
      instance = await startInstance()
    } catch (err) {
      failed = true
      out(`PostgreSQL runs not run: cannot start a throwaway server: ${err.message}`)
    }
    if (instance !== undefined) {
      try {
        out('')
        out('PostgreSQL, 4 writer and 2 watcher processes (busyTimeout 5,000 ms):')
        out('| fault | faults | seconds | acknowledged | ERR_STORE_UNAVAILABLE | ERR_STORE_BUSY | ERR_COMMIT_UNKNOWN | lost | duplicated | applied though refused | hangs | slowest call (ms) | slowest failed call (ms) | watcher events | watcher resumes | load average |')
        out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
        const runs = []
        if (only.has('terminate')) runs.push({ label: `connections ended for ${seconds} s`, mode: 'terminate', durationMs: seconds * 1000 })
        if (only.has('restart')) runs.push({ label: `server stopped 5 s, ${restarts} times`, mode: 'restart', restarts, downMs: 5000, gapMs: 10_000 })
        for (const run of runs) {
          const r = await pgFaults(instance, { ...run, seed })
          const s = r.stats
          const by = (code) => s.byOutcome[code] ?? 0
          out(`| ${run.label} | ${r.faults} | ${r.seconds.toFixed(0)} | ${s.acknowledged} | ${by('ERR_STORE_UNAVAILABLE')} | ${by('ERR_STORE_BUSY')} | ${by('ERR_COMMIT_UNKNOWN')} | ${s.lost} | ${s.duplicated} | ${s.appliedThoughRefused} | ${s.hangs} | ${s.slowestMs} | ${s.slowestFailureMs} | ${s.watcherEvents} | ${s.watcherResumes} | ${load()} |`)
          const other = Object.entries(s.byOutcome).filter(([k]) => !['ack', 'ERR_STORE_UNAVAILABLE', 'ERR_STORE_BUSY', 'ERR_COMMIT_UNKNOWN'].includes(k))
          if (other.length > 0) out(`  other outcomes: ${other.map(([k, v]) => `${k} ${v}`).join(', ')}`)
          if (Object.keys(s.unknownByOp).length > 0) out(`  ERR_COMMIT_UNKNOWN by operation: ${Object.entries(s.unknownByOp).map(([k, v]) => `${k} ${v}`).join(', ')}`)
          if (Object.keys(s.watcherErrors).length > 0) out(`  watcher errors: ${JSON.stringify(s.watcherErrors)}`)
          report(r.failures)
        }
      } finally {
        instance.destroy()
      }
    }
  }

  if (only.has('serve')) {
    out('')
    out(`groupstore serve on a file (durability 'full'), 6 HTTP clients and an event stream, SIGKILL at a random moment:`)
    const started = Date.now()
    const r = await serveKillRounds({
      dir: mkdtempSync(join(dir, 'serve-')),
      rounds: serveRounds,
      seed,
      onRound: ({ round, acknowledged }) => {
        if ((round + 1) % 10 === 0) out(`  round ${round + 1}/${serveRounds}: acknowledged ${acknowledged}`)
      },
    })
    const s = r.stats
    out('| kills | killed while starting | seconds | acknowledged | of which PUTs | of which increments | unanswered | lost | duplicated | hangs | stream events | stream gaps | stream duplicates | load average |')
    out('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
    out(`| ${s.rounds} | ${s.killedWhileStarting} | ${((Date.now() - started) / 1000).toFixed(0)} | ${s.acknowledged} | ${s.puts} | ${s.increments} | ${s.unanswered} | ${s.lost} | ${s.duplicated} | ${s.hangs} | ${s.streamEvents} | ${s.streamGaps} | ${s.streamDuplicates} | ${load()} |`)
    report(r.failures)
  }

  if (only.has('disk')) {
    out('')
    out('A file store on a tmpfs filled by 8 writers until each has met 50 failures, then a filler file deleted:')
    out('| tmpfs | filler freed | seconds | acknowledged | failed writes | codes | reads | failed reads | writes after freeing | lost | hangs |')
    out('| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |')
    // The second row frees less than the change log (WAL) holds: see docs/reliability.md.
    for (const { size, filler, enough } of [{ size: '32m', filler: 16 << 20, enough: true }, { size: '8m', filler: 512 << 10, enough: false }]) {
      const mount = mountTmpfs(size)
      if (typeof mount === 'string') {
        failed = true
        out(`disk run not run: ${mount}`)
        break
      }
      try {
        const started = Date.now()
        const r = await diskFill({ dir: mount.dir, fillerBytes: filler, writers: 8, failuresPerWriter: 50, maxWrites: 200_000 })
        const s = r.stats
        out(`| ${size.replace('m', ' MB')} | ${filler >> 10} KB | ${((Date.now() - started) / 1000).toFixed(1)} | ${s.acknowledged} | ${s.writeFailures} | ${Object.entries(s.codes).map(([k, v]) => `${k} ${v}`).join(', ')} | ${s.reads} | ${s.readFailures} | ${s.writesAfterFreeing}/20 | ${s.lost} | ${s.hangs} |`)
        if (size === '32m') out(`  message: ${s.message?.replace(mount.dir, '…')}`)
        report(enough ? r.failures : r.failures.filter((f) => !f.startsWith('set after/')))
      } finally {
        mount.unmount()
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
out('')
out(failed ? 'faults: FAILED' : 'faults: ok, nothing acknowledged lost')
process.exitCode = failed ? 1 : 0
