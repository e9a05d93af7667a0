/**
 * Options of {@link Store.open}, validated once on entry.
 *
 * @module
 */
import { checkOptions } from './validate.js'

/** Options of `Store.open`. Unknown option names are rejected. */
export interface StoreOptions {
  /**
   * Milliseconds between background purges of expired keys; 0 turns the
   * purge off. The timer never keeps the process alive.
   * @default 60000
   */
  purgeInterval?: number
  /**
   * File databases: `'full'` survives power loss (an fsync per commit);
   * `'normal'` survives a crash of the process but may lose the last
   * commits on power loss. PostgreSQL: `'full'` commits with the server's
   * own `synchronous_commit` setting; `'normal'` turns `synchronous_commit`
   * off for the store's writes, so a crash of the server may lose the last
   * commits (never corrupting anything).
   * @default 'full'
   */
  durability?: 'full' | 'normal'
  /**
   * Milliseconds to wait for another connection's write lock before failing
   * with a StoreError of code `ERR_STORE_BUSY` (on PostgreSQL, the store's
   * per-table write lock).
   * @default 5000
   */
  busyTimeout?: number
  /**
   * The clock, in milliseconds since the epoch. Tests pass their own to move
   * time without sleeping.
   * @default Date.now
   */
  now?: () => number
  /**
   * Record every change in the database's change log, so that watchers see
   * other processes' writes and can resume from a revision. Turn it off for
   * write-heavy stores that need no cross-process events: events then reach
   * only this store's own subscribers. No effect on `':memory:'`, which
   * never has a log.
   * @default true
   */
  changeLog?: boolean
  /**
   * How much history the change log keeps for watchers that resume or fall
   * behind: at most the latest `maxCount` entries, none older than `maxAge`
   * ms (0: no limit by age). The newest entry is always kept. Entries past
   * either limit are pruned a few at a time as writes happen, and all at
   * once by the expiry purge; a watcher resuming from a pruned revision is
   * told what it missed. Raise both limits to keep more.
   * @default { maxAge: 300_000, maxCount: 10_000 }
   */
  changeRetention?: { maxAge?: number; maxCount?: number }
  /**
   * PostgreSQL only: the most connections the store's pool opens. Reads run
   * in parallel on them; transactions hold one each for their whole life.
   * (Watching opens one more, for `LISTEN`.)
   * @default 10
   */
  poolSize?: number
  /**
   * PostgreSQL only: the schema holding the store's tables, created if
   * missing. A letter or `_`, then letters, digits or `_`. Without it, the
   * first schema of the connection's `search_path` (normally `public`; set
   * it per role, or with `?options=-c%20search_path%3Dapp` in the URL).
   * @default the first schema of the search_path
   */
  schema?: string
  /**
   * PostgreSQL only: the name of the key-value table; the change log and its
   * counter are `<table>_changes` and `<table>_revision`. Stores with different
   * tables (or schemas) share one database without seeing each other. A
   * letter or `_`, then letters, digits or `_`, at most 40 characters.
   * @default 'kv'
   */
  table?: string
}

/** Options after defaults are applied. */
export interface ResolvedOptions extends Required<Omit<StoreOptions, 'changeRetention' | 'schema'>> {
  changeRetention: { maxAge: number; maxCount: number }
  /** Undefined: the first schema of the connection's search_path. */
  schema: string | undefined
}

/**
 * The change log's default retention: what a watcher that reconnects after
 * a restart or a dropped connection needs (minutes of history, bounded in
 * entries), not a day of writes with their values.
 */
export const DEFAULT_RETENTION = { maxAge: 300_000, maxCount: 10_000 } as const

const COMMON = ['purgeInterval', 'durability', 'busyTimeout', 'now', 'changeLog', 'changeRetention']
const POSTGRES_ONLY = ['poolSize', 'schema', 'table']
const KNOWN: readonly string[] = [...COMMON, ...POSTGRES_ONLY]
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
/** Longest table name: `<table>_revision` and index names must fit PostgreSQL's 63-byte identifiers. */
const MAX_TABLE = 40

function nonNegativeInteger(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`Store.open: options.${name} must be a number of milliseconds, got ${typeof value}`)
  }
  if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new RangeError(`Store.open: options.${name} must be an integer from 0 to 2147483647 ms, got ${value}`)
  }
  return value
}

function identifier(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string') throw new TypeError(`Store.open: options.${name} must be a string`)
  if (!IDENTIFIER.test(value) || value.length > max) {
    throw new TypeError(
      `Store.open: options.${name} must be a letter or '_' followed by letters, digits or '_', ` +
        `at most ${max} characters, got ${JSON.stringify(value)}`,
    )
  }
  return value
}

/**
 * Validates `options` and fills in defaults. `postgres` says whether the
 * location is a PostgreSQL URL: the PostgreSQL-only options are refused
 * elsewhere rather than silently ignored.
 */
export function resolveOptions(options: unknown, postgres = false): ResolvedOptions {
  checkOptions('Store.open', options, KNOWN)
  const o = (options ?? {}) as Record<string, unknown>
  for (const name of Object.keys(o)) {
    if (!postgres && POSTGRES_ONLY.includes(name) && o[name] !== undefined) {
      throw new TypeError(`Store.open: options.${name} applies only to postgres:// locations`)
    }
  }
  const durability = o['durability'] ?? 'full'
  if (durability !== 'full' && durability !== 'normal') {
    throw new TypeError(`Store.open: options.durability must be 'full' or 'normal', got ${String(durability)}`)
  }
  const now = o['now'] ?? Date.now
  if (typeof now !== 'function') throw new TypeError('Store.open: options.now must be a function returning ms')
  const changeLog = o['changeLog'] ?? true
  if (typeof changeLog !== 'boolean') throw new TypeError('Store.open: options.changeLog must be a boolean')
  const retention = o['changeRetention'] ?? {}
  if (retention === null || typeof retention !== 'object' || Array.isArray(retention)) {
    throw new TypeError('Store.open: options.changeRetention must be an object')
  }
  for (const name of Object.keys(retention)) {
    if (name !== 'maxAge' && name !== 'maxCount') {
      throw new TypeError(`Store.open: unknown option 'changeRetention.${name}' (known: maxAge, maxCount)`)
    }
  }
  const r = retention as { maxAge?: unknown; maxCount?: unknown }
  const count = r.maxCount ?? DEFAULT_RETENTION.maxCount
  if (typeof count !== 'number') {
    throw new TypeError(`Store.open: options.changeRetention.maxCount must be a number of entries, got ${typeof count}`)
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`Store.open: options.changeRetention.maxCount must be a non-negative integer, got ${count}`)
  }
  const age = r.maxAge ?? DEFAULT_RETENTION.maxAge
  if (typeof age !== 'number') {
    throw new TypeError(`Store.open: options.changeRetention.maxAge must be a number of ms, got ${typeof age}`)
  }
  if (!Number.isFinite(age) || age < 0) {
    throw new RangeError(`Store.open: options.changeRetention.maxAge must be a non-negative number of ms, got ${age}`)
  }
  const poolSize = o['poolSize'] ?? 10
  if (typeof poolSize !== 'number' || !Number.isInteger(poolSize)) {
    throw new TypeError('Store.open: options.poolSize must be an integer number of connections')
  }
  if (poolSize < 1 || poolSize > 1000) {
    throw new RangeError(`Store.open: options.poolSize must be from 1 to 1000, got ${poolSize}`)
  }
  return {
    changeLog,
    changeRetention: { maxAge: age, maxCount: count },
    purgeInterval: nonNegativeInteger(o['purgeInterval'] ?? 60_000, 'purgeInterval'),
    durability,
    busyTimeout: nonNegativeInteger(o['busyTimeout'] ?? 5000, 'busyTimeout'),
    now: now as () => number,
    poolSize,
    schema: o['schema'] === undefined ? undefined : identifier(o['schema'], 'schema', 63),
    table: identifier(o['table'] ?? 'kv', 'table', MAX_TABLE),
  }
}
