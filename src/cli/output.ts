/**
 * Answers on stdout: plain for people (durations too), JSON (one value per
 * line) for scripts.
 *
 * @module
 */
import { notFound } from './errors.js'
import { write, writeRaw } from './io.js'

/** Prints `json` as one JSON line with `--json`, else the plain text and a newline. */
export function answer(json: boolean, plain: string, value: unknown): Promise<void> | undefined {
  return write(process.stdout, json ? `${JSON.stringify(value)}\n` : `${plain}\n`)
}

/** The error of a command that found no live key: exit 1. */
export function absentKey(group: string, key: string): Error {
  return notFound(`no key ${JSON.stringify(key)} in group ${JSON.stringify(group)}`)
}

/**
 * What `get` prints for what it found: the raw value, or with `json` the
 * entry `{"group","key","value","revision","expiresAt"}`; nothing found
 * throws {@link absentKey}.
 */
export async function printGet(
  group: string,
  key: string,
  json: boolean,
  found: { value: string; revision?: number | null; expiresAt?: number | null } | undefined,
): Promise<void> {
  if (found === undefined) throw absentKey(group, key)
  if (!json) return writeRaw(found.value)
  const { value, revision, expiresAt } = found
  await write(process.stdout, `${JSON.stringify({ group, key, value, revision, expiresAt })}\n`)
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
