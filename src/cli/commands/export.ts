/**
 * `export [--prefix P] [--output FILE]`: every live key as JSON Lines.
 *
 * @module
 */
import { open, rename, rm, stat } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { ENTRY_PAGE } from '../../entry-page.js'
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

/** Keys read, and lines written to the output, at a time. */
const PAGE = 256

/**
 * Writes every live key of the groups starting with `prefix`, group by group
 * in ascending order and key by key, a page at a time: each page's keys,
 * values and expiries in one statement (see entry-page.ts), never a call per key.
 * Expiry is judged at one instant (the store's clock is pinned when the
 * export starts), and `expiresAt` is exact. Concurrent writers may change
 * keys not yet read: an export is not a point-in-time snapshot. With
 * `--output` the file is written beside its final name and renamed into
 * place at the end, so a failed export never leaves half a file.
 */
export async function exportCommand(options: DataOptions & { prefix?: string; output?: string }): Promise<void> {
  const output = options.output
  let sink: Writable = process.stdout
  let temporary: string | undefined
  if (output !== undefined) {
    const cannot = (code: string): Error => usageError(`export: cannot write '${output}': ${code}`)
    // Found before anything is read: a name that could never be renamed into place.
    if (output === '') throw cannot('ENOENT')
    if ((await stat(output).catch(() => undefined))?.isDirectory() === true) throw cannot('EISDIR')
    temporary = join(dirname(output), `.${basename(output)}.${process.pid}.tmp`)
    try {
      sink = (await open(temporary, 'wx')).createWriteStream()
    } catch (err) {
      throw cannot((err as NodeJS.ErrnoException).code ?? (err as Error).message)
    }
    sink.on('error', () => {}) // reported by the next write or by finished()
  }
  let keys = 0
  let groups = 0
  try {
    await withSession(options.db, 'existing', options.scope, async (s) => {
      s.pin()
      for (const group of await s.target.groups(options.prefix ?? '')) {
        groups++
        let after: string | undefined
        do {
          const page = await s.target[ENTRY_PAGE](group, { after, limit: PAGE })
          let text = ''
          for (const [key, value, expiresAt] of page.entries) {
            const record: ExportRecord = { group, key, value, expiresAt }
            text += `${JSON.stringify(record)}\n`
          }
          if (text !== '') await write(sink, text)
          keys += page.entries.length
          after = page.next
        } while (after !== undefined)
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
