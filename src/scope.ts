/**
 * Tenant scopes: a namespace over a store, with optional quotas.
 *
 * @module
 */
import type { StoreCore, TransactionCallback } from './core.js'
import { matches } from './events.js'
import type { StoreEvent, Watcher, WatchOptions } from './events.js'
import { Operations } from './operations.js'
import type { Quota } from './operations.js'

/** Options of `store.scope`. */
export interface ScopeOptions {
  /** Limits of the namespace; absent or 0 means unlimited. */
  quota?: Quota
}

const NAMESPACE = /^[a-zA-Z0-9-]+$/

/** Validates scope arguments; answers the quota with zeros for absent limits. */
export function checkScope(namespace: unknown, options: unknown): Required<Quota> {
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    throw new TypeError(`store.scope: namespace must match ${String(NAMESPACE)}, got ${JSON.stringify(namespace)}`)
  }
  if (options === undefined) return { maxKeys: 0, maxGroups: 0 }
  if (options === null || typeof options !== 'object') throw new TypeError('store.scope: options must be an object')
  for (const name of Object.keys(options)) {
    if (name !== 'quota') throw new TypeError(`store.scope: unknown option '${name}' (known: quota)`)
  }
  const quota = (options as ScopeOptions).quota
  if (quota === undefined) return { maxKeys: 0, maxGroups: 0 }
  if (quota === null || typeof quota !== 'object') throw new TypeError('store.scope: options.quota must be an object')
  for (const name of Object.keys(quota)) {
    if (name !== 'maxKeys' && name !== 'maxGroups') {
      throw new TypeError(`store.scope: unknown quota '${name}' (known: maxKeys, maxGroups)`)
    }
  }
  const limit = (name: 'maxKeys' | 'maxGroups'): number => {
    const value = quota[name] ?? 0
    if (typeof value !== 'number') {
      throw new TypeError(`store.scope: options.quota.${name} must be a number, got ${typeof value}`)
    }
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`store.scope: options.quota.${name} must be a non-negative integer, got ${value}`)
    }
    return value
  }
  return { maxKeys: limit('maxKeys'), maxGroups: limit('maxGroups') }
}

/**
 * A tenant's view of a store: groups are stored as `<namespace>:<group>`,
 * and every name given or returned is relative to the namespace. Writes that
 * would exceed the quota reject with QuotaExceededError and change nothing.
 *
 * @example
 * ```ts
 * const tenant = store.scope('tenant-42', { quota: { maxKeys: 1000, maxGroups: 10 } })
 * await tenant.set('config', 'theme', 'dark')  // stored in group 'tenant-42:config'
 * await tenant.groups()                        // ['config']
 * ```
 */
export class ScopedStore extends Operations {
  /** The namespace this scope writes under. */
  readonly namespace: string
  readonly #core: StoreCore
  readonly #quota: Required<Quota>
  readonly #prefix: string

  /** @internal Made by `store.scope`. */
  constructor(core: StoreCore, namespace: string, quota: Required<Quota>) {
    super('scope', core, namespace, quota)
    this.#core = core
    this.namespace = namespace
    this.#quota = quota
    this.#prefix = `${namespace}:`
  }

  /** The event as this scope sees it (relative group), or undefined when it is another namespace's. */
  #relative(event: StoreEvent): StoreEvent | undefined {
    if (!event.group.startsWith(this.#prefix)) return undefined
    return { ...event, group: event.group.slice(this.#prefix.length) }
  }

  /**
   * All-or-nothing across the scope's groups, with its quota enforced.
   * See {@link Store.transaction}.
   */
  transaction<T>(fn: TransactionCallback<T>): Promise<T> {
    return this.#core.transaction('scope.transaction', fn, this.namespace, this.#quota)
  }

  /** Watches the scope's own groups; group names in events are relative. */
  watch(group: string, key: string, options?: WatchOptions): Watcher {
    return this.#core.watch('scope.watch', group, key, options, (e, g, k) => {
      const seen = this.#relative(e)
      return seen !== undefined && matches(seen, g, k) ? seen : undefined
    })
  }

  /** Calls `fn` after each commit that changes the scope; group names relative. */
  onChange(fn: (event: StoreEvent) => void): () => void {
    return this.#core.onChange('scope.onChange', fn, (e) => this.#relative(e))
  }
}
