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
}

/** Options after defaults are applied. */
export type ResolvedOptions = Required<StoreOptions>

const KNOWN = new Set(['purgeInterval', 'durability', 'busyTimeout', 'now'])

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
  return {
    purgeInterval: nonNegativeInteger(o['purgeInterval'] ?? 60_000, 'purgeInterval'),
    durability,
    busyTimeout: nonNegativeInteger(o['busyTimeout'] ?? 5000, 'busyTimeout'),
    now: now as () => number,
  }
}
