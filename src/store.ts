/**
 * The Store: open, read, write, watch, scope, transact, close.
 *
 * @module
 */
import { then } from './backend/backend.js'
import { isPostgresLocation, openBackend } from './backend/open.js'
import { StoreCore } from './core.js'
import type { TransactionCallback } from './core.js'
import { matches } from './events.js'
import type { StoreEvent, Watcher, WatchOptions } from './events.js'
import { StoreClosedError } from './errors.js'
import { Operations } from './operations.js'
import { resolveOptions } from './options.js'
import type { StoreOptions } from './options.js'
import { checkScope, ScopedStore } from './scope.js'
import type { ScopeOptions } from './scope.js'
import { messageOf, Warnings } from './warnings.js'

/**
 * The key of Store's internal method that lets the reads of the rest of one
 * event-loop turn share a snapshot of the file (the server calls it for
 * each read request; see `Backend.shareReadsThisTurn`). Not exported by the package.
 */
export const SHARE_READS: unique symbol = Symbol('groupstore.shareReads')

/**
 * The key of Store's internal method answering when a subscriber added now
 * sees every change committed from then on, by any connection (see
 * `Feed.ready`): the server sends an event stream's headers then. Not
 * exported by the package.
 */
export const FEED_READY: unique symbol = Symbol('groupstore.feedReady')

/**
 * A key-value store of string values under `(group, key)`, with per-key
 * TTL, tenant scopes with quotas, change events, Liquid templates and
 * transactions, on embedded SQLite (a file or `':memory:'`).
 *
 * @example
 * ```ts
 * import { Store } from 'groupstore'
 * await using store = await Store.open('app.db')
 * await store.set('config', 'theme', 'dark')
 * await store.get('config', 'theme') // 'dark'
 * ```
 */
export class Store extends Operations implements AsyncDisposable {
  readonly #core: StoreCore
  readonly #timer: NodeJS.Timeout | undefined
  #purging = false
  readonly #warnings = new Warnings()
  #closing: Promise<void> | undefined

  private constructor(core: StoreCore, purgeInterval: number) {
    super('store', core, '')
    this.#core = core
    if (purgeInterval > 0) {
      this.#timer = setInterval(() => this.#backgroundPurge(), purgeInterval)
      this.#timer.unref()
    }
  }

  /** Internal (see {@link SHARE_READS}): nothing to do once closed, or where every read is as cheap alone. */
  [SHARE_READS](): void {
    if (!this.#core.closed) this.#core.backend.shareReadsThisTurn?.()
  }

  /** Internal (see {@link FEED_READY}). */
  [FEED_READY](): Promise<void> {
    return this.#core.feed.ready()
  }

  /**
   * Opens a store: `':memory:'` (the default), a file path (created if
   * missing; its folder must exist), or a `postgres://` / `postgresql://`
   * URL (the optional `pg` package must be installed; tables are created on
   * first open; see docs/postgres.md). A file that is not a database rejects
   * with a StoreError naming the path and is left untouched. go-store
   * databases, including pre-TTL ones, open as they are.
   *
   * @example
   * ```ts
   * const store = await Store.open('data.db', { durability: 'normal', purgeInterval: 10_000 })
   * const shared = await Store.open('postgres://app@db.internal/app', { poolSize: 20 })
   * ```
   */
  static async open(location = ':memory:', options?: StoreOptions): Promise<Store> {
    if (typeof location !== 'string') {
      throw new TypeError(`Store.open: location must be a string (':memory:', a file path or a postgres:// URL)`)
    }
    if (location === '') throw new TypeError(`Store.open: location must not be empty; use ':memory:' for an in-memory store`)
    const resolved = resolveOptions(options, isPostgresLocation(location))
    const backend = await openBackend(location, resolved)
    try {
      return new Store(await StoreCore.open(backend, resolved), resolved.purgeInterval)
    } catch (err) {
      await backend.close()
      throw err
    }
  }

  #backgroundPurge(): void {
    if (this.#purging || this.#core.closed) return
    this.#purging = true
    this.purgeExpired()
      .catch((err: unknown) => {
        if (this.#core.closed) return
        this.#warnings.warn('GROUPSTORE_PURGE_FAILED', `background purge failed: ${messageOf(err)}`)
      })
      .finally(() => {
        this.#purging = false
      })
  }

  /**
   * Physically removes expired keys, emitting `expire` for each; answers how
   * many. Expired keys are invisible to reads whether purged or not. Also
   * prunes the change log to its retention.
   *
   * @example
   * ```ts
   * const removed = await store.purgeExpired()
   * ```
   */
  purgeExpired(): Promise<number> {
    const method = 'store.purgeExpired'
    const core = this.#core
    const refused = core.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    const now = core.now()
    return core.write(method, (q, emit) =>
      then(q.purgeExpired(now), (keys) => {
        for (const k of keys) emit('expire', k.group, k.key)
        return then(core.feed.prune(q, now), () => keys.length)
      }),
    )
  }

  /**
   * The latest committed revision of the change feed (on a file, including
   * other processes' writes): remember it and pass it as `since` to `watch`
   * to resume without losing an event.
   *
   * @example
   * ```ts
   * const since = await store.revision()
   * // … later, or after a restart:
   * for await (const event of store.watch('*', '*', { since })) handle(event)
   * ```
   */
  revision(): Promise<number> {
    const refused = this.#core.refuse('store.revision')
    if (refused !== undefined) return Promise.reject(refused)
    return this.#core.feed.revision('store.revision')
  }

  /**
   * Runs `fn` all-or-nothing across groups. A throw rolls back and rethrows;
   * other operations wait and never see uncommitted writes; events fire
   * after commit. Inside `fn` use `tx`, not the store (that rejects with a
   * StoreError instead of waiting for ever).
   *
   * @example
   * ```ts
   * await store.transaction(async (tx) => {
   *   await tx.delete('queue', 'job-1')
   *   await tx.set('done', 'job-1', 'ok')
   * })
   * ```
   */
  transaction<T>(fn: TransactionCallback<T>): Promise<T> {
    return this.#core.transaction('store.transaction', fn, '', undefined)
  }

  /**
   * Watches changes: `watch('g', 'k')` one key (and its group's
   * `delete_group`), `watch('g', '*')` a group, `watch('*', '*')` everything,
   * whoever made the write. `options.since` replays from a revision first.
   * Breaking out of `for await`, `close()` or the abort signal ends it;
   * closing the store ends it after the events committed before the close
   * (one that fell behind its buffer reads them back first). While a
   * consumer awaits `next()`, the watcher keeps the process alive.
   *
   * @example
   * ```ts
   * for await (const event of store.watch('config', '*')) {
   *   console.log(event.type, event.key, event.value)
   * }
   * ```
   */
  watch(group: string, key: string, options?: WatchOptions): Watcher {
    return this.#core.watch('store.watch', group, key, options, (e, g, k) => (matches(e, g, k) ? e : undefined))
  }

  /**
   * Calls `fn` synchronously after each commit; for writes through this
   * store it has run by the time the write's promise resolves. `fn` may call
   * any store method; a throw is reported as a warning and stops nothing.
   * Answers an idempotent unsubscribe.
   *
   * @example
   * ```ts
   * const unsubscribe = store.onChange((event) => console.log(event.type, event.group, event.key))
   * unsubscribe()
   * ```
   */
  onChange(fn: (event: StoreEvent) => void): () => void {
    return this.#core.onChange('store.onChange', fn, (e) => e)
  }

  /**
   * A tenant scope whose groups are stored as `<namespace>:<group>`.
   * `namespace` must match `^[a-zA-Z0-9-]+$`, else TypeError.
   *
   * @example
   * ```ts
   * const tenant = store.scope('tenant-42', { quota: { maxKeys: 1000 } })
   * await tenant.set('config', 'theme', 'dark') // group 'tenant-42:config'
   * ```
   */
  scope(namespace: string, options?: ScopeOptions): ScopedStore {
    if (this.#core.closed) throw new StoreClosedError('store.scope')
    return new ScopedStore(this.#core, namespace, checkScope(namespace, options))
  }

  /**
   * Stops the purge timer, waits for writes and reads in flight, closes the
   * database and ends every watcher (after the events committed before the
   * close: one that fell behind its buffer reads them back first). Idempotent;
   * later operations reject with StoreClosedError, and `watch`, `onChange`
   * and `scope` throw it. Called from inside one of the store's own
   * transaction callbacks (which it would wait for), it rejects with a
   * StoreError and closes nothing.
   *
   * @example
   * ```ts
   * await store.close()
   * ```
   */
  close(): Promise<void> {
    const core = this.#core
    // From inside a transaction callback, close would wait for ever for that transaction.
    const misuse = core.misuse('store.close')
    if (misuse !== undefined) return Promise.reject(misuse)
    if (this.#closing !== undefined) return this.#closing
    core.closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    core.feed.close()
    // A watcher that fell behind its buffer reads the rest back before the database closes.
    const draining = core.feed.hub.drain()
    const closed = draining === undefined ? core.backend.close() : draining.then(() => core.backend.close())
    this.#closing = closed.finally(() => core.feed.hub.closeAll())
    return this.#closing
  }

  /** `await using store = await Store.open(…)` closes the store at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
