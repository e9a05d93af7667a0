/**
 * A page of a group's live keys with their values, expiries and revisions,
 * in one read: what the command line's `export` and the server's key
 * listing need, without a call per key. Reached through the symbol-keyed
 * method {@link ENTRY_PAGE} of Store, ScopedStore and Transaction; neither
 * is exported from the package.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { MaybePromise } from './backend/backend.js'
import type { RangeEntry, RangeOptions, WriteQueries } from './backend/queries.js'
import type { Executor } from './executor.js'

/** The key of the method that reads an {@link EntryPage}. */
export const ENTRY_PAGE: unique symbol = Symbol('groupstore.entryPage')

/** A live key of a page: key, value, expiry (Unix ms, or null) and the revision of the change that last wrote it. */
export type EntryRow = [key: string, value: string, expiresAt: number | null, revision: number]

/** A page of live keys in ascending order, each with its value, expiry and revision. */
export interface EntryPage {
  entries: EntryRow[]
  /** The last key of the page when more may follow (the next page's `after`). */
  next?: string
}

const hasRevision = (row: RangeEntry): boolean => row[3] !== null

/**
 * Reads up to `range.limit` live keys of group `g` in one read. A row
 * without a revision yet (an old file's, go-store's) gets one as `getEntry`
 * gives it: then the page is read again in one write, which gives those
 * rows theirs first.
 */
export function readEntryPage(exec: Executor, method: string, g: string, now: number, range: RangeOptions): Promise<EntryPage> {
  const limit = range.limit
  const options: RangeOptions = { after: range.after, prefix: range.prefix, limit: limit + 1 }
  return exec
    .read(method, (q) => q.rangeEntries(g, now, options), { group: g })
    .then((rows) => (rows.every(hasRevision) ? rows : exec.write(method, (q) => withRevisions(q, g, now, options))))
    .then((rows) => {
      const entries = rows as EntryRow[]
      if (entries.length <= limit) return { entries }
      entries.length = limit
      return { entries, next: (entries[limit - 1] as EntryRow)[0] }
    })
}

/** The range read in a write, after giving each of its rows without a revision one. */
function withRevisions(q: WriteQueries, g: string, now: number, options: RangeOptions): MaybePromise<RangeEntry[]> {
  return then(q.rangeEntries(g, now, options), (rows) => {
    const missing = rows.filter((row) => !hasRevision(row))
    if (missing.length === 0) return rows
    let done: MaybePromise<unknown> = undefined
    for (const row of missing) done = then(done, () => q.assignRevision(g, row[0]))
    return then(done, () => withRevisions(q, g, now, options))
  })
}
