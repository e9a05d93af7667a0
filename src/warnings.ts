/**
 * Process warnings of groupstore: each carries a stable code and is emitted
 * at most once per cause (its code and message), so that a failure that
 * recurs (a background purge every interval, a callback that always throws)
 * does not flood the log.
 *
 * @module
 */

/** Stable codes of the warnings groupstore emits (`warning.code`). */
export type WarningCode =
  | 'GROUPSTORE_COMMIT_CALLBACK'
  | 'GROUPSTORE_ONCHANGE_CALLBACK'
  | 'GROUPSTORE_PURGE_FAILED'
  | 'GROUPSTORE_SUBSCRIBER'

/** Causes already reported; cleared when it grows past {@link MAX_REMEMBERED}, so it stays bounded. */
const reported = new Set<string>()
const MAX_REMEMBERED = 1000

/**
 * Emits a `GroupstoreWarning` with `code`, unless one with the same code and
 * message was emitted before in this process.
 *
 * @example
 * ```ts
 * warnOnce('GROUPSTORE_PURGE_FAILED', `background purge failed: ${err.message}`)
 * ```
 */
export function warnOnce(code: WarningCode, message: string, detail?: string): void {
  const cause = `${code}\0${message}`
  if (reported.has(cause)) return
  if (reported.size >= MAX_REMEMBERED) reported.clear()
  reported.add(cause)
  process.emitWarning(message, detail === undefined ? { type: 'GroupstoreWarning', code } : { type: 'GroupstoreWarning', code, detail })
}

/** The message of a thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
