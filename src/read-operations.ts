/**
 * The reads shared by Store, ScopedStore and Transaction: point reads,
 * group and prefix reads, pages and templates, with their argument checks,
 * TTL policy and namespacing. `Operations` (operations.ts) adds the writes.
 *
 * @module
 */
import { live, then } from './backend/backend.js'
import type { MaybePromise } from './backend/backend.js'
import type { ReadQueries, StoredValue } from './backend/queries.js'
import { ENTRY_PAGE, readEntryPage } from './entry-page.js'
import type { EntryPage } from './entry-page.js'
import type { Executor } from './executor.js'
import { checkOptionalString, checkOptions, checkString } from './validate.js'

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

const PAGE_SIZE = 256
const MAX_LIMIT = 10_000

/** Checks `page`'s options; answers the limit (default 100). */
function checkPageOptions(method: string, options: PageOptions | undefined): number {
  checkOptions(method, options, ['after', 'limit', 'prefix'])
  checkOptionalString(method, 'options.after', options?.after)
  checkOptionalString(method, 'options.prefix', options?.prefix)
  const limit = options?.limit
  if (limit === undefined) return 100
  if (typeof limit !== 'number') throw new TypeError(`${method}: options.limit must be a number`)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new RangeError(`${method}: options.limit must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`)
  }
  return limit
}

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
/** The method names of one kind of object. */
export type Names = ReturnType<typeof names>
/** The method names of each kind of object. */
export const NAMES: Record<string, Names> = { store: names('store'), scope: names('scope'), tx: names('tx') }

/**
 * The shared read methods. `prefix` is `''` for the store itself and
 * `'<namespace>:'` for a scope; names given to and returned by these methods
 * are relative to it.
 */
export abstract class ReadOperations {
  readonly #exec: Executor
  readonly #prefix: string
  readonly #m: Names

  protected constructor(kind: 'store' | 'scope' | 'tx', exec: Executor, namespace: string) {
    this.#exec = exec
    this.#prefix = namespace === '' ? '' : `${namespace}:`
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
    // Where the row was: not read yet, live or missing, or expired. A read
    // that meets an expired key answers once the key's removal has
    // committed and its `expire` has been delivered, as a write's events are.
    let found = 'pending' as 'pending' | 'live' | 'expired'
    const answer = exec.read(method, (q) =>
      then(q.get(g, key), (row) => {
        if (row !== undefined && !live(row, now)) {
          found = 'expired'
          return map(undefined, g, now)
        }
        found = 'live'
        return map(row, g, now)
      }),
      { group: g, key },
    )
    // A read answered at once that found no expired key needs nothing more.
    if (found === 'live') return answer
    return answer.then((value) => (found === 'expired' ? exec.expire(g, key, now).then(() => value) : value))
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
   * such as `__proto__` are plain entries), filled in ascending key order as
   * `page` reads them (JavaScript lists integer-like keys first all the same).
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
    let limit: number
    try {
      limit = checkPageOptions(method, options)
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
   * @internal `page` with each key's expiry and revision, in one read, for
   * the command line's `export` and the server's key listing (see
   * entry-page.ts). Checks its arguments as `page` does.
   */
  [ENTRY_PAGE](group: string, options?: PageOptions): Promise<EntryPage> {
    const method = this.#m.page
    const exec = this.#exec
    let limit: number
    try {
      limit = checkPageOptions(method, options)
      checkString(method, 'group', group)
    } catch (err) {
      return Promise.reject(exec.refuse(method) ?? err)
    }
    const refused = exec.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    return readEntryPage(exec, method, this.#prefix + group, exec.now(), { after: options?.after, prefix: options?.prefix, limit })
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
