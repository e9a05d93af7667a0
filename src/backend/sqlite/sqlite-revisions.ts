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
 * file every call reads or writes the counter's row, inside the write that
 * takes the revision; in memory it is a number.
 */
export class SqliteRevisions {
  readonly #memory: boolean
  #latest = 0
  readonly #read: BetterSqlite3.Statement | undefined
  readonly #take: BetterSqlite3.Statement | undefined
  readonly #db: BetterSqlite3.Database

  constructor(db: BetterSqlite3.Database, memory: boolean) {
    this.#db = db
    this.#memory = memory
    if (!memory) {
      this.#read = db.prepare(`SELECT latest FROM ${REVISION_TABLE}`).pluck()
      this.#take = db.prepare(`UPDATE ${REVISION_TABLE} SET latest = latest + 1 RETURNING latest`).pluck()
    }
  }

  /** In memory: the counter's position (see {@link rewind}); on a file, 0. */
  mark(): number {
    return this.#latest
  }

  /**
   * In memory: puts the counter back where {@link mark} found it, after the
   * write that took revisions since was rolled back. A file's counter is
   * rolled back with its transaction.
   */
  rewind(mark: number): void {
    if (this.#memory && mark < this.#latest) this.#latest = mark
  }

  /** The latest revision taken. */
  latest(): number {
    if (this.#memory) return this.#latest
    return (this.#read as BetterSqlite3.Statement).get() as number
  }

  /** The revision {@link take} would answer, taking nothing. Inside a write. */
  peek(): number {
    if (this.#memory) return this.#latest + 1
    this.#inWrite()
    return ((this.#read as BetterSqlite3.Statement).get() as number) + 1
  }

  /** Takes the next revision. Inside a write. */
  take(): number {
    if (this.#memory) return ++this.#latest
    this.#inWrite()
    return (this.#take as BetterSqlite3.Statement).get() as number
  }

  /**
   * A file's revision is taken in the transaction of the change that uses
   * it: taken in a statement of its own, another process could write the
   * same key between the two.
   */
  #inWrite(): void {
    if (!this.#db.inTransaction) throw new Error('a revision of a file database is taken only inside a write transaction')
  }
}
