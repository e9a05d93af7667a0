/**
 * Error classes raised by groupstore. Every store condition is a
 * {@link StoreError} with a stable `code`; invalid arguments are plain
 * `TypeError` / `RangeError`, as in Node's own APIs.
 *
 * @module
 */

/**
 * Stable codes carried by {@link StoreError} and its subclasses:
 * - `ERR_STORE_BUSY`: another connection held the write lock past
 *   `busyTimeout`; nothing was written, and trying again later may succeed.
 * - `ERR_STORE_CORRUPT`: the file is damaged, or is not a groupstore
 *   database (a foreign file or table); nothing was written.
 * - `ERR_STORE_UNAVAILABLE`: the database server cannot be reached or the
 *   connection was lost before the commit; nothing was written.
 * - `ERR_COMMIT_UNKNOWN`: the connection was lost while committing and the
 *   server could not be asked whether it committed: the write may or may
 *   not have been applied (read before retrying).
 * - `ERR_STORE`: any other store condition (I/O, a full disk, a read-only
 *   file, a misused transaction, other driver errors).
 * - `ERR_NOT_INTEGER`: `increment` met a stored value that is not an
 *   integer; nothing was written.
 * - `ERR_STORE_CLOSED`, `ERR_QUOTA_EXCEEDED`, `ERR_TEMPLATE`: see the subclasses.
 */
export type StoreErrorCode =
  | 'ERR_STORE'
  | 'ERR_STORE_BUSY'
  | 'ERR_STORE_CORRUPT'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_COMMIT_UNKNOWN'
  | 'ERR_STORE_CLOSED'
  | 'ERR_QUOTA_EXCEEDED'
  | 'ERR_TEMPLATE'
  | 'ERR_NOT_INTEGER'

/**
 * A store condition: I/O failure, a corrupt or foreign file, a lock wait past
 * `busyTimeout`, a lost connection, a backend failure, or a misuse of a
 * transaction; `code` says which (see {@link StoreErrorCode}). The driver's
 * error, when there is one, is kept as `cause`.
 *
 * @example
 * ```ts
 * try { await Store.open('notes.txt') } // a text file, not a database
 * catch (err) { if (err instanceof StoreError) console.error(err.code, err.message) }
 * ```
 */
export class StoreError extends Error {
  /** Stable machine-readable code. */
  readonly code: StoreErrorCode

  constructor(message: string, options?: { cause?: unknown }, code: StoreErrorCode = 'ERR_STORE') {
    super(message, options)
    this.name = 'StoreError'
    this.code = code
  }
}

/**
 * Raised by every operation on a store after `close()`.
 *
 * @example
 * ```ts
 * await store.close()
 * await store.get('g', 'k') // rejects with StoreClosedError (code ERR_STORE_CLOSED)
 * ```
 */
export class StoreClosedError extends StoreError {
  constructor(method: string) {
    super(`${method}: the store is closed`, undefined, 'ERR_STORE_CLOSED')
    this.name = 'StoreClosedError'
  }
}

/** Which quota a write would have exceeded. */
export type QuotaLimit = 'maxKeys' | 'maxGroups'

/**
 * A write through a scoped store would push its namespace past a quota.
 * Nothing was written.
 *
 * @example
 * ```ts
 * const tenant = store.scope('t1', { quota: { maxKeys: 1 } })
 * await tenant.set('g', 'a', '1')
 * await tenant.set('g', 'b', '2') // rejects: err.limit === 'maxKeys'
 * ```
 */
export class QuotaExceededError extends StoreError {
  /** The namespace whose quota was hit. */
  readonly namespace: string
  /** The quota that would have been exceeded. */
  readonly limit: QuotaLimit

  constructor(method: string, namespace: string, limit: QuotaLimit, max: number) {
    super(
      `${method}: quota exceeded for namespace '${namespace}': ${limit} is ${max}`,
      undefined,
      'ERR_QUOTA_EXCEEDED',
    )
    this.name = 'QuotaExceededError'
    this.namespace = namespace
    this.limit = limit
  }
}

/**
 * A template failed to parse or render (with `strict: true`, a missing
 * variable), or hit a render limit.
 *
 * @example
 * ```ts
 * await store.render('{{ missing }}', 'cfg', { strict: true }) // rejects with TemplateError
 * ```
 */
export class TemplateError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, 'ERR_TEMPLATE')
    this.name = 'TemplateError'
  }
}

/**
 * `increment` met a stored value that is not a base-10 integer (an optional
 * `-` then digits): a plain {@link StoreError} with code `ERR_NOT_INTEGER`.
 * Nothing was written.
 */
export function notIntegerError(method: string, group: string, key: string, value: string): StoreError {
  return new StoreError(
    `${method}: the value of ${JSON.stringify(group)}/${JSON.stringify(key)} is not an integer: ${shortened(value, JSON.stringify)}`,
    undefined,
    'ERR_NOT_INTEGER',
  )
}

/** A stored value as a message shows it: its first 40 characters, `show`n, then `…` when there were more. */
export function shortened(value: string, show: (s: string) => string = String): string {
  return value.length > 40 ? `${show(value.slice(0, 40))}…` : show(value)
}

/** Wraps an unexpected driver failure in a StoreError named after `method`. */
export function wrapError(method: string, err: unknown): Error {
  if (err instanceof StoreError || err instanceof TypeError || err instanceof RangeError) return err
  const detail = err instanceof Error ? err.message : String(err)
  return new StoreError(`${method}: ${detail}`, { cause: err })
}
