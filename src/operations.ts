/**
 * The read/write API shared by Store, ScopedStore and Transaction: argument
 * checks, TTL policy, namespacing, quotas and the events each write emits.
 * Each of the three supplies an {@link Executor} that says where the work runs.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { Footprint, MaybePromise, ReadQueries, StoredValue, WriteOptions, WriteQueries } from './backend/backend.js'
import { QuotaExceededError } from './errors.js'
import type { StoreEventType } from './events.js'
import type { Renderer } from './render.js'
import { checkOptionalString, checkOptions, checkString, checkTtl } from './validate.js'

/** Limits of a scope; 0 or absent means unlimited. */
export interface Quota {
  /** Live keys across the namespace. @default 0 */
  maxKeys?: number
  /** Distinct live groups in the namespace. @default 0 */
  maxGroups?: number
}

/** Options of `set`. */
export interface SetOptions {
  /** Time to live in ms: finite and > 0. Without it an existing TTL is cleared. */
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
export type Emit = (type: StoreEventType, group: string, key: string, value?: string) => void

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
  now(): number
  readonly renderer: Renderer
}

/** One key written, nothing else. */
const POINT: WriteOptions = { kind: 'point' }
/** A quota check's reads, then one key written. */
const CHECKED: WriteOptions = { kind: 'checked' }
const PAGE_SIZE = 256
const MAX_LIMIT = 10_000
/** The largest time a Date can hold; a TTL past it is refused. */
const MAX_TIME = 8.64e15

function live(row: StoredValue | undefined, now: number): row is StoredValue {
  return row !== undefined && (row.expiresAt === null || row.expiresAt > now)
}

/** Method names, made once per kind of object so the hot path builds no strings. */
function names(kind: string) {
  const n = (m: string) => `${kind}.${m}`
  return {
    get: n('get'), has: n('has'), set: n('set'), delete: n('delete'), deleteGroup: n('deleteGroup'),
    deletePrefix: n('deletePrefix'), count: n('count'), countAll: n('countAll'), groups: n('groups'),
    getAll: n('getAll'), page: n('page'), entries: n('entries'), ttl: n('ttl'), render: n('render'),
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
  readonly #namespace: string
  readonly #m: Names

  protected constructor(kind: 'store' | 'scope' | 'tx', exec: Executor, namespace: string, quota?: Required<Quota>) {
    this.#exec = exec
    this.#namespace = namespace
    this.#prefix = namespace === '' ? '' : `${namespace}:`
    this.#quota = quota !== undefined && (quota.maxKeys > 0 || quota.maxGroups > 0) ? quota : undefined
    this.#m = NAMES[kind] as Names
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
   * Stores a value. With `ttl` (ms) the key expires; without it any existing
   * TTL is cleared.
   * @example
   * ```ts
   * await store.set('session', 'abc', 'user-1', { ttl: 30 * 60_000 })
   * ```
   */
  set(group: string, key: string, value: string, options?: SetOptions): Promise<void> {
    const method = this.#m.set
    const exec = this.#exec
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    let expiresAt: number | null = null
    try {
      checkString(method, 'group', group)
      checkString(method, 'key', key)
      checkString(method, 'value', value)
      if (options !== undefined) {
        checkOptions(method, options, ['ttl'])
        if (options.ttl !== undefined) {
          const ttl = checkTtl(method, options.ttl)
          expiresAt = Math.ceil(exec.now() + ttl)
          if (expiresAt > MAX_TIME) throw new RangeError(`${method}: options.ttl is too large (${ttl} ms)`)
        }
      }
    } catch (err) {
      return Promise.reject(err)
    }
    const g = this.#prefix + group
    if (this.#quota === undefined) {
      return exec.write(method, (q, emit) => then(q.set(g, key, value, expiresAt), () => emit('set', g, key, value)), POINT, { group: g, key })
    }
    return exec.write(
      method,
      (q, emit) =>
        then(this.#checkQuota(q, method, g, key, exec.now()), () =>
          then(q.set(g, key, value, expiresAt), () => emit('set', g, key, value)),
        ),
      CHECKED,
      { group: g, key },
    )
  }

  /**
   * Throws QuotaExceededError when writing `(g, key)` would exceed a quota.
   * Overwriting a live key never counts, but the key is read only when a
   * limit is reached: under it, the check is one count (and, with
   * `maxGroups`, one probe of the group).
   */
  #checkQuota(q: ReadQueries, method: string, g: string, key: string, now: number): MaybePromise<void> {
    const quota = this.#quota as Required<Quota>
    const groups = (): MaybePromise<void> => {
      if (quota.maxGroups <= 0) return
      return then(q.groupExists(g, now), (exists) => {
        if (exists) return // also true of every overwrite of a live key
        return then(q.countGroups(this.#prefix, now), (n) => {
          if (n >= quota.maxGroups) throw new QuotaExceededError(method, this.#namespace, 'maxGroups', quota.maxGroups)
        })
      })
    }
    if (quota.maxKeys <= 0) return groups()
    return then(q.countAll(this.#prefix, now), (n) => {
      if (n < quota.maxKeys) return groups()
      return then(q.get(g, key), (row) => {
        // At the limit only an overwrite of a live key passes, and its group exists.
        if (!live(row, now)) throw new QuotaExceededError(method, this.#namespace, 'maxKeys', quota.maxKeys)
      })
    })
  }

  /**
   * Removes a key; true when a live key was removed (a missing key emits no event).
   * @example
   * ```ts
   * await store.delete('session', 'abc') // true
   * ```
   */
  delete(group: string, key: string): Promise<boolean> {
    const method = this.#m.delete
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
}
