// A file store on a small tmpfs fills while writes stream in: several
// writers set new keys and increment counters without pause while a reader
// reads what was acknowledged. Once the disk is full, writes must fail with a
// StoreError that says so, reads must keep working, and after a filler file
// is deleted the same store (never reopened) must write again. Afterwards
// every acknowledged write must be in the file. Mounting needs root; the
// caller skips when `mountTmpfs` answers a reason.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Store, StoreError } from 'groupstore'
import { within } from './within.js'

/**
 * Mounts a tmpfs of `size` (e.g. '2m') on a new folder. Answers
 * `{ dir, unmount() }`, or a string saying why it cannot (not root, mount
 * refused).
 */
export function mountTmpfs(size) {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root to mount a tmpfs'
  const dir = mkdtempSync(join(tmpdir(), 'groupstore-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    return `cannot mount a tmpfs here: ${String(err.stderr ?? err.message).trim()}`
  }
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' })
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Fills the file system at `dir` under `writers` streams of writes until each
 * has had `failuresPerWriter` failures, frees `fillerBytes`, writes again,
 * and checks. Answers { stats, failures }.
 */
export async function diskFill({ dir, fillerBytes, writers = 4, failuresPerWriter = 20, valueSize = 1500, maxWrites = 20_000 }) {
  const file = join(dir, 'fill.db')
  const filler = join(dir, 'filler')
  writeFileSync(filler, Buffer.alloc(fillerBytes, 1))
  const failures = []
  const fail = (s) => {
    if (failures.length < 100) failures.push(s)
  }
  const stats = { acknowledged: 0, writeFailures: 0, codes: {}, message: undefined, reads: 0, readFailures: 0, hangs: 0, writesAfterFreeing: 0, lost: 0 }
  const acked = new Map()
  const counters = new Map()
  const store = await Store.open(file, { purgeInterval: 0 })
  const value = (c, n) => `${c}.${n}.`.padEnd(valueSize, 'x')

  const call = async (what, promise) => {
    const r = await within(
      promise.then((v) => ({ ok: true, v }), (err) => ({ ok: false, err })),
      30_000,
      'hang',
    )
    if (r === 'hang') {
      stats.hangs++
      fail(`${what}: pending after 30 s`)
      return { ok: false, hang: true }
    }
    return r
  }

  const noteFailure = (what, err) => {
    stats.writeFailures++
    const code = err instanceof StoreError ? err.code : `not a StoreError (${err?.name})`
    stats.codes[code] = (stats.codes[code] ?? 0) + 1
    if (!(err instanceof StoreError) || !/disk is full|database or disk is full/i.test(err.message)) {
      fail(`${what}: failed with ${err?.name} ${err?.code}: ${err?.message}`)
    }
    stats.message ??= err?.message
  }

  let total = 0
  let writing = writers
  const streams = Array.from({ length: writers }, async (_, c) => {
    let failed = 0
    for (let n = 0; failed < failuresPerWriter && total < maxWrites; n++) {
      total++
      if (n % 5 === 4) {
        const r = await call(`increment w${c}`, store.increment('counters', `w${c}`))
        if (r.hang) break
        const entry = counters.get(c) ?? { ack: 0, unknown: 0 }
        counters.set(c, entry)
        if (r.ok) {
          entry.ack++
          stats.acknowledged++
        } else {
          noteFailure(`increment w${c}`, r.err)
          failed++
        }
        continue
      }
      const r = await call(`set w${c}/k${n}`, store.set(`w${c}`, `k${n}`, value(c, n)))
      if (r.hang) break
      if (r.ok) {
        acked.set(`w${c}\0k${n}`, value(c, n))
        stats.acknowledged++
      } else {
        noteFailure(`set w${c}/k${n}`, r.err)
        failed++
      }
    }
    writing--
  })
  // Reads of acknowledged keys all along, and once more when every writer has met a full disk.
  const reader = (async () => {
    while (writing > 0) {
      const keys = [...acked.keys()]
      if (keys.length > 0) {
        const id = keys[Math.floor(Math.random() * keys.length)]
        const [g, k] = id.split('\0')
        const r = await call(`get ${g}/${k}`, store.get(g, k))
        stats.reads++
        if (!r.ok || r.v !== acked.get(id)) {
          stats.readFailures++
          fail(`get ${g}/${k} while the disk filled: ${r.ok ? `answered ${r.v?.slice(0, 20)}` : r.err?.message}`)
        }
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  await Promise.all([...streams, reader])
  if (stats.writeFailures === 0) fail(`the disk never filled (${total} writes)`)
  // The disk is full: every acknowledged key reads back, and so do counts and whole groups.
  for (const [id, v] of acked) {
    const [g, k] = id.split('\0')
    const r = await call(`get ${g}/${k}`, store.get(g, k))
    stats.reads++
    if (!r.ok || r.v !== v) {
      stats.readFailures++
      fail(`get ${g}/${k} on a full disk: ${r.ok ? 'another value' : r.err?.message}`)
    }
  }
  for (let c = 0; c < writers; c++) {
    const [count, all] = await Promise.all([call(`count w${c}`, store.count(`w${c}`)), call(`getAll w${c}`, store.getAll(`w${c}`))])
    stats.reads += 2
    const expected = [...acked.keys()].filter((id) => id.startsWith(`w${c}\0`)).length
    if (!count.ok || count.v !== expected || !all.ok || Object.keys(all.v).length !== expected) {
      stats.readFailures++
      fail(`count/getAll w${c} on a full disk: ${count.ok ? count.v : count.err?.message}, expected ${expected}`)
    }
  }

  // Space comes back: the same store writes again.
  unlinkSync(filler)
  for (let i = 0; i < 20; i++) {
    const r = await call(`set after/k${i}`, store.set('after', `k${i}`, value('after', i)))
    if (r.ok) {
      stats.writesAfterFreeing++
      acked.set(`after\0k${i}`, value('after', i))
    } else fail(`set after/k${i} once space was freed: ${r.err?.message}`)
  }
  await store.close()

  // Everything acknowledged is in the file.
  const db = new Database(file, { readonly: true })
  const integrity = db.prepare('PRAGMA integrity_check').pluck().get()
  if (integrity !== 'ok') fail(`integrity_check: ${integrity}`)
  const get = db.prepare('SELECT value FROM kv WHERE grp = ? AND key = ?').pluck()
  for (const [id, v] of acked) {
    const [g, k] = id.split('\0')
    if (get.get(g, k) !== v) {
      stats.lost++
      fail(`${g}/${k} was acknowledged but is ${get.get(g, k) === undefined ? 'missing' : 'different'}`)
    }
  }
  for (const [c, { ack }] of counters) {
    const n = Number(get.get('counters', `w${c}`) ?? 0)
    // A failed increment on a full disk was not applied (SQLite rolled it back).
    if (n !== ack) {
      if (n < ack) stats.lost += ack - n
      fail(`counter w${c} is ${n}, ${ack} increments were acknowledged and the others failed`)
    }
  }
  db.close()
  stats.keys = acked.size
  return { stats, failures }
}
