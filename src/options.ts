/**
 * Options of {@link Store.open}, validated once on entry.
 *
 * @module
 */

/** Options of `Store.open`. Unknown option names are rejected. */
export interface StoreOptions {
  /**
   * Milliseconds between background purges of expired keys; 0 turns the
   * purge off. The timer never keeps the process alive.
   * @default 60000
   */
  purgeInterval?: number
  /**
   * File databases only. `'full'` survives power loss (an fsync per commit);
   * `'normal'` survives a crash of the process but may lose the last
   * commits on power loss.
   * @default 'full'
   */
  durability?: 'full' | 'normal'
  /**
   * Milliseconds to wait for another connection's write lock before failing
   * with a StoreError.
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
   * behind; older entries are pruned with the expiry purge. An entry is
   * pruned only when it is both older than `maxAge` ms and not among the
   * latest `maxCount`.
   * @default { maxAge: 86_400_000, maxCount: 100_000 }
   */
  changeRetention?: { maxAge?: number; maxCount?: number }
}

/** Options after defaults are applied. */
export interface ResolvedOptions extends Required<Omit<StoreOptions, 'changeRetention'>> {
  changeRetention: { maxAge: number; maxCount: number }
}

const KNOWN = new Set(['purgeInterval', 'durability', 'busyTimeout', 'now', 'changeLog', 'changeRetention'])

function nonNegativeInteger(value: unknown, name: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`Store.open: options.${name} must be a number of milliseconds, got ${typeof value}`)
  }
  if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new RangeError(`Store.open: options.${name} must be an integer from 0 to 2147483647 ms, got ${value}`)
  }
  return value
}

/** Validates `options` and fills in defaults. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object') {
    throw new TypeError('Store.open: options must be an object')
  }
  const o = options as Record<string, unknown>
  for (const name of Object.keys(o)) {
    if (!KNOWN.has(name)) {
      throw new TypeError(`Store.open: unknown option '${name}' (known: ${[...KNOWN].join(', ')})`)
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
  if (retention === null || typeof retention !== 'object') {
    throw new TypeError('Store.open: options.changeRetention must be an object')
  }
  for (const name of Object.keys(retention)) {
    if (name !== 'maxAge' && name !== 'maxCount') {
      throw new TypeError(`Store.open: unknown option 'changeRetention.${name}' (known: maxAge, maxCount)`)
    }
  }
  const r = retention as { maxAge?: unknown; maxCount?: unknown }
  const count = r.maxCount ?? 100_000
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new TypeError('Store.open: options.changeRetention.maxCount must be a non-negative integer')
  }
  const age = r.maxAge ?? 86_400_000
  if (typeof age !== 'number' || !Number.isFinite(age) || age < 0) {
    throw new TypeError('Store.open: options.changeRetention.maxAge must be a non-negative number of ms')
  }
  return {
    changeLog,
    changeRetention: { maxAge: age, maxCount: count },
    purgeInterval: nonNegativeInteger(o['purgeInterval'] ?? 60_000, 'purgeInterval'),
    durability,
    busyTimeout: nonNegativeInteger(o['busyTimeout'] ?? 5000, 'busyTimeout'),
    now: now as () => number,
  }
}
