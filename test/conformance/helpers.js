// Shared helpers of the conformance suite. Public API only: every backend runs these.
import assert from 'node:assert/strict'

/** A fixed start time for the `now` clock: 2023-11-14T22:13:20Z. */
export const T0 = 1_700_000_000_000

/**
 * A controllable clock for the `now` option.
 * @param {number} [start]
 */
export function clock(start = T0) {
  let t = start
  const now = () => t
  /** @param {number} ms */
  now.advance = (ms) => {
    t += ms
  }
  /** @param {number} ms */
  now.set = (ms) => {
    t = ms
  }
  return now
}

/**
 * Opens a fresh store through the factory and closes it when the test ends.
 * @param {import('node:test').TestContext} t
 * @param {import('./index.js').Factory} factory
 * @param {import('groupstore').StoreOptions} [options]
 */
export async function openStore(t, factory, options) {
  const store = await factory.open(options)
  t.after(() => store.close())
  return store
}

/**
 * Records every event `source` (a store or a scope) reports through onChange.
 * @param {{ onChange(fn: (e: import('groupstore').StoreEvent) => void): () => void }} source
 */
export function record(source) {
  /** @type {import('groupstore').StoreEvent[]} */
  const events = []
  const off = source.onChange((e) => events.push(e))
  return { events, off }
}

/**
 * The contract's fields of an event (type, group, key, value, timestamp),
 * without the change feed's position fields.
 * @param {import('groupstore').StoreEvent} event
 */
export function plain(event) {
  const { revision: _revision, missed: _missed, ...rest } = event
  return rest
}

/** The events as `type group/key[=value]` strings, for compact assertions. */
export function brief(events) {
  return events.map((e) => `${e.type} ${e.group}/${e.key}${e.value === undefined ? '' : `=${e.value}`}`)
}

/**
 * Resolves with `promise`, or fails the test when it does not settle within `ms`.
 * A guard against hangs, not a timing assertion.
 * @template T
 * @param {Promise<T>} promise
 * @param {string} what
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
export function within(promise, what, ms = 5000) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The next event of a watcher, failing the test if none comes.
 * @param {import('groupstore').Watcher} watcher
 */
export async function nextEvent(watcher, what = 'an event') {
  const result = await within(watcher.next(), what)
  assert.equal(result.done, false, `expected ${what}, but the watcher ended`)
  return result.value
}

/**
 * The next `n` events of a watcher, failing if it ends first.
 * @param {import('groupstore').Watcher} watcher
 * @param {number} n
 */
export async function take(watcher, n) {
  const out = []
  for (let i = 0; i < n; i++) out.push(await nextEvent(watcher, `event ${i + 1} of ${n}`))
  return out
}

/**
 * Asserts that a watcher has nothing buffered: a marker write made afterwards
 * is the next thing it sees. `marker` writes something the watcher matches.
 * @param {import('groupstore').Watcher} watcher
 * @param {() => Promise<unknown>} marker
 */
export async function assertNothingBefore(watcher, marker, expected) {
  await marker()
  const e = await nextEvent(watcher, 'the marker event')
  assert.deepEqual(brief([e]), [expected], 'the watcher saw an unexpected event before the marker')
}

/**
 * Drains an async iterator into an array.
 * @template T
 * @param {AsyncIterable<T>} iterable
 */
export async function collect(iterable) {
  const out = []
  for await (const x of iterable) out.push(x)
  return out
}

/**
 * Asserts that `promise` rejects with an instance of `type` whose message
 * mentions every string in `words`.
 * @param {Promise<unknown> | (() => unknown)} promise
 * @param {Function} type
 * @param {string[]} words
 */
export async function rejectsWith(promise, type, words = []) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err?.name}: ${err?.message}`)
    for (const w of words) assert.ok(err.message.includes(w), `message ${JSON.stringify(err.message)} does not mention ${w}`)
    return true
  })
}

/**
 * Like {@link rejectsWith}, for a function expected to throw synchronously.
 * @param {() => unknown} fn
 * @param {Function} type
 * @param {string[]} words
 */
export function throwsWith(fn, type, words = []) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err?.name}: ${err?.message}`)
    for (const w of words) assert.ok(err.message.includes(w), `message ${JSON.stringify(err.message)} does not mention ${w}`)
    return true
  })
}

/** Writes `n` keys `k0000`… with values `v0000`… into `group`, concurrently. */
export async function fill(store, group, n, keyPrefix = 'k') {
  const writes = []
  for (let i = 0; i < n; i++) {
    const id = String(i).padStart(4, '0')
    writes.push(store.set(group, `${keyPrefix}${id}`, `v${id}`))
  }
  await Promise.all(writes)
}
