// Crash safety, short version: a writer is killed with SIGKILL at random
// moments and every acknowledged write must survive. `npm run torture` runs
// the long version (at least 200 kills) and prints the figures.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { crashRounds, killRound, verifyRound } from './reliability/crash-check.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-torture-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('crash safety (SIGKILL at random moments)', () => {
  for (const durability of ['full', 'normal']) {
    it(`keeps every acknowledged write, durability '${durability}'`, async () => {
      const totals = await crashRounds({ dir: join(dir, durability), durability, rounds: 4, seed: 7, maxDelay: 300, earlyKill: 0.25 })
      assert.deepEqual(totals.failures, [])
      assert.equal(totals.rounds, 4)
      assert.equal(totals.lost, 0)
      assert.equal(totals.halfApplied, 0)
      assert.equal(totals.integrityFailures, 0)
      assert.ok(totals.acknowledged > 0, 'some writes were acknowledged before the kills')
    })
  }

  it('the checker notices a lost write, a half-applied transaction and a change log out of step', async () => {
    // Keeps the harness honest: the same checks, on a file damaged on purpose.
    const file = join(dir, 'tampered.db')
    const log = join(dir, 'tampered.log')
    let entries = []
    for (let seed = 11; !entries.some((e) => e.t === 'a' && e.id.includes('-t')); seed++) {
      await killRound({ file, durability: 'normal', round: seed, seed, log, maxDelay: 400, earlyKill: 0 })
      entries = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    }
    const clean = await verifyRound({ file, log, baseline: new Map(), durability: 'normal' })
    assert.deepEqual(clean.failures, [])

    const acked = new Set(entries.filter((e) => e.t === 'a').map((e) => e.id))
    const set = entries.find((e) => e.t === 'i' && e.op === 'set' && e.g === 'seq' && acked.has(e.id))
      ?? entries.find((e) => e.t === 'i' && e.op === 'set' && e.g === 'conc' && acked.has(e.id))
    const tx = entries.find((e) => e.t === 'i' && e.op === 'tx' && acked.has(e.id))
    const db = new Database(file)
    db.prepare('DELETE FROM kv WHERE grp = ? AND key = ?').run(set.g, set.k)
    db.prepare('DELETE FROM kv WHERE grp = ? AND key = ?').run('tx-2', tx.id)
    db.close()
    const damaged = await verifyRound({ file, log, baseline: new Map(), durability: 'normal' })
    assert.ok(damaged.stats.lost >= 2, `lost ${damaged.stats.lost}`)
    assert.equal(damaged.stats.halfApplied, 1)
    assert.ok(damaged.failures.some((f) => f.includes(`${set.g}/${set.k}`)))
    assert.ok(damaged.failures.some((f) => f.includes(`transaction ${tx.id} half-applied`)))
    // The rows went without their change log entries.
    assert.ok(damaged.failures.some((f) => f.includes(`change log disagrees with the data on ${set.g}/${set.k}`)))
  })
})
