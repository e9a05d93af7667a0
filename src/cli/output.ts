/**
 * Answers on stdout: plain for people (durations too), JSON (one value per
 * line) for scripts.
 *
 * @module
 */
import { write } from './io.js'

/** Prints `json` as one JSON line with `--json`, else the plain text and a newline. */
export function answer(json: boolean, plain: string, value: unknown): Promise<void> | undefined {
  return write(process.stdout, json ? `${JSON.stringify(value)}\n` : `${plain}\n`)
}

/** A duration for people: `1h 2m 3s`, `450ms`. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${milliseconds}ms`
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ]
  const parts: string[] = []
  let rest = Math.floor(milliseconds / 1000) * 1000
  for (const [name, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${name}`)
      rest %= size
    }
  }
  return parts.join(' ')
}
