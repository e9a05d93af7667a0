import type BetterSqlite3 from 'better-sqlite3'
import type {
  ExpiredKey,
  NewChange,
  RemovedGroup,
  StoredValue,
  WriteCondition,
  WriteOutcome,
  WriteQueries,
} from '../queries.js'
import { NotAtomic, TransactionLost } from './sqlite-errors.js'
import { SqliteReadQueries } from './sqlite-read-queries.js'
import type { SqliteRevisions } from './sqlite-revisions.js'
import { prefixed, SQL } from './sqlite-sql.js'

type Db = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

/** A stored value that `increment` reads as a base-10 integer. */
const INTEGER = /^-?\d+$/

/**
 * `text` (base-10 integer text) + `by`, exactly; NaN when the sum is not a
 * safe integer. Text of 16 characters or more may hold a number beyond the
 * safe range, which a double would round before the sum (9007199254740993
 * - 2 must be 9007199254740991): it is added as a BigInt.
 */
function integerSum(text: string, by: number): number {
  if (text.length < 16) return Number(text) + by
  const sum = BigInt(text) + BigInt(by)
  return sum >= -9007199254740991n && sum <= 9007199254740991n ? Number(sum) : Number.NaN
}

/**
 * The storage primitives on one better-sqlite3 connection: the reads of
 * {@link SqliteReadQueries} and the writes, each a prepared statement made
 * once and reused. Synchronous: the caller serialises. Made
 * `inTransactionOnly` for the ops of a batch transaction, it refuses every
 * query once the transaction is gone (see SqliteReadQueries).
 */
export class SqliteQueries extends SqliteReadQueries implements WriteQueries {
  readonly #db: Db
  readonly #inTransactionOnly: boolean
  readonly #revisions: SqliteRevisions
  /** The get statement answering an array, for increment. */
  readonly #incrementRead: Statement
  readonly #incrementLive: Statement
  readonly #set: Statement
  readonly #setIfAbsent: Statement
  readonly #setIfRevision: Statement
  readonly #assignRevision: Statement
  readonly #delete: Statement
  readonly #deleteIf: Statement
  readonly #deleteExpired: Statement
  readonly #countGroupLive: Statement
  readonly #deleteGroup: Statement
  readonly #purge: Statement
  readonly #appendChange: Statement
  readonly #replaceLive: Statement
  readonly #pruneChanges: Statement
  readonly #pruneSomeChanges: Statement
  /** Statements whose text depends on which bounds are present, made on first use. */
  readonly #variants = new Map<string, Statement>()

  constructor(db: Db, revisions: SqliteRevisions, inTransactionOnly = false) {
    super(db, revisions, inTransactionOnly)
    this.#db = db
    this.#revisions = revisions
    this.#inTransactionOnly = inTransactionOnly
    this.#incrementRead = db.prepare(SQL.incrementRead).raw()
    this.#incrementLive = db.prepare(SQL.incrementLive)
    this.#set = db.prepare(SQL.set)
    this.#setIfAbsent = db.prepare(SQL.setIfAbsent)
    this.#setIfRevision = db.prepare(SQL.setIfRevision)
    this.#assignRevision = db.prepare(SQL.assignRevision)
    this.#delete = db.prepare(SQL.delete)
    this.#deleteIf = db.prepare(SQL.deleteIf)
    this.#deleteExpired = db.prepare(SQL.deleteExpired)
    this.#countGroupLive = db.prepare(SQL.countGroupLive).pluck()
    this.#deleteGroup = db.prepare(SQL.deleteGroup)
    this.#purge = db.prepare(SQL.purge)
    this.#appendChange = db.prepare(SQL.appendChange)
    this.#replaceLive = db.prepare(SQL.replaceLive)
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

  replaceLive(group: string, key: string, value: string, expiresAt: number | null, now: number): number | undefined {
    this.#beforeWrite()
    const revision = this.#revisions.peek()
    // A statement that changed nothing wrote nothing: the set that follows it is then the write's only one.
    if (this.#replaceLive.run(value, expiresAt, revision, group, key, now).changes === 0) return undefined
    this.writes++
    return this.#revisions.take()
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
      const sum = INTEGER.test(row[0]) ? integerSum(row[0], by) : Number.NaN
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
    const select = prefixed(this.#db, this.#variants, 'prefixGroups', SQL.prefixGroups, prefix, false)
    const removed = (select.stmt.all({ ...select.b, now }) as RemovedGroup[]).filter((g) => g.live > 0)
    const del = prefixed(this.#db, this.#variants, 'deletePrefix', SQL.deletePrefix, prefix, false)
    del.stmt.run(del.b)
    this.writes++
    return removed
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
