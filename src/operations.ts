/**
 * The read/write API shared by Store, ScopedStore and Transaction: argument
 * checks, TTL policy, namespacing, quotas and the events each write emits.
 * Each of the three supplies an {@link Executor} that says where the work runs.
 *
 * @module
 */
import * as atomic from './atomic.js'
import type { Entry, OpContext } from './atomic.js'
import * as calls from './atomic-calls.js'
import { then } from './backend/backend.js'
import type { Footprint, MaybePromise, ReadQueries, StoredValue, WriteOptions, WriteQueries } from './backend/backend.js'
import { ENTRY_PAGE, readEntryPage } from './entry-page.js'
import type { EntryPage } from './entry-page.js'
import type { StoreEventType } from './events.js'
import { checkQuota, live } from './quota.js'
import type { Quota } from './quota.js'
import type { Renderer } from './render.js'
import { checkOptionalString, checkOptions, checkString } from './validate.js'

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

/** Options of `page`. */
export interface PageOptions {
  /** Only keys after this one (the `next` of the previous page). */
  after?: string
  /** At most this many entries, 1 to 10,000. @default 100 */
  limit?: number
  /** Only keys starting with this literal prefix. */
  prefix?: string
}

/** One page of a group. */
export interface Page {
  entries: [key: string, value: string][]
  /** Set only when more entries follow; pass it back as `after`. */
  next?: string
}

/** Options of `entries`. */
export interface EntriesOptions {
  /** Only keys starting with this literal prefix. */
  prefix?: string
}

/** Options of `render`. */
export interface RenderOptions {
  /** A missing variable is a TemplateError instead of ''. @default false */
  strict?: boolean
}

/** Records a change made by the write it is passed to; published after commit. */
export type Emit = (type: StoreEventType, group: string, key: string, value?: string, revision?: number) => void

/** Where operations run: the store's queue, or an open transaction. */
export interface Executor {
  /** The error to reject with before any work (closed store, settled transaction, misuse). */
  refuse(method: string): Error | undefined
  /** Runs a read; `footprint`, the only rows it reads (see `Backend.read`). */
  read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>, footprint?: Footprint): Promise<T>
  /**
   * Runs an atomic write; the changes `fn` emits are recorded with it and
   * published after commit. `footprint`: the only rows it may change (see
   * `Backend.write`).
   */
  write<T>(method: string, fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>, options?: WriteOptions, footprint?: Footprint): Promise<T>
  /** Removes an expired key found by a read, emitting `expire`. */
  expire(group: string, key: string, now: number): void
  /** The latest revision of the store, as the executor sees it. */
  revision(method: string): Promise<number>
  now(): number
  readonly renderer: Renderer
}

/** One key written, nothing else. */
const POINT: WriteOptions = { kind: 'point' }
/** A quota check's reads, then one key written. */
const CHECKED: WriteOptions = { kind: 'checked' }
const PAGE_SIZE = 256
const MAX_LIMIT = 10_000

/** Method names, made once per kind of object so the hot path builds no strings. */
function names(kind: string) {
  const n = (m: string) => `${kind}.${m}`
  return {
    get: n('get'), has: n('has'), set: n('set'), delete: n('delete'), deleteGroup: n('deleteGroup'),
    deletePrefix: n('deletePrefix'), count: n('count'), countAll: n('countAll'), groups: n('groups'),
    getAll: n('getAll'), page: n('page'), entries: n('entries'), ttl: n('ttl'), render: n('render'),
    getEntry: n('getEntry'), increment: n('increment'), getMany: n('getMany'), setMany: n('setMany'),
    deleteMany: n('deleteMany'),
  }
}
type Names = ReturnType<typeof names>
const NAMES: Record<string, Names> = { store: names('store'), scope: names('scope'), tx: names('tx') }

/**
 * The shared read/write methods. `prefix` is `''` for the store itself and
 * `'<namespace>:'` for a scope; names given to and returned by these methods
 * are relative to it.
 */
export abstract class Operations {
  readonly #exec: Executor
  readonly #prefix: string
  readonly #quota: Required<Quota> | undefined
  readonly #m: Names
  readonly #ctx: OpContext

  protected constructor(kind: 'store' | 'scope' | 'tx', exec: Executor, namespace: string, quota?: Required<Quota>) {
    this.#exec = exec
    this.#prefix = namespace === '' ? '' : `${namespace}:`
    this.#quota = quota !== undefined && (quota.maxKeys > 0 || quota.maxGroups > 0) ? quota : undefined
    this.#m = NAMES[kind] as Names
    const scope = this.#quota === undefined ? undefined : { quota: this.#quota, namespace, prefix: this.#prefix }
    this.#ctx = { exec, prefix: this.#prefix, quota: scope }
  }

  /** The row of a point read, or a rejection for bad arguments. */
  #point<T>(method: string, group: unknown, key: unknown, map: (row: StoredValue | undefined, g: string, now: number) => T): Promise<T> {
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    try {
      checkString(method, 'group', group)
      checkString(method, 'key', key)
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    const now = exec.now()
    return exec.read(method, (q) =>
      then(q.get(g, key), (row) => {
        if (row !== undefined && row.expiresAt !== null && row.expiresAt <= now) {
          exec.expire(g, key, now)
          return map(undefined, g, now)
        }
        return map(row, g, now)
      }),
      { group: g, key },
    )
  }

  /**
   * The value of a live key, or undefined.
   * @example
   * ```ts
   * await store.get('config', 'theme') // 'dark'
   * ```
   */
  get(group: string, key: string): Promise<string | undefined> {
    return this.#point(this.#m.get, group, key, (row) => row?.value)
  }

  /**
   * True when the key is live.
   * @example
   * ```ts
   * if (await store.has('locks', 'job-1')) return
   * ```
   */
  has(group: string, key: string): Promise<boolean> {
    return this.#point(this.#m.has, group, key, (row) => row !== undefined)
  }

  /**
   * Remaining time to live in ms; null for a live key without expiry;
   * undefined when there is no live key.
   * @example
   * ```ts
   * await store.ttl('session', 'abc') // 1799000
   * ```
   */
  ttl(group: string, key: string): Promise<number | null | undefined> {
    return this.#point(this.#m.ttl, group, key, (row, _g, now) => {
      if (row === undefined) return undefined
      return row.expiresAt === null ? null : row.expiresAt - now
    })
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
    let expiresAt: number | null = null
    let condition: ReturnType<typeof atomic.setCondition>
    try {
      checkString(method, 'group', group)
      checkString(method, 'key', key)
      checkString(method, 'value', value)
      if (options !== undefined) {
        checkOptions(method, options, ['ttl', 'ifRevision', 'ifAbsent'])
        if (options.ttl !== undefined) expiresAt = calls.expiry(exec, method, options.ttl)
        condition = atomic.setCondition(method, options)
      }
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    if (condition !== undefined) return atomic.setIf(this.#ctx, method, g, key, value, expiresAt, condition)
    const scope = this.#ctx.quota
    if (scope === undefined) {
      return exec.write(
        method,
        (q, emit) =>
          then(q.set(g, key, value, expiresAt), (revision) => {
            emit('set', g, key, value, revision)
            return revision
          }),
        POINT,
        { group: g, key },
      )
    }
    return exec.write(
      method,
      (q, emit) =>
        then(checkQuota(q, scope, method, g, key, exec.now()), () =>
          then(q.set(g, key, value, expiresAt), (revision) => {
            emit('set', g, key, value, revision)
            return revision
          }),
        ),
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
        then(q.delete(g, key), (row) => {
          if (row === undefined) return false
          if (live(row, now)) {
            emit('delete', g, key)
            return true
          }
          emit('expire', g, key)
          return false
        }),
      POINT,
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

  #readGroup<T>(method: string, group: unknown, fn: (q: ReadQueries, g: string, now: number) => MaybePromise<T>): Promise<T> {
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
    return exec.read(method, (q) => fn(q, g, now), { group: g })
  }

  #readPrefix<T>(method: string, prefix: unknown, fn: (q: ReadQueries, p: string, now: number) => MaybePromise<T>): Promise<T> {
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    try {
      checkOptionalString(method, 'prefix', prefix)
    } catch (err) {
      return Promise.reject(err)
    }
    const p = this.#prefix + (prefix ?? '')
    const now = exec.now()
    return exec.read(method, (q) => fn(q, p, now))
  }

  /**
   * Live keys in a group.
   * @example
   * ```ts
   * await store.count('users') // 1500
   * ```
   */
  count(group: string): Promise<number> {
    return this.#readGroup(this.#m.count, group, (q, g, now) => q.count(g, now))
  }

  /**
   * Live keys in every group whose name starts with the literal `prefix` (`''`: all).
   * @example
   * ```ts
   * await store.countAll('tenant-42:')
   * ```
   */
  countAll(prefix = ''): Promise<number> {
    return this.#readPrefix(this.#m.countAll, prefix, (q, p, now) => q.countAll(p, now))
  }

  /**
   * Names of the groups holding a live key, starting with the literal `prefix`, ascending.
   * @example
   * ```ts
   * await store.groups('tenant-42:') // ['tenant-42:cache', 'tenant-42:config']
   * ```
   */
  groups(prefix = ''): Promise<string[]> {
    const cut = this.#prefix.length
    return this.#readPrefix(this.#m.groups, prefix, (q, p, now) =>
      then(q.groups(p, now), (list) => (cut === 0 ? list : list.map((g) => g.slice(cut)))),
    )
  }

  /**
   * Every live pair of a group, in an object without a prototype (so keys
   * such as `__proto__` are plain entries).
   * @example
   * ```ts
   * const config = await store.getAll('config') // { theme: 'dark' }
   * ```
   */
  getAll(group: string): Promise<Record<string, string>> {
    return this.#readGroup(this.#m.getAll, group, (q, g, now) => q.getAll(g, now))
  }

  /**
   * One page of a group in ascending key order (Unicode code point order).
   * @example
   * ```ts
   * let after: string | undefined
   * do {
   *   const page = await store.page('users', { after, limit: 500 })
   *   for (const [key, value] of page.entries) console.log(key, value)
   *   after = page.next
   * } while (after !== undefined)
   * ```
   */
  page(group: string, options?: PageOptions): Promise<Page> {
    const method = this.#m.page
    let limit = 100
    try {
      checkOptions(method, options, ['after', 'limit', 'prefix'])
      checkOptionalString(method, 'options.after', options?.after)
      checkOptionalString(method, 'options.prefix', options?.prefix)
      if (options?.limit !== undefined) {
        limit = options.limit
        if (typeof limit !== 'number') throw new TypeError(`${method}: options.limit must be a number`)
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
          throw new RangeError(`${method}: options.limit must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`)
        }
      }
    } catch (err) {
      const refused = this.#exec.refuse(method)
      return Promise.reject(refused ?? err)
    }
    const after = options?.after
    const prefix = options?.prefix
    return this.#readGroup(method, group, (q, g, now) =>
      then(q.range(g, now, { after, prefix, limit: limit + 1 }), (rows) => {
        if (rows.length <= limit) return { entries: rows }
        rows.length = limit
        return { entries: rows, next: (rows[limit - 1] as [string, string])[0] }
      }),
    )
  }

  /**
   * The whole group in ascending key order, fetched a page at a time, never
   * all at once. Bad arguments reject on the first `next()`.
   * @example
   * ```ts
   * for await (const [key, value] of store.entries('users')) console.log(key, value)
   * ```
   */
  async *entries(group: string, options?: EntriesOptions): AsyncIterableIterator<[string, string]> {
    const method = this.#m.entries
    const refused = this.#exec.refuse(method)
    if (refused !== undefined) throw refused
    checkString(method, 'group', group)
    checkOptions(method, options, ['prefix'])
    const prefix = options?.prefix
    checkOptionalString(method, 'options.prefix', prefix)
    let after: string | undefined
    for (;;) {
      const rows = await this.#readGroup(method, group, (q, g, now) => q.range(g, now, { after, prefix, limit: PAGE_SIZE }))
      yield* rows
      if (rows.length < PAGE_SIZE) return
      after = (rows[rows.length - 1] as [string, string])[0]
    }
  }

  /**
   * @internal A page of live keys with their values and expiries, in one
   * read, for the command line's `export` (see entry-page.ts).
   */
  [ENTRY_PAGE](group: string, after: string | undefined, limit: number): Promise<EntryPage> {
    return this.#readGroup(this.#m.entries, group, (q, g, now) => readEntryPage(q, g, now, after, limit))
  }

  /**
   * Renders a Liquid template with the group's live pairs as variables. No
   * HTML escaping; no file access; limits stop runaway templates.
   * @example
   * ```ts
   * await store.set('db', 'host', 'localhost')
   * await store.render('postgres://{{ host }}/app', 'db') // 'postgres://localhost/app'
   * ```
   */
  async render(template: string, group: string, options?: RenderOptions): Promise<string> {
    const method = this.#m.render
    const refused = this.#exec.refuse(method)
    if (refused !== undefined) throw refused
    checkString(method, 'template', template)
    checkString(method, 'group', group)
    checkOptions(method, options, ['strict'])
    const strict = options?.strict ?? false
    if (typeof strict !== 'boolean') throw new TypeError(`${method}: options.strict must be a boolean`)
    const vars = await this.#readGroup(method, group, (q, g, now) => q.getAll(g, now))
    return this.#exec.renderer.render(method, template, vars, strict)
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
