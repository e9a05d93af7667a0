// The checks of a PostgreSQL fault run: what each caller was told against
// what the database holds afterwards, and what each watcher saw against the
// change log. Answers the figures and a list of failures (empty when every
// promise held).
//
// Outcomes a fault may give: 'ack'; ERR_STORE_UNAVAILABLE and ERR_STORE_BUSY,
// after which nothing may have been applied; ERR_COMMIT_UNKNOWN, after which
// either is allowed. Anything else (another code, an error that is not a
// StoreError, a call that never settled) is a failure.

const NOT_APPLIED = new Set(['ERR_STORE_UNAVAILABLE', 'ERR_STORE_BUSY'])
const UNKNOWN = 'ERR_COMMIT_UNKNOWN'

export function checkFaultRun({ rows, changes, latest, writerReports, watcherReports }) {
  const failures = []
  const fail = (s) => {
    if (failures.length < 200) failures.push(s)
  }
  const stats = { acknowledged: 0, byOutcome: {}, lost: 0, duplicated: 0, appliedThoughRefused: 0, hangs: 0, slowestMs: 0, slowestFailureMs: 0, escaped: 0, unknownByOp: {} }
  const data = new Map(rows.map((r) => [`${r.grp}\0${r.key}`, r.value]))
  const value = (g, k) => data.get(`${g}\0${k}`)
  /** How many log entries of each (group, key). */
  const logged = new Map()
  const lastChange = new Map()
  for (const c of changes) {
    const id = `${c.grp}\0${c.key}`
    logged.set(id, (logged.get(id) ?? 0) + 1)
    lastChange.set(id, c)
  }

  // The log: revisions without a gap, ending at the counter; its last entry per key agrees with the data.
  for (let i = 1; i < changes.length; i++) {
    if (Number(changes[i].revision) !== Number(changes[i - 1].revision) + 1) {
      fail(`change log: revision ${changes[i].revision} follows ${changes[i - 1].revision}`)
    }
  }
  if (changes.length > 0 && Number(changes.at(-1).revision) !== latest) fail(`change log ends at ${changes.at(-1).revision}, the counter says ${latest}`)
  for (const [id, v] of data) {
    const c = lastChange.get(id)
    if (c === undefined || c.type !== 'set' || c.value !== v) fail(`change log disagrees with the data on ${id.replace('\0', '/')}`)
  }

  for (const w of writerReports) {
    if (w.failed) {
      fail(w.failed)
      if (w.hang) stats.hangs++
      continue
    }
    stats.slowestMs = Math.max(stats.slowestMs, w.slowestMs)
    stats.hangs += w.hangs.length
    for (const h of w.hangs) fail(`writer ${w.id}: ${h}`)
    stats.escaped += w.escaped.length
    for (const e of w.escaped) fail(`writer ${w.id}: ${e}`)
    for (const e of w.recoveryErrors) fail(`writer ${w.id}: a write after the faults failed (the store did not recover): ${e}`)
    const increments = { ack: 0, unknown: 0, results: new Set() }
    const chain = []
    for (const op of w.ops) {
      stats.byOutcome[op.outcome] = (stats.byOutcome[op.outcome] ?? 0) + 1
      if (op.outcome !== 'ack' && op.ms !== undefined) stats.slowestFailureMs = Math.max(stats.slowestFailureMs, op.ms)
      if (op.outcome === UNKNOWN) stats.unknownByOp[op.op] = (stats.unknownByOp[op.op] ?? 0) + 1
      const at = `writer ${w.id}: ${op.op} ${op.g}/${op.k}`
      if (op.outcome === 'ack') stats.acknowledged++
      else if (!NOT_APPLIED.has(op.outcome) && op.outcome !== UNKNOWN) {
        if (op.outcome !== 'hang') fail(`${at} failed with ${op.outcome}: ${op.message}`)
        continue
      }
      const applied = NOT_APPLIED.has(op.outcome) ? false : op.outcome === 'ack' ? true : undefined
      if (op.op === 'incr') {
        if (applied === true) {
          increments.ack++
          if (increments.results.has(op.result)) fail(`${at}: two increments answered ${op.result}`)
          increments.results.add(op.result)
        } else if (applied === undefined) increments.unknown++
        continue
      }
      if (op.op === 'ifRevision') {
        chain.push(op)
        if (applied && op.result === false) fail(`${at}: ifRevision ${op.base} refused on a key only this writer writes`)
        continue
      }
      if (op.op === 'ifAbsent' && applied && op.result === false) {
        fail(`${at}: ifAbsent refused on a key nobody else writes (applied twice?)`)
        stats.duplicated++
        continue
      }
      // set, ifAbsent, tx: each writes its own key once.
      const expected = op.op === 'tx' ? undefined : op.v
      const found = value(op.g, op.k)
      const count = logged.get(`${op.g}\0${op.k}`) ?? 0
      if (count > 1) {
        stats.duplicated++
        fail(`${at}: applied ${count} times`)
      }
      if (applied === true) {
        if (found === undefined || (expected !== undefined && found !== expected)) {
          stats.lost++
          fail(`${at}: acknowledged but ${found === undefined ? 'missing' : `holds ${found}`}`)
        }
      } else if (applied === false && found !== undefined) {
        stats.appliedThoughRefused++
        fail(`${at}: rejected with ${op.outcome} (nothing applied) but present`)
      }
    }
    // The counter: at least its acknowledged increments, at most those plus the unknown ones.
    const counter = Number(value('counters', `w${w.id}`) ?? 0)
    if (counter < increments.ack) {
      stats.lost += increments.ack - counter
      fail(`writer ${w.id}: counter ${counter} below its ${increments.ack} acknowledged increments`)
    }
    if (counter > increments.ack + increments.unknown) {
      stats.duplicated += counter - increments.ack - increments.unknown
      fail(`writer ${w.id}: counter ${counter} above ${increments.ack} acknowledged + ${increments.unknown} unknown increments`)
    }
    // The chain: its value is the last acknowledged step's, or a later step's whose outcome is unknown.
    const lastAck = chain.findLastIndex((op) => op.outcome === 'ack' && op.result !== false)
    if (lastAck >= 0) {
      const allowed = new Set([chain[lastAck].v, ...chain.slice(lastAck + 1).filter((op) => op.outcome === UNKNOWN).map((op) => op.v)])
      const found = value(`c${w.id}`, 'chain')
      if (!allowed.has(found)) {
        stats.lost++
        fail(`writer ${w.id}: chain holds ${found}, expected one of ${[...allowed].join(', ')}`)
      }
    }
  }
  const a = Number(value('bank', 'a'))
  const b = Number(value('bank', 'b'))
  if (a + b !== 2000) fail(`bank: a + b = ${a} + ${b}, not 2000: a transaction was half-applied`)

  // Watchers: every revision after their start, once, in order, as in the log.
  const byRevision = new Map(changes.map((c) => [Number(c.revision), c]))
  stats.watcherEvents = 0
  stats.watcherResumes = 0
  stats.watcherErrors = {}
  for (const r of watcherReports) {
    if (r.failed) {
      fail(r.failed)
      if (r.hang) stats.hangs++
      continue
    }
    stats.escaped += r.escaped.length
    for (const e of r.escaped) fail(`watcher ${r.id}: ${e}`)
    if (r.hang) {
      stats.hangs++
      const last = r.events.at(-1)?.[0]
      fail(
        `watcher ${r.id}: had not seen revision ${latest} within its time (from ${r.since}: ${r.events.length} events, ` +
          `the last ${last ?? 'none'}; ${r.resumes} resumes; errors: ${r.errors.join(', ') || 'none'})`,
      )
    }
    if (r.missed > 0) fail(`watcher ${r.id}: ${r.missed} revisions reported missed (nothing was pruned)`)
    stats.watcherEvents += r.events.length
    stats.watcherResumes += r.resumes
    for (const code of r.errors) stats.watcherErrors[code] = (stats.watcherErrors[code] ?? 0) + 1
    let expected = r.since + 1
    for (const [revision, type, group, key, v] of r.events) {
      if (revision !== expected) {
        fail(`watcher ${r.id}: saw revision ${revision} where ${expected} was due`)
        expected = revision + 1
        if (failures.length > 150) break
        continue
      }
      const c = byRevision.get(revision)
      if (c === undefined || c.type !== type || c.grp !== group || c.key !== key || (c.value ?? null) !== v) {
        fail(`watcher ${r.id}: revision ${revision} is ${type} ${group}/${key}, the log says ${c?.type} ${c?.grp}/${c?.key}`)
      }
      expected++
    }
    if (!r.hang && expected !== latest + 1) fail(`watcher ${r.id}: ended at revision ${expected - 1}, the log at ${latest}`)
  }
  stats.revisions = latest
  return { stats, failures }
}
