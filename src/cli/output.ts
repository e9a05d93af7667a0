/**
 * Answers on stdout: plain for people, JSON (one value per line) for scripts.
 *
 * @module
 */
import { write } from './io.js'

/** Prints `json` as one JSON line with `--json`, else the plain text and a newline. */
export function answer(json: boolean, plain: string, value: unknown): Promise<void> | undefined {
  return write(process.stdout, json ? `${JSON.stringify(value)}\n` : `${plain}\n`)
}
