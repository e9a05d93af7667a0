/**
 * Process warnings of groupstore: each carries a stable code and is emitted
 * at most once per cause (its code and message) by each object that reports
 * it (a store, its event hub, its backend), so that a failure that recurs (a
 * background purge every interval, a callback that always throws) does not
 * flood the log.
 *
 * @module
 */

/** Stable codes of the warnings groupstore emits (`warning.code`). */
export type WarningCode =
  | 'GROUPSTORE_COMMIT_CALLBACK'
  | 'GROUPSTORE_ONCHANGE_CALLBACK'
  | 'GROUPSTORE_PURGE_FAILED'
  | 'GROUPSTORE_SUBSCRIBER'

/** Most causes remembered; past it the memory starts again, so that it stays bounded. */
const MAX_REMEMBERED = 1000

/**
 * The warnings of one reporter: each cause once.
 *
 * @example
 * ```ts
 * const warnings = new Warnings()
 * warnings.warn('GROUPSTORE_PURGE_FAILED', `background purge failed: ${err.message}`)
 * ```
 */
export class Warnings {
  readonly #reported = new Set<string>()

  /**
   * Emits a `GroupstoreWarning` with `code`, unless this reporter emitted one
   * with the same code and message before.
   */
  warn(code: WarningCode, message: string, detail?: string): void {
    const cause = `${code}\0${message}`
    if (this.#reported.has(cause)) return
    if (this.#reported.size >= MAX_REMEMBERED) this.#reported.clear()
    this.#reported.add(cause)
    process.emitWarning(message, detail === undefined ? { type: 'GroupstoreWarning', code } : { type: 'GroupstoreWarning', code, detail })
  }
}

/** The message of a thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
