/**
 * Revisions on SQLite: the `revision` column of `kv` (the revision of the
 * change that last wrote the row) and the store's counter they come from.
 *
 * A file keeps the counter in the table `kv_revision`, written in the same
 * transaction as the change that takes a revision, so that revisions are
 * strictly increasing across every process and survive a restart, with or
 * without the change log. Two triggers give a new revision to any row that
 * a write did not give one itself (go-store, the `sqlite3` shell, any SQLite
 * client): an insert without a revision, an update that left it as it was.
 * The column is nullable and added with `ALTER TABLE`, as go-store adds its
 * own columns, so that go-store's statements (which name their columns)
 * keep working on our files and its files keep opening. Rows written before
 * the column existed have none until {@link SqliteQueries.assignRevision}
 * gives them one.
 *
 * A private in-memory database has no other writer: its counter is a number
 * in this process, and it needs no triggers.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'

/** The table of a file's revision counter (one row). */
export const REVISION_TABLE = 'kv_revision'

/** A new revision for the row the trigger fired on, from the store's counter. */
const RENEW = `
  UPDATE ${REVISION_TABLE} SET latest = latest + 1;
  UPDATE kv SET revision = (SELECT latest FROM ${REVISION_TABLE}) WHERE rowid = new.rowid;
`

const COUNTER = `
CREATE TABLE IF NOT EXISTS ${REVISION_TABLE} (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  latest INTEGER NOT NULL
);
INSERT OR IGNORE INTO ${REVISION_TABLE} (id, latest)
  VALUES (1, max((SELECT coalesce(max(revision), 0) FROM kv_changes), (SELECT coalesce(max(revision), 0) FROM kv)));
CREATE TRIGGER IF NOT EXISTS kv_revision_insert AFTER INSERT ON kv WHEN new.revision IS NULL
BEGIN${RENEW}END;
CREATE TRIGGER IF NOT EXISTS kv_revision_update AFTER UPDATE ON kv WHEN new.revision IS old.revision
BEGIN${RENEW}END;
`

const OBJECTS = [REVISION_TABLE, 'kv_revision_insert', 'kv_revision_update']

function hasColumn(db: BetterSqlite3.Database): boolean {
  return (db.prepare('PRAGMA table_info(kv)').all() as { name: string }[]).some((c) => c.name === 'revision')
}

function complete(db: BetterSqlite3.Database, memory: boolean): boolean {
  if (!hasColumn(db)) return false
  if (memory) return true
  const found = db
    .prepare(`SELECT count(*) FROM sqlite_master WHERE name IN (${OBJECTS.map(() => '?').join(', ')})`)
    .pluck()
    .get(...OBJECTS) as number
  return found === OBJECTS.length
}

/**
 * On open, after the `kv` and `kv_changes` tables exist: adds the revision
 * column, and on a file the counter and its triggers, when missing, in one
 * IMMEDIATE transaction (another process may be upgrading the same file).
 * One read of the schema when nothing is to do.
 */
export function upgradeRevisions(db: BetterSqlite3.Database, memory: boolean): void {
  if (complete(db, memory)) return
  db.transaction(() => {
    if (!hasColumn(db)) db.exec('ALTER TABLE kv ADD COLUMN revision INTEGER')
    if (!memory) db.exec(COUNTER)
  }).immediate()
}

/**
 * The store's revision counter, for the queries of one connection. On a
 * file a write transaction reads the counter once, when it first takes a
 * revision, counts on from there in memory, and writes it back just before
 * its COMMIT ({@link save}): nobody else can take one meanwhile, as the
 * transaction holds the write lock. In memory it is a number.
 */
export class SqliteRevisions {
  readonly #db: BetterSqlite3.Database
  readonly #memory: boolean
  /** In memory: the latest revision taken. On a file: the latest, counting this transaction's, once read. */
  #latest = 0
  /** On a file: the counter as this transaction read it, or undefined until it takes a revision. */
  #read: number | undefined
  readonly #select: BetterSqlite3.Statement | undefined
  readonly #update: BetterSqlite3.Statement | undefined

  constructor(db: BetterSqlite3.Database, memory: boolean) {
    this.#db = db
    this.#memory = memory
    if (!memory) {
      this.#select = db.prepare(`SELECT latest FROM ${REVISION_TABLE}`).pluck()
      this.#update = db.prepare(`UPDATE ${REVISION_TABLE} SET latest = ?`)
    }
  }

  /** The counter's position (see {@link rewind}); -1 on a file whose transaction has not read it yet. */
  mark(): number {
    return this.#memory || this.#read !== undefined ? this.#latest : -1
  }

  /**
   * Puts the counter back where {@link mark} found it, after a write that
   * took revisions since was rolled back (alone, to its savepoint, or in a
   * transaction of its own): the next write takes them again, so that a
   * rolled-back write leaves no revision behind.
   */
  rewind(mark: number): void {
    if (this.#memory) {
      if (mark < this.#latest) this.#latest = mark
    } else if (this.#read !== undefined) {
      this.#latest = mark < 0 ? this.#read : Math.min(mark, this.#latest)
    }
  }

  /** On a file: a transaction began or ended without {@link save}: the counter is read again when needed. */
  open(): void {
    this.#read = undefined
  }

  /** On a file, just before COMMIT: writes the revisions this transaction took to the counter. */
  save(): void {
    const read = this.#read
    if (read === undefined) return
    this.#read = undefined
    if (this.#latest !== read) (this.#update as BetterSqlite3.Statement).run(this.#latest)
  }

  /** The latest revision taken (inside a write transaction, counting its own). */
  latest(): number {
    if (this.#memory || this.#read !== undefined) return this.#latest
    return (this.#select as BetterSqlite3.Statement).get() as number
  }

  /** The revision {@link take} would answer, taking nothing. Inside a write. */
  peek(): number {
    if (!this.#memory && this.#read === undefined) this.#load()
    return this.#latest + 1
  }

  /** Takes the next revision. Inside a write. */
  take(): number {
    if (!this.#memory && this.#read === undefined) this.#load()
    return ++this.#latest
  }

  /**
   * Reads a file's counter at the transaction's first revision. A revision
   * is taken only inside a write transaction: taken in a statement of its
   * own, another process could write the same key in between.
   */
  #load(): void {
    if (!this.#db.inTransaction) throw new Error('a revision of a file database is taken only inside a write transaction')
    this.#read = (this.#select as BetterSqlite3.Statement).get() as number
    this.#latest = this.#read
  }
}
