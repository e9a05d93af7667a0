/**
 * A page of a group's live keys with their values and expiries, in one read
 * (two statements: the page's keys, then their rows): what the command
 * line's `export` needs, without a call per key. Reached through the
 * symbol-keyed method {@link ENTRY_PAGE} of Store, ScopedStore and
 * Transaction; neither is exported from the package.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { BackendQueries, MaybePromise } from './backend/backend.js'

/** The key of the method that reads an {@link EntryPage}. */
export const ENTRY_PAGE: unique symbol = Symbol('groupstore.entryPage')

/** A page of live keys in ascending order, each with its value and expiry (Unix ms, or null). */
export interface EntryPage {
  entries: [key: string, value: string, expiresAt: number | null][]
  /** The last key of the page when more may follow (the next page's `after`). */
  next?: string
}

/**
 * Reads up to `limit` live keys of group `g` after `after`, then their rows.
 * A key that another writer deletes or lets expire between the two
 * statements is left out; one it rewrites is read as rewritten.
 */
export function readEntryPage(q: BackendQueries, g: string, now: number, after: string | undefined, limit: number): MaybePromise<EntryPage> {
  return then(q.range(g, now, { after, limit: limit + 1 }), (rows) => {
    const more = rows.length > limit
    if (more) rows.length = limit
    const keys = rows.map(([key]) => key)
    if (keys.length === 0) return { entries: [] }
    return then(q.getMany(g, keys), (stored) => {
      const entries: EntryPage['entries'] = []
      stored.forEach((row, i) => {
        if (row !== undefined && (row.expiresAt === null || row.expiresAt > now)) entries.push([keys[i] as string, row.value, row.expiresAt])
      })
      return more ? { entries, next: keys[limit - 1] as string } : { entries }
    })
  })
}
