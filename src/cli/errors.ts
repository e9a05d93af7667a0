/**
 * Exit codes and the errors the command line reports with them.
 *
 * @module
 */
// The library's error module alone (the class index.js exports), so that usage errors load no store.
import { StoreError } from '../errors.js'

/** The exit codes of `groupstore`, documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  notFound: 1,
  usage: 2,
  store: 3,
} as const

/** An exit code of `groupstore`. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** A failure the command line reports as one line on stderr, exiting with `code`. */
export class CliError extends Error {
  readonly code: ExitCode

  constructor(code: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
    this.code = code
  }
}

/** A bad argument or bad input: exit 2. */
export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message)
}

/** Nothing to answer (an absent key): exit 1. */
export function notFound(message: string): CliError {
  return new CliError(EXIT.notFound, message)
}

/**
 * The exit code for an error: a StoreError (including templates and quotas)
 * is 3; an invalid argument the library refused is a usage error (2).
 */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) return err.code
  if (err instanceof StoreError) return EXIT.store
  if (err instanceof TypeError || err instanceof RangeError) return EXIT.usage
  return EXIT.store
}

/** One line for stderr: the message without its stack, newlines folded. */
export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.replace(/\s*\n\s*/g, ' ').trim()
}
