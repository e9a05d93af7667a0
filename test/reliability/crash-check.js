// The parent of the crash harness: runs crash-writer.js, kills it with
// SIGKILL at a random moment, reopens the file and checks it.
//
// After each kill:
// - the store opens again and its reads agree with the rows in the file;
// - `PRAGMA integrity_check` answers ok;
// - every acknowledged write is there with its value and expiry, and every
//   acknowledged delete is still deleted (a write that was issued but not
//   acknowledged may or may not be there: both are allowed);
// - the change log, written in the same transactions, agrees with the data
//   and its revisions follow one another without a gap;
// - every transaction is all or nothing, a rolled-back transaction left no
//   trace, and bank/a + bank/b is unchanged;
// - everything earlier rounds left in the file is unchanged, and nothing
//   appears that no one wrote.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { BANK_TOTAL, random, TX_TTL, valueFor } from './crash-shared.js'

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url))
const SPECIAL = new Set(['bank', 'meta'])
const gk = (g, k) => `${g}\u0000${k}`

/**
 * Runs the writer once and kills it: after it reports ready plus a random
 * delay up to `maxDelay` ms, or (with probability `earlyKill`) at a random
 * moment of its start-up, before or while it opens the file.
 */
export function killRound({ file, durability, round, seed, log, maxDelay = 400, earlyKill = 0.1 }) {
  const rng = random(seed ^ 0x9e3779b9)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, file, durability, String(round), String(seed), log], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let killed = false
    let ready = false
    const kill = () => {
      if (killed) return
      killed = true
      child.kill('SIGKILL')
    }
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (!ready && d.includes('ready')) {
        ready = true
        setTimeout(kill, Math.floor(rng() * maxDelay))
      }
    })
    if (rng() < earlyKill) setTimeout(kill, Math.floor(rng() * 150))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve({ ready })
      else reject(new Error(`crash writer exited by itself (code ${code}, signal ${signal}) before the kill:\n${stderr}`))
    })
  })
}

/** The rows of the file, keyed by group and key, and the change log after `since`. */
function readRows(file, since) {
  const db = new Database(file)
  try {
    const integrity = db.pragma('integrity_check', { simple: true })
    const rows = new Map()
    for (const r of db.prepare('SELECT grp, key, value, expires_at FROM kv').all()) {
      rows.set(gk(r.grp, r.key), { g: r.grp, k: r.key, value: r.value, expiresAt: r.expires_at })
    }
    const hasLog = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv_changes'").get() !== undefined
    const changes = hasLog
      ? db.prepare('SELECT revision, type, grp, key, value FROM kv_changes WHERE revision > ? ORDER BY revision').all(since)
      : undefined
    return { integrity, rows, changes }
  } finally {
    db.close()
  }
}

/**
 * The change log is written in the same transaction as the data: replaying
 * the entries after `since` on the earlier rows must give the rows in the
 * file, and revisions must follow one another without a gap.
 */
function checkChangeLog(changes, baseline, since, rows, failures) {
  const state = new Map([...baseline].map(([id, r]) => [id, r.value]))
  let expected = since + 1
  for (const c of changes) {
    if (c.revision !== expected) {
      failures.push(`change log: revision ${c.revision} follows ${expected - 1}`)
      expected = c.revision
    }
    expected++
    if (c.type === 'set') state.set(gk(c.grp, c.key), c.value)
    else if (c.type === 'delete' || c.type === 'expire') state.delete(gk(c.grp, c.key))
    else if (c.type === 'delete_group') {
      for (const id of [...state.keys()]) if (id.startsWith(`${c.grp}\u0000`)) state.delete(id)
    } else failures.push(`change log: unknown type ${c.type}`)
  }
  for (const [id, row] of rows) {
    if (state.get(id) !== row.value) failures.push(`change log disagrees with the data on ${row.g}/${row.k}: log ${JSON.stringify(state.get(id))}, file ${JSON.stringify(row.value)}`)
  }
  for (const [id, value] of state) {
    if (!rows.has(id)) failures.push(`change log disagrees with the data on ${id.replace('\u0000', '/')}: log ${JSON.stringify(value)}, file nothing`)
  }
  return expected - 1
}

/** The log's entries; a line cut short by the kill is ignored. */
function readLog(log) {
  if (!existsSync(log)) return []
  const entries = []
  for (const text of readFileSync(log, 'utf8').split('\n')) {
    if (text === '') continue
    try {
      entries.push(JSON.parse(text))
    } catch {
      // the last line, torn by the kill
    }
  }
  return entries
}

/** What a key may hold after an operation: a value with an expiry window, or nothing. */
function setState(g, k, ttl, t0, t1) {
  if (ttl === undefined) return { present: true, value: valueFor(g, k), lo: null, hi: null }
  return { present: true, value: valueFor(g, k), lo: t0 + ttl, hi: t1 === undefined ? Infinity : Math.ceil(t1 + ttl) }
}
const ABSENT = { present: false }

function matches(state, row, now) {
  if (!state.present) return row === undefined
  if (row === undefined) return state.lo !== null && state.lo <= now // expired, then purged
  if (row.value !== state.value) return false
  if (state.lo === null) return row.expiresAt === null
  return row.expiresAt !== null && row.expiresAt >= state.lo && row.expiresAt <= state.hi
}

function sameRow(a, b) {
  return a !== undefined && b !== undefined && a.value === b.value && a.expiresAt === b.expiresAt
}

/**
 * Checks the file after a kill against the log of the round and the rows
 * earlier rounds left (`baseline`). Answers the figures and every failure.
 */
export async function verifyRound({ file, log, baseline, durability, baselineRevision = 0 }) {
  const now = Date.now()
  const failures = []
  // The store itself must open the crashed file and read it.
  const store = await Store.open(file, { durability, purgeInterval: 0 })
  const seen = new Map()
  try {
    for (const g of await store.groups()) {
      for (const [k, v] of Object.entries(await store.getAll(g))) seen.set(gk(g, k), v)
    }
  } finally {
    await store.close()
  }
  const { integrity, rows, changes } = readRows(file, baselineRevision)
  if (integrity !== 'ok') failures.push(`integrity_check: ${integrity}`)
  const revision = changes === undefined ? baselineRevision : checkChangeLog(changes, baseline, baselineRevision, rows, failures)
  const checkedAt = Date.now()
  for (const [id, row] of rows) {
    const live = row.expiresAt === null || row.expiresAt > checkedAt
    if (live && seen.get(id) !== row.value && !(row.expiresAt !== null && row.expiresAt <= Date.now())) {
      failures.push(`store reads ${JSON.stringify(seen.get(id))} for ${row.g}/${row.k}, the file holds ${JSON.stringify(row.value)}`)
    }
  }
  for (const [id, v] of seen) {
    if (!rows.has(id)) failures.push(`store reads ${JSON.stringify(v)} for ${id.replace('\u0000', '/')}, absent from the file`)
  }

  // Replay the log: each key's possible states, from its last acknowledged write on.
  const entries = readLog(log)
  const ops = new Map()
  const keys = new Map()
  const counter = { acked: 0, issued: 0 }
  const txs = []
  const stats = { acknowledged: 0, issued: 0, transactions: 0, deletes: 0, lost: 0, halfApplied: 0 }
  const addCandidate = (g, k, opId, state) => {
    const id = gk(g, k)
    let key = keys.get(id)
    if (key === undefined) keys.set(id, (key = { g, k, candidates: [] }))
    key.candidates.push({ opId, state })
  }
  for (const e of entries) {
    if (e.t === 'i') {
      ops.set(e.id, { ...e, acked: false })
      stats.issued++
    } else {
      const op = ops.get(e.id)
      op.acked = true
      op.t1 = e.t1
      stats.acknowledged++
      if (op.op === 'tx') stats.transactions++
      if (op.op === 'del' || op.op === 'delgroup') stats.deletes++
    }
  }
  for (const op of ops.values()) {
    switch (op.op) {
      case 'set':
        addCandidate(op.g, op.k, op.id, setState(op.g, op.k, op.ttl, op.t0, op.acked ? op.t1 : undefined))
        break
      case 'del':
        addCandidate(op.g, op.k, op.id, ABSENT)
        break
      case 'delgroup':
        for (const k of op.keys) addCandidate(op.g, k, op.id, ABSENT)
        break
      case 'tx':
        txs.push(op)
        for (const g of ['tx-1', 'tx-2']) addCandidate(g, op.id, op.id, setState(g, op.id))
        addCandidate('tx-3', op.id, op.id, setState('tx-3', op.id, TX_TTL, op.t0, op.acked ? op.t1 : undefined))
        addCandidate('tx-q', op.id, op.id, ABSENT)
        break
      case 'counter':
        counter.issued = Math.max(counter.issued, op.v)
        if (op.acked) counter.acked = Math.max(counter.acked, op.v)
        break
      default:
        failures.push(`unknown op in log: ${JSON.stringify(op)}`)
    }
  }
  const lostOps = new Set()
  for (const [id, key] of keys) {
    let last = -1
    key.candidates.forEach((c, i) => {
      if (ops.get(c.opId).acked) last = i
    })
    const allowed = key.candidates.slice(Math.max(last, 0)).map((c) => c.state)
    if (last < 0) allowed.push(ABSENT)
    const row = rows.get(id)
    if (allowed.some((s) => matches(s, row, now))) continue
    const what = `${key.g}/${key.k}: file holds ${row === undefined ? 'nothing' : JSON.stringify(row)}`
    if (last >= 0) {
      lostOps.add(key.candidates[last].opId)
      failures.push(`acknowledged write lost (${key.candidates[last].opId}): ${what}`)
    } else {
      failures.push(`unacknowledged write half-done: ${what}`)
    }
  }
  stats.lost = lostOps.size

  // Transactions: all or nothing.
  for (const tx of txs) {
    const applied = rows.has(gk('tx-1', tx.id))
    const parts = [rows.has(gk('tx-2', tx.id)), rows.has(gk('tx-3', tx.id)), !rows.has(gk('tx-q', tx.id))]
    if (parts.some((p) => p !== applied)) {
      stats.halfApplied++
      failures.push(`transaction ${tx.id} half-applied: tx-1 ${applied}, tx-2/tx-3/tx-q-deleted ${parts.join('/')}`)
    }
  }
  const a = rows.get(gk('bank', 'a'))
  const b = rows.get(gk('bank', 'b'))
  if ((a === undefined) !== (b === undefined) || (a !== undefined && Number(a.value) + Number(b.value) !== BANK_TOTAL)) {
    failures.push(`bank broken: a=${a?.value} b=${b?.value}`)
  }
  const c = rows.get(gk('meta', 'counter'))
  const before = Number(baseline.get(gk('meta', 'counter'))?.value ?? 0)
  const value = Number(c?.value ?? 0)
  if (value < Math.max(before, counter.acked) || value > Math.max(before, counter.issued)) {
    failures.push(`counter is ${value}: before ${before}, acknowledged ${counter.acked}, issued ${counter.issued}`)
  }

  // Earlier rounds' rows are unchanged; nothing appears that no one wrote.
  for (const [id, row] of baseline) {
    if (keys.has(id) || SPECIAL.has(row.g)) continue
    const nowRow = rows.get(id)
    if (sameRow(row, nowRow)) continue
    if (nowRow === undefined && row.expiresAt !== null && row.expiresAt <= now) continue
    failures.push(`earlier row ${row.g}/${row.k} changed: ${JSON.stringify(row)} -> ${JSON.stringify(nowRow)}`)
  }
  for (const [id, row] of rows) {
    if (!keys.has(id) && !baseline.has(id) && !SPECIAL.has(row.g)) failures.push(`row no one wrote: ${JSON.stringify(row)}`)
  }
  return { stats, failures, rows, integrity, revision }
}

/**
 * Runs `rounds` kill-and-check rounds for one durability, starting a new
 * file every `roundsPerFile` rounds. Answers totals; `onRound` sees each.
 */
export async function crashRounds({ dir, durability, rounds, seed = 1, roundsPerFile = 20, maxDelay, earlyKill, onRound }) {
  mkdirSync(dir, { recursive: true })
  const totals = { durability, rounds: 0, killedBeforeReady: 0, acknowledged: 0, issued: 0, transactions: 0, deletes: 0, lost: 0, halfApplied: 0, integrityFailures: 0, failures: [] }
  let baseline = new Map()
  let baselineRevision = 0
  let file
  for (let round = 0; round < rounds; round++) {
    if (round % roundsPerFile === 0) {
      file = join(dir, `crash-${durability}-${round}.db`)
      baseline = new Map()
      baselineRevision = 0
    }
    const log = join(dir, `crash-${durability}-${round}.log`)
    const roundSeed = (seed * 1_000_003 + round) >>> 0
    const { ready } = await killRound({ file, durability, round, seed: roundSeed, log, maxDelay, earlyKill })
    let result
    if (!existsSync(file)) {
      // Killed before the file was created: nothing to check, nothing acknowledged.
      if (readLog(log).length > 0) throw new Error('writes were logged but there is no file')
      result = { stats: { acknowledged: 0, issued: 0, transactions: 0, deletes: 0, lost: 0, halfApplied: 0 }, failures: [], rows: new Map(), integrity: 'ok', revision: 0 }
    } else {
      result = await verifyRound({ file, log, baseline, baselineRevision, durability })
    }
    rmSync(log, { force: true })
    baseline = result.rows
    baselineRevision = result.revision
    totals.rounds++
    if (!ready) totals.killedBeforeReady++
    for (const name of ['acknowledged', 'issued', 'transactions', 'deletes', 'lost', 'halfApplied']) totals[name] += result.stats[name]
    if (result.integrity !== 'ok') totals.integrityFailures++
    for (const f of result.failures) totals.failures.push(`round ${round} (seed ${roundSeed}): ${f}`)
    onRound?.({ round, ready, ...result.stats, failures: result.failures })
  }
  return totals
}
