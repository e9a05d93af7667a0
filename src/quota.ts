/**
 * Quota checks of a scope's writes, run inside the write so that the check
 * and the write are atomic. Not exported from the package.
 *
 * @module
 */
import { live, then } from './backend/backend.js'
import type { MaybePromise } from './backend/backend.js'
import type { ReadQueries } from './backend/queries.js'
import { QuotaExceededError } from './errors.js'

/** Limits of a scope; 0 or absent means unlimited. */
export interface Quota {
  /** Live keys across the namespace. @default 0 */
  maxKeys?: number
  /** Distinct live groups in the namespace. @default 0 */
  maxGroups?: number
}

/** The namespace a quota applies to. */
export interface QuotaScope {
  readonly quota: Required<Quota>
  readonly namespace: string
  /** `'<namespace>:'`. */
  readonly prefix: string
}

/** Throws unless a group that is new to the namespace (`g`) fits under `maxGroups`. */
function checkGroups(q: ReadQueries, s: QuotaScope, method: string, g: string, now: number): MaybePromise<void> {
  const max = s.quota.maxGroups
  if (max <= 0) return
  return then(q.groupExists(g, now), (exists) => {
    if (exists) return // also true of every overwrite of a live key
    return then(q.countGroups(s.prefix, now), (n) => {
      if (n >= max) throw new QuotaExceededError(method, s.namespace, 'maxGroups', max)
    })
  })
}

/**
 * Throws QuotaExceededError when writing `(g, key)` would exceed a quota.
 * Overwriting a live key never counts, but the key is read only when a
 * limit is reached: under it, the check is one count (and, with
 * `maxGroups`, one probe of the group).
 */
export function checkQuota(q: ReadQueries, s: QuotaScope, method: string, g: string, key: string, now: number): MaybePromise<void> {
  const max = s.quota.maxKeys
  if (max <= 0) return checkGroups(q, s, method, g, now)
  return then(q.countAll(s.prefix, now), (n) => {
    if (n < max) return checkGroups(q, s, method, g, now)
    return then(q.get(g, key), (row) => {
      // At the limit only an overwrite of a live key passes, and its group exists.
      if (!live(row, now)) throw new QuotaExceededError(method, s.namespace, 'maxKeys', max)
    })
  })
}

/** Throws QuotaExceededError when writing the distinct `keys` of `g` would exceed a quota. */
export function checkQuotaMany(
  q: ReadQueries,
  s: QuotaScope,
  method: string,
  g: string,
  keys: readonly string[],
  now: number,
): MaybePromise<void> {
  return then(q.getMany(g, keys, now), (values) => {
    let created = 0
    for (const value of values) if (value === undefined) created++
    if (created === 0) return
    const max = s.quota.maxKeys
    if (max <= 0) return checkGroups(q, s, method, g, now)
    return then(q.countAll(s.prefix, now), (n) => {
      if (n + created > max) throw new QuotaExceededError(method, s.namespace, 'maxKeys', max)
      return checkGroups(q, s, method, g, now)
    })
  })
}
