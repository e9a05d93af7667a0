// A writer process of the PostgreSQL fault runs. argv[2] is a JSON task:
// { url, schema, id, seed, busyTimeout, hangMs }. It opens one store, prints
// "ready", and on "go" writes in windows of 1 to 12 operations issued
// together (plain sets; when the library has them, sets with ifAbsent, a
// chain of sets with ifRevision, increments; transactions moving an amount
// between two shared keys and leaving a marker) until it reads "finish". Then,
// with the server healthy again, the same store (never reopened) must take 20
// writes in a row without a failure. It prints one JSON report: every
// operation with its outcome (ack, or the error's code), the slowest call,
// calls that never settled, and anything that escaped (unhandled rejections).
import { createInterface } from 'node:readline'
import { Store, StoreError } from 'groupstore'

const task = JSON.parse(process.argv[2])
const report = { id: task.id, ops: [], slowestMs: 0, hangs: [], escaped: [], recovered: 0, recoveryErrors: [], features: {} }
process.on('unhandledRejection', (err) => report.escaped.push(`unhandled rejection: ${err?.stack ?? err}`))
process.on('uncaughtException', (err) => report.escaped.push(`uncaught exception: ${err?.stack ?? err}`))

let seed = task.seed >>> 0
const random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = (n) => Math.floor(random() * n)

let phase = 'wait'
const lines = createInterface({ input: process.stdin })
const go = new Promise((resolve) => {
  lines.on('line', (line) => {
    if (line === 'go') {
      phase = 'run'
      resolve()
    } else if (line === 'finish') phase = 'finish'
  })
})

/** Outcome of a settled call: 'ack', or the StoreError's code, or 'not-store-error'. */
function outcomeOf(err) {
  if (err instanceof StoreError) return err.code
  return 'not-store-error'
}

/** Runs one call with a watchdog: a call still pending after hangMs is a hang. */
async function timed(op, call) {
  const started = Date.now()
  let watchdog
  const hung = new Promise((resolve) => {
    watchdog = setTimeout(() => resolve('hang'), task.hangMs)
  })
  const settled = call().then(
    (value) => ({ outcome: 'ack', value }),
    (err) => ({ outcome: outcomeOf(err), message: String(err?.message ?? err) }),
  )
  const r = await Promise.race([settled, hung])
  clearTimeout(watchdog)
  const ms = Date.now() - started
  if (r === 'hang') {
    report.hangs.push(`${op.op} ${op.g}/${op.k} pending after ${task.hangMs} ms`)
    op.outcome = 'hang'
    return op
  }
  if (ms > report.slowestMs) report.slowestMs = ms
  op.outcome = r.outcome
  op.ms = ms
  if (r.outcome === 'ack') op.result = r.value
  else op.message = r.message
  return op
}

// The whole change log is kept, so that the checks can compare every revision with the data.
const store = await Store.open(task.url, { schema: task.schema, poolSize: 4, busyTimeout: task.busyTimeout, purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 100_000_000 } })
const atomic = typeof store.increment === 'function' && typeof store.getEntry === 'function'
report.features.atomic = atomic
process.stdout.write('ready\n')
await go

const id = task.id
let n = 0
/** The chain key's revision as this writer last knew it (undefined: unknown, read it). */
let chainRevision
let chainStep = 0

function plainSet() {
  const op = { op: 'set', g: `p${id}`, k: `s${n++}`, v: `v${n}-${pick(1e9)}` }
  return timed(op, () => store.set(op.g, op.k, op.v))
}

function ifAbsent() {
  const op = { op: 'ifAbsent', g: `c${id}`, k: `a${n++}`, v: `a${n}` }
  return timed(op, () => store.set(op.g, op.k, op.v, { ifAbsent: true }))
}

function increment() {
  const op = { op: 'incr', g: 'counters', k: `w${id}` }
  return timed(op, () => store.increment(op.g, op.k))
}

function transaction() {
  const op = { op: 'tx', g: `t${id}`, k: `x${n++}`, amount: 1 + pick(5) }
  return timed(op, () =>
    store.transaction(async (tx) => {
      const a = Number(await tx.get('bank', 'a'))
      const b = Number(await tx.get('bank', 'b'))
      const amount = random() < 0.5 ? op.amount : -op.amount
      await tx.set('bank', 'a', String(a - amount))
      await tx.set('bank', 'b', String(b + amount))
      await tx.set(op.g, op.k, String(amount))
    }),
  )
}

/** One step of a chain of conditional sets on one key, each based on the revision the last one answered. */
async function chain() {
  if (chainRevision === undefined) {
    const entry = await store.getEntry(`c${id}`, 'chain').catch(() => null)
    if (entry === null) return undefined // the read failed too: try at a later window
    chainRevision = entry?.revision ?? 0
  }
  const step = ++chainStep
  const op = { op: 'ifRevision', g: `c${id}`, k: 'chain', v: `step${step}`, step, base: chainRevision }
  const call = chainRevision === 0
    ? () => store.set(op.g, op.k, op.v, { ifAbsent: true })
    : () => store.set(op.g, op.k, op.v, { ifRevision: op.base })
  await timed(op, call)
  if (op.outcome === 'ack' && typeof op.result === 'number') chainRevision = op.result
  else chainRevision = undefined // a refusal or a failure: read the revision again
  return op
}

while (phase === 'run') {
  const size = 1 + pick(12)
  const calls = []
  let chained = false
  for (let i = 0; i < size; i++) {
    const r = random()
    if (!atomic || r < 0.4) calls.push(r < 0.25 || !atomic ? plainSet() : transaction())
    else if (r < 0.6) calls.push(ifAbsent())
    else if (r < 0.85) calls.push(increment())
    else if (!chained) {
      chained = true
      calls.push(chain())
    } else calls.push(transaction())
  }
  for (const op of await Promise.all(calls)) if (op !== undefined) report.ops.push(op)
}

// The server is healthy again: the same store must work at once.
for (let i = 0; i < 20; i++) {
  const op = await timed({ op: 'set', g: `r${id}`, k: `k${i}`, v: `r${i}` }, () => store.set(`r${id}`, `k${i}`, `r${i}`))
  report.ops.push(op)
  if (op.outcome === 'ack') report.recovered++
  else report.recoveryErrors.push(`${op.outcome}: ${op.message ?? ''}`)
}
lines.close()
await store.close().catch((err) => report.escaped.push(`close: ${err.message}`))
process.stdout.write(`${JSON.stringify(report)}\n`)
