/**
 * A page of a group's live keys with their values and expiries, in one
 * statement: what the command line's `export` needs, without a call per key. Reached through the
 * symbol-keyed method {@link ENTRY_PAGE} of Store, ScopedStore and
 * Transaction; neither is exported from the package.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { MaybePromise, ReadQueries } from './backend/backend.js'

/** The key of the method that reads an {@link EntryPage}. */
export const ENTRY_PAGE: unique symbol = Symbol('groupstore.entryPage')

/** A page of live keys in ascending order, each with its value and expiry (Unix ms, or null). */
export interface EntryPage {
  entries: [key: string, value: string, expiresAt: number | null][]
  /** The last key of the page when more may follow (the next page's `after`). */
  next?: string
}

/** Reads up to `limit` live keys of group `g` after `after`, with their values and expiries. */
export function readEntryPage(q: ReadQueries, g: string, now: number, after: string | undefined, limit: number): MaybePromise<EntryPage> {
  return then(q.rangeEntries(g, now, { after, limit: limit + 1 }), (entries) => {
    if (entries.length <= limit) return { entries }
    entries.length = limit
    return { entries, next: (entries[limit - 1] as [string, string, number | null])[0] }
  })
}
