/**
 * `import [FILE | -]`: JSON Lines as written by `export`, all or nothing.
 *
 * @module
 */
import type { SingleBar } from 'cli-progress'
import { withSession } from '../context.js'
import { usageError } from '../errors.js'
import { openInput, readLines } from '../io.js'
import { answer } from '../output.js'
import type { ExportRecord } from './export.js'
import type { JsonOptions } from './keys.js'

/** Inputs from this size up get a progress bar (when stderr is a terminal). */
export const PROGRESS_THRESHOLD = 1024 * 1024

/** Lines between two progress bar updates. */
const PROGRESS_EVERY = 512

const FIELDS = new Set(['group', 'key', 'value', 'expiresAt'])

/** What an import did. */
export interface ImportSummary {
  /** Keys written. */
  imported: number
  /** Distinct groups written to. */
  groups: number
  /** Keys skipped because their `expiresAt` had passed. */
  expired: number
}

/** Parses one line of an export; a malformed one is a usage error naming the line. */
export function parseRecord(text: string, where: string): ExportRecord {
  let record: unknown
  try {
    record = JSON.parse(text)
  } catch (err) {
    throw usageError(`import: ${where} is not JSON (${(err as Error).message}); nothing was imported`)
  }
  const bad = (why: string): Error => usageError(`import: ${where} ${why}; nothing was imported`)
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw bad('is not an object {"group","key","value","expiresAt"}')
  }
  const r = record as Record<string, unknown>
  for (const name of Object.keys(r)) if (!FIELDS.has(name)) throw bad(`has an unknown field ${JSON.stringify(name)}`)
  for (const name of ['group', 'key', 'value'] as const) {
    const value = r[name]
    if (typeof value !== 'string') throw bad(`has no string "${name}"`)
    if (!value.isWellFormed()) throw bad(`has a lone UTF-16 surrogate in "${name}", which cannot be stored exactly`)
  }
  const expiresAt = r['expiresAt'] ?? null
  if (expiresAt !== null && !Number.isSafeInteger(expiresAt)) {
    throw bad('has an "expiresAt" that is neither null nor an integer (Unix milliseconds)')
  }
  return { group: r['group'] as string, key: r['key'] as string, value: r['value'] as string, expiresAt: expiresAt as number | null }
}

/**
 * Imports every line in one transaction: a malformed line (reported with
 * its number) or a store error rolls everything back. Keys whose
 * `expiresAt` has passed are skipped and counted. Blank lines are ignored.
 * The write lock is held for the whole import.
 */
export async function importCommand(file: string | undefined, options: JsonOptions & { progress?: boolean }): Promise<void> {
  const input = await openInput(file, 'import')
  const showBar = options.progress !== false && process.stderr.isTTY === true && input.size !== undefined && input.size >= PROGRESS_THRESHOLD
  // The progress bar's module is loaded only when a bar is shown.
  const bar: SingleBar | undefined = showBar
    ? new (await import('cli-progress')).SingleBar({
        format: 'importing {bar} {percentage}% | {lines} lines | ETA {eta_formatted}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined
  bar?.start(input.size as number, 0, { lines: 0 })
  let summary: ImportSummary
  try {
    summary = await withSession(options.db, 'create', options.scope, (s) => {
      const now = s.pin()
      return s.target.transaction(async (tx) => {
        const groups = new Set<string>()
        let imported = 0
        let expired = 0
        for await (const line of readLines(input.stream, `import: ${input.name}`)) {
          if (bar !== undefined && line.number % PROGRESS_EVERY === 0) bar.update(line.bytesRead, { lines: line.number })
          if (line.text.trim() === '') continue
          const where = `${input.name} line ${line.number}`
          const record = parseRecord(line.text, where)
          if (record.expiresAt !== null && record.expiresAt <= now) {
            expired++
            continue
          }
          try {
            await tx.set(record.group, record.key, record.value, record.expiresAt === null ? undefined : { ttl: record.expiresAt - now })
          } catch (err) {
            if (err instanceof TypeError || err instanceof RangeError) throw usageError(`import: ${where}: ${err.message}; nothing was imported`)
            throw err
          }
          imported++
          groups.add(record.group)
        }
        return { imported, groups: groups.size, expired }
      })
    })
  } finally {
    bar?.stop()
    input.stream.destroy()
  }
  const plain = `imported ${plural(summary.imported, 'key')} into ${plural(summary.groups, 'group')}; skipped ${summary.expired} expired`
  await answer(options.json === true, plain, summary)
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
