// The child of the crash harness: writes for ever into one store and logs
// each write, until the parent kills it with SIGKILL.
//
// Usage: node crash-writer.js <file> <durability> <round> <seed> <log>
//
// Every write is logged twice with synchronous appends: an intent line
// before it is issued ({ t: 'i', id, op, ... }) and an acknowledgement line
// ({ t: 'a', id, t1 }) only after its promise has resolved. A kill may land
// between the resolution and the line: the write is then merely
// unacknowledged, never wrongly acknowledged. The parent
// (crash-check.js) knows from the intents what may have happened and from
// the acknowledgements what must have.
//
// Names are unique per round (`r<round>-…`), so the parent can tell this
// round's writes from what earlier rounds left in the file. Only bank/a and
// bank/b (moved by transactions; their sum is always BANK_TOTAL) and
// meta/counter (increasing) are written by every round.
import { openSync, writeSync } from 'node:fs'
import { Store } from 'groupstore'
import { BANK_TOTAL, random, TX_TTL, valueFor } from './crash-shared.js'

const [file, durability, roundText, seedText, logPath] = process.argv.slice(2)
if (logPath === undefined) throw new TypeError('usage: crash-writer.js <file> <durability> <round> <seed> <log>')
const rng = random(Number(seedText))
const log = openSync(logPath, 'a')
const R = `r${roundText}`
let n = 0
const name = (kind) => `${R}-${kind}${n++}`

function line(entry) {
  writeSync(log, `${JSON.stringify(entry)}\n`)
}

/** Logs the intent, runs the write, logs the acknowledgement once it resolved. */
async function logged(entry, write) {
  line({ t: 'i', ...entry })
  const result = await write()
  line({ t: 'a', id: entry.id, t1: Date.now() })
  return result
}

// The checker replays the whole change log against the data, so the log keeps
// every entry (the default retention caps it at the latest 10,000).
const store = await Store.open(file, { durability, purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 2 ** 31 } })
process.stdout.write('ready\n')

function set(group, key, ttl) {
  const entry = ttl === undefined ? { op: 'set', id: name('s'), g: group, k: key } : { op: 'set', id: name('s'), g: group, k: key, ttl, t0: Date.now() }
  return logged(entry, () => store.set(group, key, valueFor(group, key), ttl === undefined ? undefined : { ttl }))
}

async function setThenDelete(group) {
  const key = name('d')
  await set(group, key)
  const removed = await logged({ op: 'del', id: name('o'), g: group, k: key }, () => store.delete(group, key))
  if (removed !== true) throw new Error(`delete of ${group}/${key} answered ${removed}`)
}

async function fillThenDeleteGroup() {
  const group = name('dg')
  const keys = ['a', 'b', 'c']
  await Promise.all(keys.map((k) => set(group, k)))
  const removed = await logged({ op: 'delgroup', id: name('o'), g: group, keys }, () => store.deleteGroup(group))
  if (removed !== keys.length) throw new Error(`deleteGroup ${group} answered ${removed}`)
}

/**
 * A transaction across groups: moves an amount between bank/a and bank/b,
 * sets tx-1/<id>, tx-2/<id> and tx-3/<id> (with a TTL), and deletes
 * tx-q/<id>, set and acknowledged just before. All or nothing.
 */
async function transfer() {
  const id = name('t')
  await set('tx-q', id)
  await logged({ op: 'tx', id, t0: Date.now() }, () =>
    store.transaction(async (tx) => {
      const a = Number((await tx.get('bank', 'a')) ?? BANK_TOTAL)
      const b = Number((await tx.get('bank', 'b')) ?? 0)
      const amount = Math.floor(rng() * 100) - 50
      await tx.set('bank', 'a', String(a - amount))
      await tx.set('tx-1', id, valueFor('tx-1', id))
      await tx.set('tx-2', id, valueFor('tx-2', id))
      if ((await tx.delete('tx-q', id)) !== true) throw new Error(`tx-q/${id} was not there`)
      await tx.set('bank', 'b', String(b + amount))
      await tx.set('tx-3', id, valueFor('tx-3', id), { ttl: TX_TTL })
    }),
  )
}

/** A transaction that throws after writing: none of it may ever be seen. */
async function rollback() {
  const id = name('x')
  const marker = new Error('rolled back on purpose')
  try {
    await store.transaction(async (tx) => {
      await tx.set('rolled-back', id, 'must never be seen')
      await tx.set('bank', 'a', '-1')
      await tx.delete('bank', 'b')
      throw marker
    })
  } catch (err) {
    if (err === marker) return
    throw err
  }
  throw new Error('a throwing transaction resolved')
}

let counter
async function bumpCounter() {
  counter ??= Number((await store.get('meta', 'counter')) ?? 0)
  counter++
  const v = counter
  await logged({ op: 'counter', id: name('o'), v }, () => store.set('meta', 'counter', String(v)))
}

/** A set with a TTL, then the same key again without one, which clears the TTL. */
async function ttlThenClear() {
  const key = name('c')
  await set('ttl', key, 600_000 + Math.floor(rng() * 3_000_000))
  await set('ttl', key)
}

/** Keys that expire within milliseconds, for purgeExpired to remove. */
function ephemeral() {
  return set('ephemeral', name('e'), 1 + Math.floor(rng() * 20))
}

/** Many writes issued together: group commit runs them as one batch. */
function burst() {
  const work = []
  const size = 4 + Math.floor(rng() * 28)
  for (let i = 0; i < size; i++) {
    const pick = rng()
    if (pick < 0.5) work.push(set('conc', name('k')))
    else if (pick < 0.6) work.push(set('ttl', name('k'), 600_000 + Math.floor(rng() * 3_000_000)))
    else if (pick < 0.68) work.push(setThenDelete('conc-del'))
    else if (pick < 0.8) work.push(transfer())
    else if (pick < 0.85) work.push(rollback())
    else if (pick < 0.9) work.push(fillThenDeleteGroup())
    else if (pick < 0.95) work.push(ttlThenClear())
    else work.push(ephemeral())
  }
  return Promise.all(work)
}

try {
  for (;;) {
    const pick = rng()
    if (pick < 0.3) await set('seq', name('k'))
    else if (pick < 0.6) await burst()
    else if (pick < 0.7) await transfer()
    else if (pick < 0.74) await rollback()
    else if (pick < 0.8) await setThenDelete('seq-del')
    else if (pick < 0.84) await fillThenDeleteGroup()
    else if (pick < 0.91) await bumpCounter()
    else if (pick < 0.95) await ttlThenClear()
    else if (pick < 0.98) await ephemeral()
    else await store.purgeExpired()
  }
} catch (err) {
  // A write that fails is a failure of what the harness tests: report it and stop.
  process.stderr.write(`crash-writer: ${err?.stack ?? err}\n`)
  process.exit(1)
}
