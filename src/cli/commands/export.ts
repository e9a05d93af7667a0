/**
 * `export [--prefix P] [--output FILE]`: every live key as JSON Lines.
 *
 * @module
 */
import { open, rename, rm } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { withSession } from '../context.js'
import { CliError, EXIT, usageError } from '../errors.js'
import { write } from '../io.js'
import type { DataOptions } from './keys.js'

/** One exported key: `expiresAt` in Unix milliseconds, or null for no expiry. */
export interface ExportRecord {
  group: string
  key: string
  value: string
  expiresAt: number | null
}

/** Lines gathered before a write to the output. */
const BATCH = 256

/**
 * Writes every live key of the groups starting with `prefix`, group by group
 * in ascending order and key by key, a page at a time. Expiry is judged at
 * one instant (the store's clock is pinned when the export starts), and
 * `expiresAt` is exact. Concurrent writers may change groups not yet
 * written: an export is not a point-in-time snapshot. With `--output` the
 * file is written beside its final name and renamed into place at the end,
 * so a failed export never leaves half a file.
 */
export async function exportCommand(options: DataOptions & { prefix?: string; output?: string }): Promise<void> {
  const output = options.output
  let sink: Writable = process.stdout
  let temporary: string | undefined
  if (output !== undefined) {
    temporary = join(dirname(output), `.${basename(output)}.${process.pid}.tmp`)
    try {
      sink = (await open(temporary, 'wx')).createWriteStream()
    } catch (err) {
      throw usageError(`export: cannot write '${output}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    sink.on('error', () => {}) // reported by the next write or by finished()
  }
  let keys = 0
  let groups = 0
  try {
    await withSession(options.db, 'existing', options.scope, async (s) => {
      const now = s.pin()
      for (const group of await s.target.groups(options.prefix ?? '')) {
        groups++
        let text = ''
        let lines = 0
        for await (const [key, value] of s.target.entries(group)) {
          const ttl = await s.target.ttl(group, key)
          if (ttl === undefined) continue // deleted by another process meanwhile
          const record: ExportRecord = { group, key, value, expiresAt: ttl === null ? null : now + ttl }
          text += `${JSON.stringify(record)}\n`
          keys++
          if (++lines === BATCH) {
            await write(sink, text)
            text = ''
            lines = 0
          }
        }
        if (text !== '') await write(sink, text)
      }
    })
    if (temporary !== undefined && output !== undefined) {
      sink.end()
      await finished(sink)
      await rename(temporary, output)
      process.stderr.write(`exported ${keys} key${keys === 1 ? '' : 's'} from ${groups} group${groups === 1 ? '' : 's'} to ${output}\n`)
    }
  } catch (err) {
    if (temporary !== undefined) {
      sink.destroy()
      await rm(temporary, { force: true })
      if (typeof (err as NodeJS.ErrnoException).syscall === 'string') {
        throw new CliError(EXIT.store, `export: writing '${output}' failed: ${(err as Error).message}`, { cause: err })
      }
    }
    throw err
  }
}
