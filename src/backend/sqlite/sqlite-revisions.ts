/**
 * Revisions on SQLite: the `revision` column of `kv` (the revision of the
 * change that last wrote the row) and the store's counter they come from.
 *
 * On a file the latest revision is the higher of two numbers kept in the
 * file: the counter in the table `kv_revision` and the newest entry of the
 * change log `kv_changes` (never pruned). A write takes the next one above
 * both, in its own transaction, so that revisions are strictly increasing
 * across every process and store on the file and survive a restart, with or
 * without the change log. A transaction whose last revision went into the
 * log leaves the counter as it is (the log's entry already says where the
 * revisions stand: one page fewer to write and sync per commit); one whose
 * last revision the log does not hold (a store with `changeLog: false`, a
 * revision given to a row of an older file) writes it to the counter.
 *
 * Two triggers give a new revision to any row that a write did not give one
 * itself (go-store, the `sqlite3` shell, any SQLite client): an insert
 * without a revision, an update that left it as it was; they take it above
 * the counter and the log alike, and write it to the counter. The column is
 * nullable and added with `ALTER TABLE`, as go-store adds its own columns,
 * so that go-store's statements (which name their columns) keep working on
 * our files and its files keep opening. Rows written before the column
 * existed have none until {@link SqliteQueries.assignRevision} gives them
 * one.
 *
 * A private in-memory database has no other writer: its counter is a number
 * in this process, and it needs no triggers.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'

/** The table of a file's revision counter (one row). */
export const REVISION_TABLE = 'kv_revision'

/** The latest revision given on the file: the counter's or the log's newest, the higher. */
const LATEST = `max((SELECT latest FROM ${REVISION_TABLE}), coalesce((SELECT max(revision) FROM kv_changes), 0))`

/** A new revision for the row the trigger fired on, above the counter and the log's newest entry. */
const RENEW = `
  UPDATE ${REVISION_TABLE} SET latest = ${LATEST} + 1;
  UPDATE kv SET revision = (SELECT latest FROM ${REVISION_TABLE}) WHERE rowid = new.rowid;
`

const COUNTER = `
CREATE TABLE IF NOT EXISTS ${REVISION_TABLE} (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  latest INTEGER NOT NULL
);
INSERT OR IGNORE INTO ${REVISION_TABLE} (id, latest)
  VALUES (1, max((SELECT coalesce(max(revision), 0) FROM kv_changes), (SELECT coalesce(max(revision), 0) FROM kv)));
`

/**
 * The triggers, made anew when a file holds those of an earlier version,
 * which counted from the counter alone (see {@link upgradeRevisions}).
 */
const TRIGGERS = `
DROP TRIGGER IF EXISTS kv_revision_insert;
DROP TRIGGER IF EXISTS kv_revision_update;
CREATE TRIGGER kv_revision_insert AFTER INSERT ON kv WHEN new.revision IS NULL
BEGIN${RENEW}END;
CREATE TRIGGER kv_revision_update AFTER UPDATE ON kv WHEN new.revision IS old.revision
BEGIN${RENEW}END;
`

const TRIGGER_NAMES = ['kv_revision_insert', 'kv_revision_update']

function hasColumn(db: BetterSqlite3.Database): boolean {
  return (db.prepare('PRAGMA table_info(kv)').all() as { name: string }[]).some((c) => c.name === 'revision')
}

function complete(db: BetterSqlite3.Database, memory: boolean): boolean {
  if (!hasColumn(db)) return false
  if (memory) return true
  return hasCounter(db) && currentTriggers(db)
}

function hasCounter(db: BetterSqlite3.Database): boolean {
  return db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(REVISION_TABLE) === 1
}

/** Both triggers are there and take revisions above the log's newest entry too. */
function currentTriggers(db: BetterSqlite3.Database): boolean {
  const sql = db
    .prepare(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)`)
    .pluck()
    .all(...TRIGGER_NAMES) as string[]
  return sql.length === TRIGGER_NAMES.length && sql.every((text) => text.includes('kv_changes'))
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
    if (memory) return
    db.exec(COUNTER)
    if (!currentTriggers(db)) db.exec(TRIGGERS)
  }).immediate()
}

/**
 * The store's revision counter, for the queries of one connection. On a
 * file a write transaction reads the latest revision once, when it first
 * takes one, counts on from there in memory, and just before its COMMIT
 * ({@link save}) writes the counter only if its last revision is not in
 * the log: nobody else can take one meanwhile, as the transaction holds the
 * write lock. In memory it is a number.
 */
export class SqliteRevisions {
  readonly #db: BetterSqlite3.Database
  readonly #memory: boolean
  /** In memory: the latest revision taken. On a file: the latest, counting this transaction's, once read. */
  #latest = 0
  /** On a file: the latest revision as this transaction read it, or undefined until it takes a revision. */
  #read: number | undefined
  /** On a file: the highest revision this transaction appended to the log (0: none, or not known). */
  #logged = 0
  readonly #select: BetterSqlite3.Statement | undefined
  readonly #update: BetterSqlite3.Statement | undefined

  constructor(db: BetterSqlite3.Database, memory: boolean) {
    this.#db = db
    this.#memory = memory
    if (!memory) {
      this.#select = db.prepare(`SELECT ${LATEST}`).pluck()
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
      // The log's entries past the mark went with the write; which of the
      // earlier ones the log holds is not known: the counter is written.
      if (this.#logged > this.#latest) this.#logged = 0
    }
  }

  /** On a file: a transaction began or ended without {@link save}: the counter is read again when needed. */
  open(): void {
    this.#read = undefined
    this.#logged = 0
  }

  /** On a file: this transaction appended the change of `revision` to the log (in increasing order). */
  logged(revision: number): void {
    if (!this.#memory) this.#logged = revision
  }

  /**
   * On a file, just before COMMIT: writes the transaction's last revision
   * to the counter, unless the log holds it (its newest entry, which no
   * prune removes, then says as much).
   */
  save(): void {
    const read = this.#read
    if (read === undefined) return
    this.#read = undefined
    const logged = this.#logged
    this.#logged = 0
    if (this.#latest !== read && this.#latest !== logged) (this.#update as BetterSqlite3.Statement).run(this.#latest)
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
   * Reads a file's latest revision at the transaction's first one. A
   * revision is taken only inside a write transaction: taken in a statement
   * of its own, another process could write the same key in between.
   */
  #load(): void {
    if (!this.#db.inTransaction) throw new Error('a revision of a file database is taken only inside a write transaction')
    this.#read = (this.#select as BetterSqlite3.Statement).get() as number
    this.#latest = this.#read
    this.#logged = 0
  }
}
