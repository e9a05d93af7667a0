/**
 * The read/write API shared by Store, ScopedStore and Transaction: argument
 * checks, TTL policy, namespacing, quotas and the events each write emits.
 * Each of the three supplies an {@link Executor} (`executor.ts`) that says
 * where the work runs.
 *
 * @module
 */
import * as atomic from './atomic.js'
import type { Entry, OpContext } from './atomic.js'
import * as calls from './atomic-calls.js'
import { live, then } from './backend/backend.js'
import type { MaybePromise, WriteOptions } from './backend/backend.js'
import { emitSet } from './executor.js'
import type { Executor } from './executor.js'
import { checkQuota } from './quota.js'
import type { Quota } from './quota.js'
import { NAMES, ReadOperations } from './read-operations.js'
import type { Names } from './read-operations.js'
import { checkOptions, checkString } from './validate.js'

export type { Quota } from './quota.js'

/** Options of a `set` without a condition: it resolves to its revision. */
export interface UnconditionalSetOptions {
  /** Time to live in ms: finite and > 0. Without it an existing TTL is cleared. */
  ttl?: number
  ifRevision?: undefined
  /** `false` is the same as leaving it out. */
  ifAbsent?: false
}

/** Options of a `set` that writes only if the key still has the revision it had: compare-and-set. */
export interface IfRevisionSetOptions {
  /** Time to live in ms: finite and > 0. Without it an existing TTL is cleared. */
  ttl?: number
  /**
   * Write only if the key is live and its revision is exactly this one (a
   * positive safe integer); otherwise `set` resolves to false.
   */
  ifRevision: number
  ifAbsent?: false
}

/** Options of a `set` that writes only if there is no live key. */
export interface IfAbsentSetOptions {
  /** Time to live in ms: finite and > 0. */
  ttl?: number
  ifRevision?: undefined
  /** Write only if there is no live key (an expired one counts as absent); otherwise `set` resolves to false. */
  ifAbsent: true
}

/** Options of a `set` with a condition: it resolves to its revision, or to false when the condition does not hold. */
export type ConditionalSetOptions = IfRevisionSetOptions | IfAbsentSetOptions

/** Options of `set`: at most one of `ifRevision` and `ifAbsent: true`. */
export type SetOptions = UnconditionalSetOptions | ConditionalSetOptions

/** Options of `delete`. */
export interface DeleteOptions {
  /** Delete only if the key is live and its revision is exactly this one; otherwise resolve to false. */
  ifRevision?: number
}

/** Options of `increment` and `setMany`. */
export interface TtlOptions {
  /**
   * Time to live in ms: finite and > 0. `increment` applies it only when it
   * creates the key; `setMany` gives it to every pair (without it, their TTLs
   * are cleared).
   */
  ttl?: number
}

/** The key of the unconditional set that reports whether it created the key (see `Operations`). */
export const SET_REPORTING: unique symbol = Symbol('groupstore.setReporting')

/** The options `set` knows, made once: a set with a TTL takes no array of its own. */
const SET_OPTIONS: readonly string[] = ['ttl', 'ifRevision', 'ifAbsent']
/** One key written or removed given the write's time, nothing else (see WriteOptions.oneStatement). */
const ONE_STATEMENT: WriteOptions = { kind: 'point', oneStatement: true }
/** A quota check's reads, then one key written. */
const CHECKED: WriteOptions = { kind: 'checked' }

/** What `checkSet` answers for a set without options: no expiry, no condition. */
const UNCONDITIONAL: [null, undefined] = [null, undefined]

/** Checks `set`'s arguments; answers the expiry (Unix ms, or null) and the condition, if any. */
function checkSet(
  exec: Executor,
  method: string,
  group: unknown,
  key: unknown,
  value: unknown,
  options: SetOptions | undefined,
): [expiresAt: number | null, condition: ReturnType<typeof atomic.setCondition>] {
  checkString(method, 'group', group)
  checkString(method, 'key', key)
  checkString(method, 'value', value)
  if (options === undefined) return UNCONDITIONAL
  checkOptions(method, options, SET_OPTIONS)
  const expiresAt = options.ttl === undefined ? null : calls.expiry(exec, method, options.ttl)
  return [expiresAt, atomic.setCondition(method, options)]
}

/**
 * The shared read/write methods: the reads of {@link ReadOperations}, and
 * the writes. `prefix` is `''` for the store itself and
 * `'<namespace>:'` for a scope; names given to and returned by these methods
 * are relative to it.
 */
export abstract class Operations extends ReadOperations {
  readonly #exec: Executor
  readonly #prefix: string
  readonly #quota: Required<Quota> | undefined
  readonly #m: Names
  readonly #ctx: OpContext

  protected constructor(kind: 'store' | 'scope' | 'tx', exec: Executor, namespace: string, quota?: Required<Quota>) {
    super(kind, exec, namespace)
    this.#exec = exec
    this.#prefix = namespace === '' ? '' : `${namespace}:`
    this.#quota = quota !== undefined && (quota.maxKeys > 0 || quota.maxGroups > 0) ? quota : undefined
    this.#m = NAMES[kind] as Names
    const scope = this.#quota === undefined ? undefined : { quota: this.#quota, namespace, prefix: this.#prefix }
    this.#ctx = { exec, prefix: this.#prefix, quota: scope }
  }

  /**
   * Stores a value and resolves to the revision of this write. With `ttl`
   * (ms) the key expires; without it any existing TTL is cleared. With
   * `ifRevision` it writes only if the key is live with exactly that
   * revision, with `ifAbsent: true` only if there is no live key; when the
   * condition does not hold it writes nothing, emits nothing, uses no quota
   * and resolves to false. The check and the write are atomic.
   * @example
   * ```ts
   * const revision = await store.set('session', 'abc', 'user-1', { ttl: 30 * 60_000 })
   * const won = await store.set('locks', 'job-1', 'worker-7', { ifAbsent: true, ttl: 30_000 }) // number | false
   * ```
   */
  set(group: string, key: string, value: string, options?: UnconditionalSetOptions): Promise<number>
  set(group: string, key: string, value: string, options: ConditionalSetOptions): Promise<number | false>
  set(group: string, key: string, value: string, options?: SetOptions): Promise<number | false>
  set(group: string, key: string, value: string, options?: SetOptions): Promise<number | false> {
    const method = this.#m.set
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    let expiresAt: number | null
    let condition: ReturnType<typeof atomic.setCondition>
    try {
      ;[expiresAt, condition] = checkSet(exec, method, group, key, value, options)
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    if (condition !== undefined) return atomic.setIf(this.#ctx, method, g, key, value, expiresAt, condition)
    const scope = this.#ctx.quota
    if (scope === undefined) return exec.set(method, g, key, value, expiresAt, exec.now())
    return exec.write(
      method,
      (q, emit) =>
        then(checkQuota(q, scope, method, g, key, exec.now()), () => emitSet(emit, g, key, value, q.set(g, key, value, expiresAt))),
      CHECKED,
      { group: g, key },
    )
  }

  /**
   * An unconditional `set` that also tells whether it created the key (there
   * was no live key before it), read and written in one write: what the
   * server's `PUT` needs to answer 201 or 200 truthfully. Not exported from
   * the package.
   */
  [SET_REPORTING](group: string, key: string, value: string, options?: UnconditionalSetOptions): Promise<[created: boolean, revision: number]> {
    const method = this.#m.set
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    let expiresAt: number | null
    try {
      let condition: ReturnType<typeof atomic.setCondition>
      ;[expiresAt, condition] = checkSet(exec, method, group, key, value, options)
      if (condition !== undefined) throw new TypeError(`${method}: this write takes no condition`)
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    const scope = this.#ctx.quota
    const now = exec.now()
    return exec.write(
      method,
      (q, emit) => {
        const write = (created: boolean): MaybePromise<[boolean, number]> =>
          then(emitSet(emit, g, key, value, q.set(g, key, value, expiresAt)), (revision) => [created, revision])
        // A new key is counted against the quota first; replacing a live one changes no count.
        const create = (): MaybePromise<[boolean, number]> =>
          scope === undefined ? write(true) : then(checkQuota(q, scope, method, g, key, now), () => write(true))
        if (q.replaceLive === undefined) return then(q.getEntry(g, key), (row) => (live(row, now) ? write(false) : create()))
        // One statement for the common case, a live key replaced; else the key is created.
        return then(q.replaceLive(g, key, value, expiresAt, now), (revision) =>
          revision === undefined ? create() : then(emitSet(emit, g, key, value, revision), (r): [boolean, number] => [false, r]),
        )
      },
      CHECKED,
      { group: g, key },
    )
  }

  /**
   * Removes a key; true when a live key was removed (a missing key emits no
   * event). With `ifRevision`, only if the live key holds exactly that
   * revision (else false, nothing removed).
   * @example
   * ```ts
   * await store.delete('session', 'abc') // true
   * await store.delete('locks', 'job-1', { ifRevision: lease }) // only the lock this worker took
   * ```
   */
  delete(group: string, key: string, options?: DeleteOptions): Promise<boolean> {
    const method = this.#m.delete
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    let ifRevision: number | undefined
    try {
      checkString(method, 'group', group)
      checkString(method, 'key', key)
      if (options !== undefined) {
        checkOptions(method, options, ['ifRevision'])
        if (options.ifRevision !== undefined) ifRevision = atomic.checkRevision(method, 'options.ifRevision', options.ifRevision)
      }
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    if (ifRevision !== undefined) return atomic.deleteIf(this.#ctx, method, g, key, ifRevision)
    const now = exec.now()
    return exec.write(
      method,
      (q, emit) =>
        then(q.delete(g, key, now), (row) => atomic.removed(row, now, g, key, emit)),
      ONE_STATEMENT,
      { group: g, key },
    )
  }

  /**
   * Removes every key of a group; answers how many live keys it held.
   * Emits one `delete_group` when there was one.
   * @example
   * ```ts
   * await store.deleteGroup('cache') // 42
   * ```
   */
  deleteGroup(group: string): Promise<number> {
    const method = this.#m.deleteGroup
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    try {
      checkString(method, 'group', group)
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    const now = exec.now()
    return exec.write(
      method,
      (q, emit) =>
        then(q.deleteGroup(g, now), (n) => {
          if (n > 0) emit('delete_group', g, '')
          return n
        }),
      undefined,
      { group: g },
    )
  }

  /**
   * Removes every group whose name starts with the literal `prefix` (`''`:
   * every group); answers how many live keys were removed. Emits one
   * `delete_group` per group removed.
   * @example
   * ```ts
   * await store.deletePrefix('tenant-42:')
   * ```
   */
  deletePrefix(prefix: string): Promise<number> {
    const method = this.#m.deletePrefix
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    try {
      checkString(method, 'prefix', prefix)
    } catch (err) {
      return Promise.reject(err)
    }
    const now = exec.now()
    return exec.write(method, (q, emit) =>
      then(q.deletePrefix(this.#prefix + prefix, now), (groups) => {
        let removed = 0
        for (const x of groups) {
          emit('delete_group', x.group, '')
          removed += x.live
        }
        return removed
      }),
    )
  }

  /**
   * The live key's value, revision and expiry (`expiresAt`, Unix ms, or
   * null), or undefined when there is no live key. The revision is that of
   * the change that last wrote the key; pass it as `ifRevision` to write
   * only if nobody has written the key since.
   * @example
   * ```ts
   * const entry = await store.getEntry('config', 'theme') // { value: 'dark', revision: 42, expiresAt: null }
   * ```
   */
  getEntry(group: string, key: string): Promise<Entry | undefined> {
    return calls.getEntry(this.#ctx, this.#m.getEntry, group, key)
  }

  /**
   * Atomically adds `by` (a safe integer, default 1, may be 0 or negative)
   * to the key's value read as a base-10 integer; a missing or expired key
   * counts as 0. Resolves to the new value. `ttl` applies only when the key
   * is created. A value that is not an integer rejects with a StoreError
   * (code `ERR_NOT_INTEGER`), a result outside the safe-integer range with a
   * RangeError; either way nothing changes.
   * @example
   * ```ts
   * const hits = await store.increment('rate', `ip:${ip}:${minute}`, 1, { ttl: 60_000 })
   * ```
   */
  increment(group: string, key: string, by?: number, options?: TtlOptions): Promise<number> {
    return calls.increment(this.#ctx, this.#m.increment, group, key, by, options)
  }

  /**
   * The live values of up to 10,000 keys of a group in one consistent read,
   * in the order of `keys` (undefined where there is no live key).
   * @example
   * ```ts
   * const [host, port] = await store.getMany('db', ['host', 'port'])
   * ```
   */
  getMany(group: string, keys: string[]): Promise<(string | undefined)[]> {
    return calls.getMany(this.#ctx, this.#m.getMany, group, keys)
  }

  /**
   * Writes up to 10,000 pairs into a group, all or nothing, in iteration
   * order (a repeated key's last value wins), one `set` event per pair.
   * Resolves to the revision of the last change; with no pairs it writes
   * nothing and resolves to the store's latest revision.
   * @example
   * ```ts
   * await store.setMany('config', { theme: 'dark', lang: 'en-GB' })
   * await store.setMany('cache', new Map([['a', '1']]), { ttl: 60_000 })
   * ```
   */
  setMany(group: string, entries: Record<string, string> | Iterable<[string, string]>, options?: TtlOptions): Promise<number> {
    return calls.setMany(this.#ctx, this.#m.setMany, group, entries, options)
  }

  /**
   * Removes up to 10,000 keys of a group at once; resolves to how many live
   * keys were removed (a repeated key counts once), one `delete` event each.
   * @example
   * ```ts
   * await store.deleteMany('session', ['abc', 'def']) // 2
   * ```
   */
  deleteMany(group: string, keys: string[]): Promise<number> {
    return calls.deleteMany(this.#ctx, this.#m.deleteMany, group, keys)
  }
}
