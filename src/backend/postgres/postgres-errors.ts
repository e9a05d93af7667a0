import { StoreError } from '../../errors.js'
import type { StoreErrorCode } from '../../errors.js'

/*
 * Driver errors: which ones mean the connection is gone or the transaction
 * was rolled back by a conflict (so that running it again is safe), and the
 * StoreError each becomes.
 */

/** The location with any password replaced, for messages. */
export function redact(location: string): string {
  try {
    const url = new URL(location)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return location.replace(/:[^:@/]*@/, ':***@')
  }
}

/** System errors of a connection that could not be made: nothing was sent. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
const CONNECTION_CODES = new Set([...UNREACHABLE, 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

/** True when `err` means the connection is gone (the server never ran, or rolled back, what followed). */
export function isConnectionLost(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true
    if (CONNECTION_CODES.has(code)) return true
  }
  return /Connection terminated|not queryable|timeout exceeded when trying to connect/i.test(err.message)
}

/** A serialisation failure or deadlock: the server rolled the transaction back, so running it again is safe. */
export function isConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return code === '40001' || code === '40P01'
}

/**
 * A driver error as a StoreError naming `method`, with the driver's error as
 * `cause`: an unreachable server or a lost connection is
 * `ERR_STORE_UNAVAILABLE`, but `ERR_COMMIT_UNKNOWN` when `committing` (COMMIT
 * was sent, so the write may have been applied), the write lock waited for
 * past busyTimeout `ERR_STORE_BUSY`. A group and key too long for the
 * primary key's index are the caller's to fix: a RangeError.
 */
export function pgError(method: string, err: unknown, busyTimeout: number, committing = false): StoreError | RangeError {
  const detail = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: unknown } | undefined)?.code
  let message: string
  let storeCode: StoreErrorCode = 'ERR_STORE'
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    message = `${method}: cannot reach PostgreSQL: ${detail}`
    storeCode = 'ERR_STORE_UNAVAILABLE'
  } else if (isConnectionLost(err)) {
    message = committing
      ? `${method}: lost the connection to PostgreSQL while committing, so the write may or may not have been applied: ${detail}`
      : `${method}: lost the connection to PostgreSQL: ${detail}`
    storeCode = committing ? 'ERR_COMMIT_UNKNOWN' : 'ERR_STORE_UNAVAILABLE'
  } else if (code === '55P03') {
    message = `${method}: the store is locked by another connection (waited busyTimeout ${busyTimeout} ms)`
    storeCode = 'ERR_STORE_BUSY'
  } else if (isConflict(err)) {
    message = `${method}: conflicted with a concurrent transaction and was rolled back (${String(code)}): ${detail}`
  } else if (code === '54000' && /index row/i.test(detail)) {
    // An argument this backend cannot store, as a lone surrogate is one no backend can: the caller's to fix.
    return new RangeError(
      `${method}: the group and key are too long for PostgreSQL's index (together at most about 2,700 bytes once compressed)`,
      { cause: err },
    )
  } else if (typeof code === 'string') {
    message = `${method}: PostgreSQL error ${code}: ${detail}`
  } else {
    message = `${method}: ${detail}`
  }
  return new StoreError(message, { cause: err }, storeCode)
}
