import type BetterSqlite3 from 'better-sqlite3'
import { prefixUpperBound } from '../backend.js'
import type {
  ChangeRecord,
  ExpiredKey,
  NewChange,
  RangeOptions,
  RemovedGroup,
  RevisionRange,
  StoredEntry,
  StoredValue,
  WriteCondition,
  WriteOutcome,
  WriteQueries,
} from '../backend.js'
import { hasCounts, isNamespace, makeCounts, NAMESPACE_TABLE } from './sqlite-counts.js'
import { NotAtomic, TransactionLost } from './sqlite-errors.js'
import type { SqliteRevisions } from './sqlite-revisions.js'

type Db = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

const LIVE = '(expires_at IS NULL OR expires_at > @now)'
/** A stored value that `increment` reads as a base-10 integer. */
const INTEGER = /^-?\d+$/

/** The index SQLite makes for `PRIMARY KEY (grp, key)`, in go-store's databases and ours. */
export const PK_INDEX = 'sqlite_autoindex_kv_1'

/** SQL of the ranged queries, exported for the query-plan test. */
export const SQL = {
  get: 'SELECT value, expires_at AS expiresAt FROM kv WHERE grp = ? AND key = ?',
  getEntry: 'SELECT value, expires_at AS expiresAt, revision FROM kv WHERE grp = ? AND key = ?',
  /**
   * The live values of the keys of a JSON array, as a JSON array in the same
   * order (null where none), in one statement: one consistent read, and one
   * string to parse rather than a row object per key. json_each is scanned
   * in order, so the array follows it. Binds: now, the keys, the group.
   */
  getMany:
    'SELECT json_group_array(CASE WHEN kv.expires_at IS NULL OR kv.expires_at > ? THEN kv.value END) ' +
    'FROM json_each(?) AS j LEFT JOIN kv ON kv.grp = ? AND kv.key = j.value',
  set:
    'INSERT INTO kv (grp, key, value, expires_at, revision) VALUES (?, ?, ?, ?, ?) ' +
    'ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, revision = excluded.revision',
  /**
   * Inserts, or replaces an expired row; a live row stays (no change).
   * Positional parameters, as every statement of a write's hot path: binding
   * by name costs about a microsecond more. Binds: group, key, value,
   * expires_at, revision, now.
   */
  setIfAbsent:
    'INSERT INTO kv (grp, key, value, expires_at, revision) VALUES (?, ?, ?, ?, ?) ' +
    'ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, revision = excluded.revision ' +
    'WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?',
  /** Binds: value, expires_at, revision, group, key, the revision required, now. */
  setIfRevision:
    'UPDATE kv SET value = ?, expires_at = ?, revision = ? ' +
    'WHERE grp = ? AND key = ? AND revision = ? AND (expires_at IS NULL OR expires_at > ?)',
  assignRevision: 'UPDATE kv SET revision = ? WHERE grp = ? AND key = ? AND revision IS NULL',
  /** An increment's read: the row's value, expiry and rowid (for {@link SQL.incrementLive}). */
  incrementRead: 'SELECT value, expires_at, rowid FROM kv WHERE grp = ? AND key = ?',
  /**
   * An increment of a live row, found by its rowid: one seek in the table,
   * where the upsert seeks the key's index first; the expiry (an indexed
   * column) is left out, as it stays. Binds: value, revision, rowid.
   */
  incrementLive: 'UPDATE kv SET value = ?, revision = ? WHERE rowid = ?',
  delete: 'DELETE FROM kv WHERE grp = ? AND key = ? RETURNING value, expires_at AS expiresAt',
  deleteIf: 'DELETE FROM kv WHERE grp = ? AND key = ? AND revision = ? RETURNING value, expires_at AS expiresAt',
  deleteExpired: 'DELETE FROM kv WHERE grp = ? AND key = ? AND expires_at IS NOT NULL AND expires_at <= ?',
  /**
   * Rows of the group, counted in the key index alone, less its expired
   * rows, found through the expiry index (which holds few expired rows: the
   * purge removes them).
   */
  countGroupLive:
    'SELECT (SELECT count(*) FROM kv WHERE grp = @grp) - ' +
    '(SELECT count(*) FROM kv INDEXED BY kv_expires_at WHERE expires_at <= @now AND grp = @grp)',
  /**
   * The namespace's row count (kept by triggers) less its expired rows,
   * found through the expiry index. Binds: namespace, now, namespace, the
   * namespace with its `:` made `;` (the bound of its group names).
   */
  countNamespaceLive:
    `SELECT coalesce((SELECT keys FROM ${NAMESPACE_TABLE} WHERE namespace = ?), 0) - ` +
    '(SELECT count(*) FROM kv INDEXED BY kv_expires_at WHERE expires_at <= ? AND grp >= ? AND grp < ?)',
  deleteGroup: 'DELETE FROM kv WHERE grp = ?',
  groupExists: `SELECT 1 FROM kv WHERE grp = @grp AND ${LIVE} LIMIT 1`,
  /**
   * The group as two JSON arrays, keys and values, built by SQLite: parsing
   * two strings costs far less than materialising a row object per key.
   * (json_group_object would cut a key at its first NUL.)
   */
  getAll: `SELECT json_group_array(key) AS keys, json_group_array(value) AS vals FROM kv WHERE grp = @grp AND ${LIVE}`,
  /** The same without the expiry test, for a group none of whose rows has expired. */
  getAllUnexpired: 'SELECT json_group_array(key) AS keys, json_group_array(value) AS vals FROM kv WHERE grp = @grp',
  /** Whether the group holds an expired row, found through the expiry index. */
  hasExpired: 'SELECT 1 FROM kv INDEXED BY kv_expires_at WHERE expires_at <= @now AND grp = @grp LIMIT 1',
  purge: 'DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING grp, key',
  appendChange: 'INSERT INTO kv_changes (revision, type, grp, key, value, ts) VALUES (?, ?, ?, ?, ?, ?)',
  readChanges:
    'SELECT revision, type, grp AS "group", key, value, ts AS timestamp FROM kv_changes ' +
    'WHERE revision > ? ORDER BY revision LIMIT ?',
  /** The oldest entry of the log; the latest revision is SqliteRevisions' (the counter's or the log's newest). */
  oldestChange: 'SELECT min(revision) FROM kv_changes',
  /**
   * Deletes the entries not among the newest `@keep` or older than
   * `@before`, never the newest (at least one entry is kept). A range of the
   * rowid: the age test reads only the rows the range holds.
   */
  pruneChanges:
    'DELETE FROM kv_changes WHERE revision < (SELECT max(revision) FROM kv_changes) ' +
    'AND (revision <= (SELECT max(revision) FROM kv_changes) - @keep OR ts < @before)',
  /** The same among the `@limit` oldest revisions only: a short delete while writes happen. */
  pruneSomeChanges:
    'DELETE FROM kv_changes WHERE revision < min((SELECT max(revision) FROM kv_changes), (SELECT min(revision) FROM kv_changes) + @limit) ' +
    'AND (revision <= (SELECT max(revision) FROM kv_changes) - @keep OR ts < @before)',
  /** A condition on `column` for a literal prefix, served by the primary-key index. */
  prefix(column: string, bounded: boolean): string {
    return bounded ? `${column} >= @lo AND ${column} < @hi` : `${column} >= @lo`
  },
  /**
   * Names the primary-key index: with ANALYZE statistics (from `PRAGMA
   * optimize`, say) the planner otherwise scans the whole table when groups
   * are large. A whole namespace is counted by countNamespaceLive instead.
   */
  countAll: (bounded: boolean) =>
    `SELECT count(*) FROM kv INDEXED BY ${PK_INDEX} WHERE ${SQL.prefix('grp', bounded)} AND ${LIVE}`,
  /**
   * Groups holding a live key, found by skipping from one group to the next
   * through the key index (a seek per group, not a read per key). Each step
   * finds the next group up, and SQLite runs a recursive query without
   * ORDER BY first in, first out: the groups come out ascending.
   */
  groups: (bounded: boolean) =>
    'WITH RECURSIVE g(grp) AS (' +
    `SELECT (SELECT min(grp) FROM kv WHERE grp >= @lo${bounded ? ' AND grp < @hi' : ''}) ` +
    `UNION ALL SELECT (SELECT min(grp) FROM kv WHERE grp > g.grp${bounded ? ' AND grp < @hi' : ''}) FROM g WHERE g.grp IS NOT NULL) ` +
    `SELECT grp FROM g WHERE grp IS NOT NULL AND EXISTS (SELECT 1 FROM kv WHERE kv.grp = g.grp AND ${LIVE})`,
  countGroups: (bounded: boolean) => `SELECT count(*) FROM (${SQL.groups(bounded)})`,
  prefixGroups: (bounded: boolean) =>
    `SELECT grp AS "group", sum(CASE WHEN ${LIVE} THEN 1 ELSE 0 END) AS live FROM kv ` +
    `WHERE ${SQL.prefix('grp', bounded)} GROUP BY grp ORDER BY grp`,
  deletePrefix: (bounded: boolean) => `DELETE FROM kv WHERE ${SQL.prefix('grp', bounded)}`,
  /**
   * One lower bound only, the cursor (`key > @after`) or the prefix (`key >=
   * @lo`), whichever is higher: given both, SQLite seeks to one and filters
   * on the other, and a page after the first would read every key before it.
   */
  range: (after: boolean, bounded: boolean, expiry = false) =>
    `SELECT key, value${expiry ? ', expires_at' : ''} FROM kv WHERE grp = @grp AND ${after ? 'key > @after' : 'key >= @lo'}` +
    `${bounded ? ' AND key < @hi' : ''} AND ${LIVE} ORDER BY key LIMIT @limit`,
}

/** Compares strings in code-point order, which is SQLite's (UTF-8 byte) order of text. */
function compareCodePoints(a: string, b: string): number {
  let i = 0
  let j = 0
  for (;;) {
    if (i >= a.length) return j >= b.length ? 0 : -1
    if (j >= b.length) return 1
    const x = a.codePointAt(i) as number
    const y = b.codePointAt(j) as number
    if (x !== y) return x < y ? -1 : 1
    i += x > 0xffff ? 2 : 1
    j += y > 0xffff ? 2 : 1
  }
}

/** Bind parameters of a literal-prefix condition. */
function bounds(prefix: string): { lo: string; hi?: string } {
  const hi = prefixUpperBound(prefix)
  return hi === undefined ? { lo: prefix } : { lo: prefix, hi }
}

/**
 * The storage primitives on one better-sqlite3 connection, each a prepared
 * statement made once and reused. Synchronous: the caller serialises.
 *
 * The backend makes two: one for work that runs on its own, and one for the
 * ops of a batch transaction, made `inTransactionOnly`. SQLite rolls back
 * the whole transaction on some errors (a full disk, an I/O error); a
 * transaction callback that caught such an error and carried on would
 * otherwise run its next statements outside any transaction, committing
 * half of itself, so that one refuses every query once the transaction is
 * gone.
 */
export class SqliteQueries implements WriteQueries {
  readonly #db: Db
  readonly #inTransactionOnly: boolean
  /**
   * Statements that wrote and completed, counted for the batch runner: an
   * op that fails after one of its statements wrote has something to undo.
   */
  writes = 0
  readonly #get: Statement
  readonly #getEntry: Statement
  /** The get statement answering an array, for increment. */
  readonly #incrementRead: Statement
  readonly #incrementLive: Statement
  readonly #getMany: Statement
  readonly #set: Statement
  readonly #setIfAbsent: Statement
  readonly #setIfRevision: Statement
  readonly #assignRevision: Statement
  readonly #delete: Statement
  readonly #deleteIf: Statement
  readonly #revisions: SqliteRevisions
  readonly #deleteExpired: Statement
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
  readonly #deleteGroup: Statement
  readonly #groupExists: Statement
  readonly #getAll: Statement
  readonly #getAllUnexpired: Statement
  readonly #hasExpired: Statement
  readonly #begin: Statement
  readonly #commit: Statement
  readonly #purge: Statement
  readonly #appendChange: Statement
  readonly #readChanges: Statement
  readonly #oldestChange: Statement
  readonly #pruneChanges: Statement
  readonly #pruneSomeChanges: Statement
  /** Statements whose text depends on which bounds are present, made on first use. */
  readonly #variants = new Map<string, Statement>()

  constructor(db: Db, revisions: SqliteRevisions, inTransactionOnly = false) {
    this.#db = db
    this.#revisions = revisions
    this.#inTransactionOnly = inTransactionOnly
    this.#get = db.prepare(SQL.get)
    this.#getEntry = db.prepare(SQL.getEntry)
    this.#incrementRead = db.prepare(SQL.incrementRead).raw()
    this.#incrementLive = db.prepare(SQL.incrementLive)
    this.#getMany = db.prepare(SQL.getMany).pluck()
    this.#set = db.prepare(SQL.set)
    this.#setIfAbsent = db.prepare(SQL.setIfAbsent)
    this.#setIfRevision = db.prepare(SQL.setIfRevision)
    this.#assignRevision = db.prepare(SQL.assignRevision)
    this.#delete = db.prepare(SQL.delete)
    this.#deleteIf = db.prepare(SQL.deleteIf)
    this.#deleteExpired = db.prepare(SQL.deleteExpired)
    this.#countGroupLive = db.prepare(SQL.countGroupLive).pluck()
    this.#deleteGroup = db.prepare(SQL.deleteGroup)
    this.#groupExists = db.prepare(SQL.groupExists).pluck()
    this.#getAll = db.prepare(SQL.getAll).raw()
    this.#getAllUnexpired = db.prepare(SQL.getAllUnexpired).raw()
    this.#hasExpired = db.prepare(SQL.hasExpired).pluck()
    this.#begin = db.prepare('BEGIN')
    this.#commit = db.prepare('COMMIT')
    this.#purge = db.prepare(SQL.purge)
    this.#appendChange = db.prepare(SQL.appendChange)
    this.#readChanges = db.prepare(SQL.readChanges)
    this.#oldestChange = db.prepare(SQL.oldestChange).pluck()
    this.#pruneChanges = db.prepare(SQL.pruneChanges)
    this.#pruneSomeChanges = db.prepare(SQL.pruneSomeChanges)
  }

  /** Refuses a query once the batch transaction is gone (see the class note). */
  #check(): void {
    if (this.#inTransactionOnly && !this.#db.inTransaction) throw new TransactionLost()
  }

  /** Before a statement that writes: {@link #check}, and one statement only for a write {@link alone}. */
  #beforeWrite(): void {
    if (this.#inTransactionOnly && !this.#db.inTransaction) throw new TransactionLost()
    if (this.alone && this.writes > 0 && !this.#db.inTransaction) throw new NotAtomic()
  }

  #variant(name: string, sql: string, pluck: boolean): Statement {
    let stmt = this.#variants.get(name)
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql)
      if (pluck) stmt.pluck()
      this.#variants.set(name, stmt)
    }
    return stmt
  }

  #prefixed(name: string, sql: (bounded: boolean) => string, prefix: string, pluck: boolean) {
    const b = bounds(prefix)
    const bounded = b.hi !== undefined
    return { stmt: this.#variant(`${name}:${bounded}`, sql(bounded), pluck), b }
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

  nextRevision(): number {
    this.#check()
    return this.#revisions.take()
  }

  revisionMark(): number {
    return this.#revisions.mark()
  }

  /** After BEGIN, or a rollback: the revision counter is read again when a revision is taken. */
  openRevisions(): void {
    this.#revisions.open()
  }

  /** Just before COMMIT: writes the transaction's last revision to the file's counter, unless the log holds it. */
  saveRevisions(): void {
    this.#revisions.save()
  }

  rewindRevisions(mark: number): void {
    this.#revisions.rewind(mark)
  }

  set(group: string, key: string, value: string, expiresAt: number | null): number {
    this.#beforeWrite()
    const revision = this.#revisions.take()
    this.#set.run(group, key, value, expiresAt, revision)
    this.writes++
    return revision
  }

  setIf(
    group: string,
    key: string,
    value: string,
    expiresAt: number | null,
    condition: WriteCondition,
    now: number,
  ): WriteOutcome {
    this.#beforeWrite()
    const revision = this.#revisions.peek()
    const written =
      condition.ifRevision !== undefined
        ? this.#setIfRevision.run(value, expiresAt, revision, group, key, condition.ifRevision, now).changes
        : this.#setIfAbsent.run(group, key, value, expiresAt, revision, now).changes
    this.writes++
    if (written === 0) return { revision: false, found: undefined }
    this.#revisions.take()
    return { revision, value }
  }

  /**
   * Reads the row, adds in JavaScript, and writes the sum: a live row's by
   * its rowid (cheaper than the upsert, which seeks the key again), a new or
   * expired one with the set statement. A read and a write cost less than
   * one upsert that computes the sum and returns it (`RETURNING`). Atomic as
   * every write is: the caller runs it in a transaction, or alone on a
   * private database.
   */
  increment(group: string, key: string, by: number, expiresAt: number | null, now: number): WriteOutcome {
    this.#beforeWrite()
    const row = this.#incrementRead.get(group, key) as [string, number | null, number] | undefined
    if (row !== undefined && (row[1] === null || row[1] > now)) {
      const sum = INTEGER.test(row[0]) ? Number(row[0]) + by : Number.NaN
      if (!Number.isSafeInteger(sum)) return { revision: false, found: this.getEntry(group, key) }
      const value = String(sum)
      const revision = this.#revisions.take()
      this.#incrementLive.run(value, revision, row[2])
      this.writes++
      return { revision, value }
    }
    const value = String(by)
    const revision = this.#revisions.take()
    this.#set.run(group, key, value, expiresAt, revision)
    this.writes++
    return { revision, value }
  }

  assignRevision(group: string, key: string): number | undefined {
    this.#beforeWrite()
    const revision = this.#revisions.peek()
    const assigned = this.#assignRevision.run(revision, group, key).changes > 0
    this.writes++
    if (assigned) return this.#revisions.take()
    return this.getEntry(group, key)?.revision ?? undefined
  }

  delete(group: string, key: string): StoredValue | undefined {
    this.#beforeWrite()
    const row = this.#delete.get(group, key) as StoredValue | undefined
    this.writes++
    return row
  }

  deleteIf(group: string, key: string, revision: number): StoredValue | undefined {
    this.#beforeWrite()
    const row = this.#deleteIf.get(group, key, revision) as StoredValue | undefined
    this.writes++
    return row
  }

  deleteMany(group: string, keys: readonly string[]): (StoredValue | undefined)[] {
    return keys.map((k) => {
      this.#beforeWrite()
      const row = this.#delete.get(group, k) as StoredValue | undefined
      this.writes++
      return row
    })
  }

  deleteExpired(group: string, key: string, now: number): boolean {
    this.#beforeWrite()
    const deleted = this.#deleteExpired.run(group, key, now).changes > 0
    this.writes++
    return deleted
  }

  deleteGroup(group: string, now: number): number {
    this.#beforeWrite()
    const live = this.#countGroupLive.get({ grp: group, now }) as number
    this.#deleteGroup.run(group)
    this.writes++
    return live
  }

  deletePrefix(prefix: string, now: number): RemovedGroup[] {
    this.#beforeWrite()
    const select = this.#prefixed('prefixGroups', SQL.prefixGroups, prefix, false)
    const removed = (select.stmt.all({ ...select.b, now }) as RemovedGroup[]).filter((g) => g.live > 0)
    const del = this.#prefixed('deletePrefix', SQL.deletePrefix, prefix, false)
    del.stmt.run(del.b)
    this.writes++
    return removed
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
    const { stmt, b } = this.#prefixed('countAll', SQL.countAll, prefix, true)
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
    const { stmt, b } = this.#prefixed('groups', SQL.groups, prefix, true)
    return stmt.all({ ...b, now }) as string[]
  }

  countGroups(prefix: string, now: number): number {
    this.#check()
    const { stmt, b } = this.#prefixed('countGroups', SQL.countGroups, prefix, true)
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

  rangeEntries(group: string, now: number, options: RangeOptions): [string, string, number | null][] {
    return this.#range(group, now, options, true) as [string, string, number | null][]
  }

  /** The rows of `range`, with `expires_at` as a third column when `expiry`. */
  #range(group: string, now: number, options: RangeOptions, expiry: boolean): unknown[] {
    this.#check()
    const b = bounds(options.prefix ?? '')
    const bounded = b.hi !== undefined
    // Past the prefix's start, the cursor is the lower bound; before it, the prefix is.
    const after = options.after !== undefined && compareCodePoints(options.after, b.lo) >= 0
    const stmt = this.#variant(`range:${after}:${bounded}:${expiry}`, SQL.range(after, bounded, expiry), false)
    const params: Record<string, unknown> = { grp: group, now, limit: options.limit }
    if (after) params['after'] = options.after
    else params['lo'] = b.lo
    if (bounded) params['hi'] = b.hi
    stmt.raw(true)
    return stmt.all(params)
  }

  purgeExpired(now: number): ExpiredKey[] {
    this.#beforeWrite()
    const rows = this.#purge.all(now) as { grp: string; key: string }[]
    this.writes++
    return rows.map((r) => ({ group: r.grp, key: r.key }))
  }

  appendChanges(changes: readonly NewChange[]): void {
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i] as NewChange
      this.#beforeWrite()
      this.#appendChange.run(c.revision, c.type, c.group, c.key, c.value, c.timestamp)
      this.writes++
      this.#revisions.logged(c.revision)
    }
  }

  readChanges(after: number, limit: number): ChangeRecord[] {
    this.#check()
    return this.#readChanges.all(after, limit) as ChangeRecord[]
  }

  revisionRange(): RevisionRange {
    this.#check()
    return { oldest: this.#oldestChange.get() as number | null, latest: this.#revisions.latest() }
  }

  pruneChanges(before: number, keep: number, limit?: number): number {
    this.#beforeWrite()
    const pruned =
      limit === undefined
        ? this.#pruneChanges.run({ keep, before }).changes
        : this.#pruneSomeChanges.run({ keep, before, limit }).changes
    this.writes++
    return pruned
  }
}
