#!/usr/bin/env node
// The long reliability run: crash rounds (SIGKILL at random moments) for
// both durabilities, then 4 writer and 2 reader processes on one file with
// 5,000 keys per writer. Prints the figures docs/reliability.md reports and
// exits non-zero on any loss or error.
//
//   npm run torture                       # 110 kills per durability (220 in all)
//   npm run torture -- --rounds 20        # fewer kills per durability
//   npm run torture -- --seed 42          # another sequence of kill moments
//   npm run torture -- --skip-processes   # crash rounds only
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { crashRounds } from '../test/reliability/crash-check.js'
import { manyProcesses } from '../test/reliability/multi-run.js'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '110' },
    seed: { type: 'string', default: '1' },
    'skip-processes': { type: 'boolean', default: false },
  },
})
const rounds = Number(values.rounds)
const seed = Number(values.seed)
if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError('--rounds must be a positive integer')
if (!Number.isInteger(seed)) throw new RangeError('--seed must be an integer')

const dir = mkdtempSync(join(tmpdir(), 'groupstore-torture-'))
let failed = false
const out = (s) => process.stdout.write(`${s}\n`)

try {
  out(`groupstore torture: ${rounds} kills per durability, seed ${seed}, Node ${process.version}, ${process.platform}`)
  const rows = []
  for (const durability of ['full', 'normal']) {
    const started = Date.now()
    const totals = await crashRounds({
      dir: join(dir, durability),
      durability,
      rounds,
      seed,
      onRound: (r) => {
        if (r.failures.length > 0 || (r.round + 1) % 10 === 0) {
          out(`  ${durability} round ${r.round + 1}/${rounds}: acknowledged ${r.acknowledged}, lost ${r.lost}${r.failures.length ? `, FAILURES ${r.failures.length}` : ''}`)
        }
      },
    })
    const seconds = ((Date.now() - started) / 1000).toFixed(0)
    rows.push({ ...totals, seconds })
    if (totals.failures.length > 0) {
      failed = true
      for (const f of totals.failures.slice(0, 50)) out(`  FAILURE ${f}`)
    }
  }
  out('')
  out('| durability | kills | killed while starting | acknowledged writes | of which transactions | of which deletes | writes lost | transactions half-applied | integrity_check not ok | seconds |')
  out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of rows) {
    out(`| ${r.durability} | ${r.rounds} | ${r.killedBeforeReady} | ${r.acknowledged} | ${r.transactions} | ${r.deletes} | ${r.lost} | ${r.halfApplied} | ${r.integrityFailures} | ${r.seconds} |`)
  }

  if (!values['skip-processes']) {
    out('')
    const config = { keys: 5000, maxKeys: 1000, quotaAttempts: 500, maxGroups: 10, groupAttempts: 5 }
    out(`many processes: 4 writers x ${config.keys} keys, 2 readers; shared scope maxKeys ${config.maxKeys} (${4 * config.quotaAttempts} attempts), maxGroups ${config.maxGroups} (${4 * config.groupAttempts} attempts)`)
    out('| durability | seconds | writes acknowledged | slowest window of writes (ms) | missing afterwards | errors seen by callers | quota keys (max seen by readers) | quota groups (max seen) | reads | integrity_check | change log |')
    out('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | --- |')
    for (const durability of ['full', 'normal']) {
      const r = await manyProcesses({ file: join(dir, `processes-${durability}.db`), durability, ...config })
      const errors = [...r.writerReports, ...r.readerReports].flatMap((x) => x.errors)
      const written = r.writerReports.reduce((n, w) => n + w.written, 0)
      const maxSeen = Math.max(...r.readerReports.map((x) => x.maxQuotaKeysSeen))
      const maxGroupsSeen = Math.max(...r.readerReports.map((x) => x.maxQuotaGroupsSeen))
      const reads = r.readerReports.reduce((n, x) => n + x.reads, 0)
      const slowest = Math.max(...r.writerReports.map((w) => w.slowestWriteMs))
      out(`| ${durability} | ${r.seconds.toFixed(1)} | ${written} | ${slowest} | ${r.missing.length} | ${errors.length} | ${r.quotaKeys} (${maxSeen}) | ${r.quotaGroups} (${maxGroupsSeen}) | ${reads} | ${r.integrity} | ${r.changeLog.length === 0 ? 'agrees' : `${r.changeLog.length} problems`} |`)
      if (errors.length > 0 || r.missing.length > 0 || r.quotaKeys > config.maxKeys || r.quotaGroups > config.maxGroups || r.integrity !== 'ok' || maxSeen > config.maxKeys || r.changeLog.length > 0) {
        failed = true
        for (const e of errors.slice(0, 20)) out(`  ERROR ${e}`)
        for (const m of r.missing.slice(0, 20)) out(`  MISSING ${m}`)
        for (const p of r.changeLog) out(`  CHANGE LOG ${p}`)
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
out('')
out(failed ? 'torture: FAILED' : 'torture: ok, nothing lost')
process.exitCode = failed ? 1 : 0
