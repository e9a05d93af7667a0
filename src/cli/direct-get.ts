/**
 * A plain `get` answered straight from the SQLite file, without loading the
 * Store (its events, feed, quotas, templates and write path: most of a
 * command's start-up on Node 20, whose ES module loader pays per module).
 *
 * The file is opened by the backend's own `openDatabase`, with the options
 * the Store would have, so that every check, upgrade and refusal is the one
 * a Store makes; the row is read with the backend's own statement. Only the
 * common answers are given here: a live row (with its revision for
 * `--json`), no row, or the refusal of a file that `openDatabase` makes
 * (the error Store.open would throw). Everything else goes to the Store,
 * which answers as the full program does: a database that is not an
 * existing file (missing, `:memory:`, a URL), a read that fails (the Store
 * names its method in the error), an expired row (a read through the Store
 * removes it) and, for `--json`, a row without a revision yet (the Store
 * gives it one).
 *
 * @module
 */
import { existsSync } from 'node:fs'
import { live } from '../backend/backend.js'
import type { StoredEntry } from '../backend/queries.js'
import { openDatabase } from '../backend/sqlite/sqlite-file.js'
import { SQL } from '../backend/sqlite/sqlite-sql.js'
import { resolveOptions } from '../options.js'
import { databaseLocation } from './arguments.js'
import type { FastGet } from './fast-path.js'
import { printGet } from './output.js'

/**
 * The live row of `call`'s key, null when the file holds no row for it, or
 * undefined when the Store must answer (see the module note).
 */
export function readDirect(call: FastGet): StoredEntry | null | undefined {
  const { group, key, options } = call
  if (!group.isWellFormed() || !key.isWellFormed()) return undefined
  const location = databaseLocation(options.db)
  if (location === ':memory:' || location.includes('://') || !existsSync(location)) return undefined
  const g = options.scope === undefined ? group : `${options.scope}:${group}`
  const json = options.json === true
  // The options the command line's Store is opened with (see context.ts). A
  // file this refuses, Store.open refuses with the same error, unchanged.
  const db = openDatabase(location, resolveOptions({ purgeInterval: 0 }))
  let row: StoredEntry | undefined
  const now = Date.now()
  try {
    row = db.prepare(json ? SQL.getEntry : SQL.get).get(g, key) as StoredEntry | undefined
  } catch {
    return undefined
  } finally {
    db.close()
  }
  if (row === undefined) return null
  if (!live(row, now)) return undefined
  if (json && row.revision === null) return undefined
  return row
}

/** `get` for a call that {@link fastGet} recognised: from the file when it can, else through the Store. */
export async function directGet(call: FastGet): Promise<void> {
  const row = readDirect(call)
  if (row === undefined) return (await import('./commands/keys.js')).getCommand(call.group, call.key, call.options)
  await printGet(call.group, call.key, call.options.json === true, row ?? undefined)
}
