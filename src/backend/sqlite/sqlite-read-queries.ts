import type BetterSqlite3 from 'better-sqlite3'
import type { ChangeRecord, RangeEntry, RangeOptions, ReadQueries, RevisionRange, StoredEntry, StoredValue } from '../queries.js'
import { hasCounts, isNamespace, makeCounts } from './sqlite-counts.js'
import { TransactionLost } from './sqlite-errors.js'
import type { SqliteRevisions } from './sqlite-revisions.js'
import { bounds, compareCodePoints, prefixed, SQL, variant } from './sqlite-sql.js'

type Db = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

/**
 * The reads of the storage primitives on one better-sqlite3 connection,
 * each a prepared statement made once and reused. Synchronous: the caller
 * serialises. {@link SqliteQueries} adds the writes.
 *
 * The backend makes two: one for work that runs on its own, and one for the
 * ops of a batch transaction, made `inTransactionOnly`. SQLite rolls back
 * the whole transaction on some errors (a full disk, an I/O error); a
 * transaction callback that caught such an error and carried on would
 * otherwise run its next statements outside any transaction, committing
 * half of itself, so that one refuses every query once the transaction is
 * gone.
 */
export class SqliteReadQueries implements ReadQueries {
  readonly #db: Db
  readonly #inTransactionOnly: boolean
  /**
   * Statements that wrote and completed, counted for the batch runner: an
   * op that fails after one of its statements wrote has something to undo.
   */
  writes = 0
  readonly #get: Statement
  readonly #getEntry: Statement
  readonly #getMany: Statement
  readonly #revisions: SqliteRevisions
  readonly #countGroupLive: Statement
  /** The namespace count, once the database keeps counts (see sqlite-counts). */
  #countNamespaceLive: Statement | undefined
  /**
   * True while a write runs on its own, outside any transaction (a point or
   * checked write, see SqliteBackend.write): it may run one statement that
   * writes, no more (a second is refused: the two would not be atomic), and,
   * like a write transaction, may make the namespace counts, in a
   * transaction of their own. The backend clears {@link writes} when it sets it.
   */
  alone = false
  readonly #groupExists: Statement
  readonly #getAll: Statement
  readonly #getAllUnexpired: Statement
  readonly #hasExpired: Statement
  readonly #begin: Statement
  readonly #commit: Statement
  readonly #readChanges: Statement
  readonly #oldestChange: Statement
  /** Statements whose text depends on which bounds are present, made on first use. */
  readonly #variants = new Map<string, Statement>()

  constructor(db: Db, revisions: SqliteRevisions, inTransactionOnly = false) {
    this.#db = db
    this.#revisions = revisions
    this.#inTransactionOnly = inTransactionOnly
    this.#get = db.prepare(SQL.get)
    this.#getEntry = db.prepare(SQL.getEntry)
    this.#getMany = db.prepare(SQL.getMany).pluck()
    this.#countGroupLive = db.prepare(SQL.countGroupLive).pluck()
    this.#groupExists = db.prepare(SQL.groupExists).pluck()
    this.#getAll = db.prepare(SQL.getAll).raw()
    this.#getAllUnexpired = db.prepare(SQL.getAllUnexpired).raw()
    this.#hasExpired = db.prepare(SQL.hasExpired).pluck()
    this.#begin = db.prepare('BEGIN')
    this.#commit = db.prepare('COMMIT')
    this.#readChanges = db.prepare(SQL.readChanges)
    this.#oldestChange = db.prepare(SQL.oldestChange).pluck()
  }

  /** Refuses a query once the batch transaction is gone (see the class note). */
  #check(): void {
    if (this.#inTransactionOnly && !this.#db.inTransaction) throw new TransactionLost()
  }

  get(group: string, key: string): StoredValue | undefined {
    this.#check()
    return this.#get.get(group, key) as StoredValue | undefined
  }

  getEntry(group: string, key: string): StoredEntry | undefined {
    this.#check()
    return this.#getEntry.get(group, key) as StoredEntry | undefined
  }

  getMany(group: string, keys: readonly string[], now: number): (string | undefined)[] {
    this.#check()
    const values = JSON.parse(this.#getMany.get(now, JSON.stringify(keys), group) as string) as (string | null | undefined)[]
    for (let i = 0; i < values.length; i++) if (values[i] === null) values[i] = undefined
    return values as (string | undefined)[]
  }

  count(group: string, now: number): number {
    this.#check()
    return this.#countGroupLive.get({ grp: group, now }) as number
  }

  countAll(prefix: string, now: number): number {
    this.#check()
    if (isNamespace(prefix)) {
      const counted = this.#namespaceCount()
      if (counted !== undefined) {
        try {
          return counted.get(prefix, now, prefix, `${prefix.slice(0, -1)};`) as number
        } catch (err) {
          // The counts went (a rolled-back transaction made them, or a hand dropped them): look again.
          this.#countNamespaceLive = undefined
          if (hasCounts(this.#db)) throw err
          return this.countAll(prefix, now)
        }
      }
    }
    const { stmt, b } = prefixed(this.#db, this.#variants, 'countAll', SQL.countAll, prefix, true)
    return stmt.get({ ...b, now }) as number
  }

  /**
   * The statement counting a namespace, or undefined when the database
   * keeps no counts and this is not a write: inside a write the counts are
   * made there and then.
   */
  #namespaceCount(): Statement | undefined {
    if (this.#countNamespaceLive !== undefined) return this.#countNamespaceLive
    if (!hasCounts(this.#db)) {
      if (this.#db.inTransaction) makeCounts(this.#db)
      else if (this.alone) this.#db.transaction(() => makeCounts(this.#db)).immediate()
      else return undefined
    }
    this.#countNamespaceLive = this.#db.prepare(SQL.countNamespaceLive).pluck()
    return this.#countNamespaceLive
  }

  groups(prefix: string, now: number): string[] {
    this.#check()
    const { stmt, b } = prefixed(this.#db, this.#variants, 'groups', SQL.groups, prefix, true)
    return stmt.all({ ...b, now }) as string[]
  }

  countGroups(prefix: string, now: number): number {
    this.#check()
    const { stmt, b } = prefixed(this.#db, this.#variants, 'countGroups', SQL.countGroups, prefix, true)
    return stmt.get({ ...b, now }) as number
  }

  groupExists(group: string, now: number): boolean {
    this.#check()
    return this.#groupExists.get({ grp: group, now }) !== undefined
  }

  /**
   * The group's JSON arrays; without the per-row expiry test when none of
   * its rows has expired (most groups, most of the time), both read in one
   * snapshot.
   */
  #readGroup(group: string, now: number): [string, string] {
    const own = !this.#db.inTransaction
    if (own) this.#begin.run()
    try {
      const params = { grp: group, now }
      const expired = this.#hasExpired.get(params) !== undefined
      return (expired ? this.#getAll.get(params) : this.#getAllUnexpired.get({ grp: group })) as [string, string]
    } finally {
      if (own && this.#db.inTransaction) this.#commit.run()
    }
  }

  getAll(group: string, now: number): Record<string, string> {
    this.#check()
    const [keysJson, valuesJson] = this.#readGroup(group, now)
    const keys = JSON.parse(keysJson) as string[]
    const values = JSON.parse(valuesJson) as string[]
    const out: Record<string, string> = Object.create(null)
    for (let i = 0; i < keys.length; i++) out[keys[i] as string] = values[i] as string
    return out
  }

  range(group: string, now: number, options: RangeOptions): [string, string][] {
    return this.#range(group, now, options, false) as [string, string][]
  }

  rangeEntries(group: string, now: number, options: RangeOptions): RangeEntry[] {
    return this.#range(group, now, options, true) as RangeEntry[]
  }

  /** The rows of `range`, with `expires_at` and `revision` as third and fourth columns when `expiry`. */
  #range(group: string, now: number, options: RangeOptions, expiry: boolean): unknown[] {
    this.#check()
    const b = bounds(options.prefix ?? '')
    const bounded = b.hi !== undefined
    // Past the prefix's start, the cursor is the lower bound; before it, the prefix is.
    const after = options.after !== undefined && compareCodePoints(options.after, b.lo) >= 0
    const stmt = variant(this.#db, this.#variants, `range:${after}:${bounded}:${expiry}`, SQL.range(after, bounded, expiry), false)
    const params: Record<string, unknown> = { grp: group, now, limit: options.limit }
    if (after) params['after'] = options.after
    else params['lo'] = b.lo
    if (bounded) params['hi'] = b.hi
    stmt.raw(true)
    return stmt.all(params)
  }

  readChanges(after: number, limit: number): ChangeRecord[] {
    this.#check()
    return this.#readChanges.all(after, limit) as ChangeRecord[]
  }

  revisionRange(): RevisionRange {
    this.#check()
    return { oldest: this.#oldestChange.get() as number | null, latest: this.#revisions.latest() }
  }
}
