/**
 * groupstore: string values under `(group, key)`, with per-key TTL, tenant
 * scopes with quotas, change events, Liquid templates and transactions.
 *
 * @example
 * ```ts
 * import { Store } from 'groupstore'
 * const store = await Store.open('app.db')
 * await store.set('config', 'theme', 'dark', { ttl: 60_000 })
 * ```
 *
 * @module
 */
export { Store } from './store.js'
export { ScopedStore } from './scope.js'
export type { ScopeOptions } from './scope.js'
export { Transaction } from './transaction.js'
export type { TransactionCallback } from './core.js'
export type { StoreOptions } from './options.js'
export type { Entry } from './atomic.js'
export type {
  ConditionalSetOptions,
  DeleteOptions,
  EntriesOptions,
  IfAbsentSetOptions,
  IfRevisionSetOptions,
  Page,
  PageOptions,
  Quota,
  RenderOptions,
  SetOptions,
  TtlOptions,
  UnconditionalSetOptions,
} from './operations.js'
export type { StoreEvent, StoreEventType, Watcher, WatchOptions } from './events.js'
export { QuotaExceededError, StoreClosedError, StoreError, TemplateError } from './errors.js'
export type { QuotaLimit, StoreErrorCode } from './errors.js'
