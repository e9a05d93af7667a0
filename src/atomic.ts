/**
 * Revisions, conditional writes, counters and batches: the work behind
 * `getEntry`, conditional `set` and `delete`, `increment`, `getMany`,
 * `setMany` and `deleteMany` of Store, ScopedStore and Transaction, with
 * their argument checks. Not exported from the package.
 *
 * @module
 */
import { live, then } from './backend/backend.js'
import type { MaybePromise, WriteOptions } from './backend/backend.js'
import type { RemovedValue, StoredEntry, WriteCondition, WriteOutcome, WriteQueries } from './backend/queries.js'
import { notIntegerError, shortened } from './errors.js'
import type { Emit, Executor } from './executor.js'
import { checkQuota, checkQuotaMany } from './quota.js'
import type { QuotaScope } from './quota.js'
import { checkString } from './validate.js'

/** A live key: its value, the revision of the change that last wrote it, and its expiry. */
export interface Entry {
  value: string
  /** The revision of the change that last wrote the key (the `revision` of its `set` event). */
  revision: number
  /** Unix milliseconds, or null for a key without expiry. */
  expiresAt: number | null
}

/** Where the operations of one Store, ScopedStore or Transaction run. */
export interface OpContext {
  readonly exec: Executor
  /** `''`, or `'<namespace>:'` for a scope. */
  readonly prefix: string
  /** The scope's quota, when it has a limit. */
  readonly quota: QuotaScope | undefined
}

/** Most keys or pairs one `getMany`, `setMany` or `deleteMany` takes. */
export const MAX_BATCH = 10_000

/** One key written or removed by one conditional write, increment or removal (see WriteOptions.oneStatement). */
const ONE_STATEMENT: WriteOptions = { kind: 'point', oneStatement: true }
/** Reads (the condition, a quota), then one key written. */
const CHECKED: WriteOptions = { kind: 'checked' }

/** Runs `fn` on each item in order, without a promise when every call answers at once. */
function each<T>(items: readonly T[], fn: (item: T) => MaybePromise<void>, from = 0): MaybePromise<void> {
  for (let i = from; i < items.length; i++) {
    const pending = fn(items[i] as T)
    if (pending instanceof Promise) return pending.then(() => each(items, fn, i + 1))
  }
  return undefined
}

/** Throws unless `revision` is a positive safe integer. */
export function checkRevision(method: string, name: string, revision: unknown): number {
  if (typeof revision !== 'number') throw new TypeError(`${method}: ${name} must be a number, got ${typeof revision}`)
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new RangeError(`${method}: ${name} must be a positive safe integer, got ${revision}`)
  }
  return revision
}

/** The condition of `set`'s options, or undefined for an unconditional set. */
export function setCondition(method: string, options: { ifRevision?: unknown; ifAbsent?: unknown }): WriteCondition | undefined {
  const { ifRevision, ifAbsent } = options
  if (ifAbsent !== undefined && typeof ifAbsent !== 'boolean') {
    throw new TypeError(`${method}: options.ifAbsent must be a boolean, got ${typeof ifAbsent}`)
  }
  if (ifRevision === undefined) return ifAbsent === true ? { ifAbsent: true } : undefined
  if (ifAbsent === true) throw new TypeError(`${method}: options.ifRevision and options.ifAbsent cannot be used together`)
  return { ifRevision: checkRevision(method, 'options.ifRevision', ifRevision) }
}

/** True when `condition` holds for `row` at `now`. */
function holds(condition: WriteCondition, row: StoredEntry | undefined, now: number): boolean {
  if (condition.ifAbsent === true) return !live(row, now)
  return live(row, now) && row.revision === condition.ifRevision
}

/** Throws unless `keys` is an array of at most {@link MAX_BATCH} strings. */
export function checkKeys(method: string, keys: unknown): asserts keys is string[] {
  if (!Array.isArray(keys)) throw new TypeError(`${method}: keys must be an array of strings`)
  if (keys.length > MAX_BATCH) throw new RangeError(`${method}: keys holds ${keys.length} keys; at most ${MAX_BATCH} per call`)
  for (let i = 0; i < keys.length; i++) {
    const key: unknown = keys[i]
    // The name is made only for the error: a string per key would cost a batch of 100 keys 5 %.
    if (typeof key !== 'string' || !key.isWellFormed()) checkString(method, `keys[${i}]`, key)
  }
}

/** The pairs of `setMany`'s entries, checked, in iteration order. */
export function checkPairs(method: string, entries: unknown): [string, string][] {
  if (entries === null || typeof entries !== 'object') {
    throw new TypeError(`${method}: entries must be an object of strings or an iterable of [key, value] pairs`)
  }
  const iterable = typeof (entries as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'
  const source: Iterable<unknown> = iterable ? (entries as Iterable<unknown>) : Object.entries(entries)
  const pairs: [string, string][] = []
  for (const pair of source) {
    if (pairs.length === MAX_BATCH) throw new RangeError(`${method}: entries holds more than ${MAX_BATCH} pairs; at most ${MAX_BATCH} per call`)
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new TypeError(`${method}: entries[${pairs.length}] must be a [key, value] pair`)
    }
    const [key, value] = pair as [unknown, unknown]
    checkString(method, `the key of entries[${pairs.length}]`, key)
    checkString(method, `the value of entries[${pairs.length}]`, value)
    pairs.push([key, value])
  }
  return pairs
}

/** Throws unless `by` is a safe integer; answers it (default 1). */
export function checkBy(method: string, by: unknown): number {
  if (by === undefined) return 1
  if (typeof by !== 'number') throw new TypeError(`${method}: by must be a number, got ${typeof by}`)
  if (!Number.isSafeInteger(by)) throw new RangeError(`${method}: by must be a safe integer, got ${by}`)
  return by
}

/** `getEntry`: the live key's entry, giving a row without a revision (an old file's) one first. */
export function getEntry(ctx: OpContext, method: string, g: string, key: string): Promise<Entry | undefined> {
  const exec = ctx.exec
  const now = exec.now()
  const entry = (row: StoredEntry | undefined): Entry | undefined =>
    live(row, now) && row.revision !== null ? { value: row.value, revision: row.revision, expiresAt: row.expiresAt } : undefined
  return exec
    .read(method, (q) => q.getEntry(g, key))
    .then((row) => {
      // An expired key is removed, and its `expire` delivered, before the answer.
      if (row !== undefined && !live(row, now)) return exec.expire(g, key, now).then(() => undefined)
      if (!live(row, now) || row.revision !== null) return entry(row)
      return exec.write(method, (q) => then(q.assignRevision(g, key), () => then(q.getEntry(g, key), entry)))
    })
}

/** A conditional `set`: the revision, or false when the condition did not hold. */
export function setIf(
  ctx: OpContext,
  method: string,
  g: string,
  key: string,
  value: string,
  expiresAt: number | null,
  condition: WriteCondition,
): Promise<number | false> {
  const exec = ctx.exec
  const now = exec.now()
  const write = (q: WriteQueries, emit: Emit): MaybePromise<number | false> =>
    then(q.setIf(g, key, value, expiresAt, condition, now), (out) => {
      if (out.revision === false) return false
      emit('set', g, key, value, out.revision, now)
      return out.revision
    })
  const scope = ctx.quota
  if (scope === undefined) return exec.write(method, write, ONE_STATEMENT)
  // A failed condition uses no quota: the condition first, then the quota, then the write.
  return exec.write(
    method,
    (q, emit) =>
      then(q.getEntry(g, key), (row) => {
        if (!holds(condition, row, now)) return false
        return then(checkQuota(q, scope, method, g, key, now), () => write(q, emit))
      }),
    CHECKED,
  )
}

/** `delete` with `ifRevision`: true when the live key held that revision and was removed. */
export function deleteIf(ctx: OpContext, method: string, g: string, key: string, revision: number): Promise<boolean> {
  const exec = ctx.exec
  const now = exec.now()
  return exec.write(
    method,
    (q, emit) =>
      then(q.deleteIf(g, key, revision, now), (row) => removed(row, now, g, key, emit)),
    ONE_STATEMENT,
  )
}

/**
 * What removing `row` (undefined: there was none) meant at `now`: true and
 * a `delete` event for a live key; false for none, and an `expire` event
 * for an expired one (under the revision the backend gave it, if any, and
 * at `now`, the time a backend that logs the change itself gives it).
 */
export function removed(row: RemovedValue | undefined, now: number, g: string, key: string, emit: Emit): boolean {
  if (row === undefined) return false
  const revision = row.revision
  if (live(row, now)) {
    emit('delete', g, key, undefined, revision, now)
    return true
  }
  emit('expire', g, key, undefined, revision, now)
  return false
}

/** The error of an increment that wrote nothing. */
function incrementError(method: string, g: string, key: string, by: number, out: WriteOutcome, now: number): Error {
  const found = out.revision === false ? out.found : undefined
  if (live(found, now) && !/^-?\d+$/.test(found.value)) return notIntegerError(method, g, key, found.value)
  return new RangeError(`${method}: ${found === undefined ? 0 : shortened(found.value)} + ${by} is outside the safe-integer range`)
}

/** `increment`: the new value. */
export function increment(ctx: OpContext, method: string, g: string, key: string, by: number, expiresAt: number | null): Promise<number> {
  const exec = ctx.exec
  const now = exec.now()
  const write = (q: WriteQueries, emit: Emit): MaybePromise<number> =>
    then(q.increment(g, key, by, expiresAt, now), (out) => {
      // The message names the group as the caller does: without a scope's prefix.
      if (out.revision === false) throw incrementError(method, g.slice(ctx.prefix.length), key, by, out, now)
      emit('set', g, key, out.value, out.revision, now)
      return Number(out.value)
    })
  const scope = ctx.quota
  if (scope === undefined) return exec.write(method, write, ONE_STATEMENT)
  return exec.write(
    method,
    (q, emit) =>
      then(q.getEntry(g, key), (row) => {
        if (live(row, now)) return write(q, emit)
        return then(checkQuota(q, scope, method, g, key, now), () => write(q, emit))
      }),
    CHECKED,
  )
}

/** `getMany`: the live values of `keys`, in one consistent read. */
export function getMany(ctx: OpContext, method: string, g: string, keys: readonly string[]): Promise<(string | undefined)[]> {
  const exec = ctx.exec
  const now = exec.now()
  if (keys.length === 0) return Promise.resolve([])
  return exec.read(method, (q) => q.getMany(g, keys, now))
}

/** `setMany`: every pair or none; the revision of the last change. */
export function setMany(
  ctx: OpContext,
  method: string,
  g: string,
  pairs: readonly [string, string][],
  expiresAt: number | null,
): Promise<number> {
  const exec = ctx.exec
  if (pairs.length === 0) return exec.revision(method)
  const now = exec.now()
  const scope = ctx.quota
  return exec.write(method, (q, emit) => {
    let last = 0
    const write = (): MaybePromise<number> =>
      then(
        each(pairs, ([key, value]) =>
          then(q.set(g, key, value, expiresAt), (revision) => {
            emit('set', g, key, value, revision)
            last = revision
          }),
        ),
        () => last,
      )
    if (scope === undefined) return write()
    return then(checkQuotaMany(q, scope, method, g, [...new Set(pairs.map((p) => p[0]))], now), write)
  })
}

/** `deleteMany`: how many live keys were removed, a repeated key counted once. */
export function deleteMany(ctx: OpContext, method: string, g: string, keys: readonly string[]): Promise<number> {
  const exec = ctx.exec
  const distinct = [...new Set(keys)]
  if (distinct.length === 0) return Promise.resolve(0)
  const now = exec.now()
  return exec.write(method, (q, emit) =>
    then(q.deleteMany(g, distinct), (rows) => {
      let removed = 0
      for (let i = 0; i < distinct.length; i++) {
        const row = rows[i]
        if (row === undefined) continue
        if (live(row, now)) {
          emit('delete', g, distinct[i] as string)
          removed++
        } else {
          emit('expire', g, distinct[i] as string)
        }
      }
      return removed
    }),
  )
}
