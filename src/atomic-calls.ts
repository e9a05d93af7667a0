/**
 * The public entry points of `getEntry`, `increment`, `getMany`, `setMany`
 * and `deleteMany` as Store, ScopedStore and Transaction call them: refusal
 * (a closed store, a settled transaction), argument checks, namespacing,
 * then the work in `atomic.ts`. Not exported from the package.
 *
 * @module
 */
import * as atomic from './atomic.js'
import type { Entry, OpContext } from './atomic.js'
import type { Executor } from './executor.js'
import type { TtlOptions } from './operations.js'
import { checkOptions, checkString, checkTtl } from './validate.js'

/** The largest time a Date can hold (the year 275760): a key whose TTL ends later expires then. */
export const MAX_TIME = 8.64e15

/**
 * The expiry time of a write with `ttl` (any finite number of ms above 0),
 * or a throw for a bad one: in whole milliseconds, rounded up, so at least
 * 1 ms ahead however small the TTL, and at most {@link MAX_TIME} however
 * large, so that it stays an integer that a Date can show.
 */
export function expiry(exec: Executor, method: string, ttl: unknown): number {
  const checked = checkTtl(method, ttl)
  const now = exec.now()
  return Math.min(MAX_TIME, Math.max(Math.ceil(now + checked), Math.floor(now) + 1))
}

/** Runs `check` then `run`, rejecting instead of throwing; first refuses work the executor will not take. */
function guarded<T>(ctx: OpContext, method: string, check: () => void, run: () => Promise<T>): Promise<T> {
  const refused = ctx.exec.refuse(method)
  if (refused !== undefined) return Promise.reject(refused)
  try {
    check()
  } catch (err) {
    return Promise.reject(err)
  }
  return run()
}

/** The expiry of `options.ttl` (options of `increment` and `setMany`), or null. */
function ttlOption(ctx: OpContext, method: string, options: unknown): number | null {
  checkOptions(method, options, ['ttl'])
  const ttl = (options as TtlOptions | undefined)?.ttl
  return ttl === undefined ? null : expiry(ctx.exec, method, ttl)
}

/** `getEntry(group, key)`. */
export function getEntry(ctx: OpContext, method: string, group: string, key: string): Promise<Entry | undefined> {
  return guarded(
    ctx,
    method,
    () => {
      checkString(method, 'group', group)
      checkString(method, 'key', key)
    },
    () => atomic.getEntry(ctx, method, ctx.prefix + group, key),
  )
}

/** `increment(group, key, by?, options?)`: without closures, as it is a hot path. */
export function increment(
  ctx: OpContext,
  method: string,
  group: string,
  key: string,
  by: unknown,
  options: unknown,
): Promise<number> {
  const refused = ctx.exec.refuse(method)
  if (refused !== undefined) return Promise.reject(refused)
  let step: number
  let expiresAt: number | null = null
  try {
    checkString(method, 'group', group)
    checkString(method, 'key', key)
    step = atomic.checkBy(method, by)
    if (options !== undefined) expiresAt = ttlOption(ctx, method, options)
  } catch (err) {
    return Promise.reject(err)
  }
  return atomic.increment(ctx, method, ctx.prefix + group, key, step, expiresAt)
}

/** `getMany(group, keys)`. */
export function getMany(ctx: OpContext, method: string, group: string, keys: unknown): Promise<(string | undefined)[]> {
  return guarded(
    ctx,
    method,
    () => {
      checkString(method, 'group', group)
      atomic.checkKeys(method, keys)
    },
    () => atomic.getMany(ctx, method, ctx.prefix + group, keys as string[]),
  )
}

/** `setMany(group, entries, options?)`. */
export function setMany(ctx: OpContext, method: string, group: string, entries: unknown, options: unknown): Promise<number> {
  let pairs: [string, string][] = []
  let expiresAt: number | null = null
  return guarded(
    ctx,
    method,
    () => {
      checkString(method, 'group', group)
      pairs = atomic.checkPairs(method, entries)
      expiresAt = ttlOption(ctx, method, options)
    },
    () => atomic.setMany(ctx, method, ctx.prefix + group, pairs, expiresAt),
  )
}

/** `deleteMany(group, keys)`. */
export function deleteMany(ctx: OpContext, method: string, group: string, keys: unknown): Promise<number> {
  return guarded(
    ctx,
    method,
    () => {
      checkString(method, 'group', group)
      atomic.checkKeys(method, keys)
    },
    () => atomic.deleteMany(ctx, method, ctx.prefix + group, keys as string[]),
  )
}
