import Database from 'better-sqlite3'
import type BetterSqlite3 from 'better-sqlite3'
import { StoreError, wrapError } from '../../errors.js'
import type { Backend, BackendQueries, MaybePromise, WriteOptions } from '../backend.js'
import { PK_INDEX, SqliteQueries } from './sqlite-queries.js'
import { repairCounts } from './sqlite-schema.js'

/** Options the SQLite backend takes from the store's options. */
export interface SqliteBackendOptions {
  durability: 'full' | 'normal'
  busyTimeout: number
}

interface Op {
  write: boolean
  single: boolean
  method: string
  fn: (q: BackendQueries) => MaybePromise<unknown>
  onCommit: ((result: unknown) => void) | undefined
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  grp        TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (grp, key)
);
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS kv_changes (
  revision INTEGER PRIMARY KEY AUTOINCREMENT,
  type     TEXT NOT NULL,
  grp      TEXT NOT NULL,
  key      TEXT NOT NULL,
  value    TEXT,
  ts       INTEGER NOT NULL
);
`

const RESOLVED = Promise.resolve()

/** How often a subscribed backend checks whether another connection committed. */
export const POLL_INTERVAL_MS = 50

/**
 * A driver error as a StoreError naming `method` (a lock wait past the
 * timeout is named as such); anything else, such as an error thrown by a
 * transaction callback, passes through unchanged.
 */
function sqliteError(method: string, err: unknown, busyTimeout: number): unknown {
  if (!(err instanceof Database.SqliteError)) return err
  if (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED') {
    return new StoreError(
      `${method}: the database is locked by another connection (waited busyTimeout ${busyTimeout} ms)`,
      { cause: err },
    )
  }
  return wrapError(method, err)
}

/** An error raised while opening `location`, as a StoreError naming the path. */
function openError(location: string, err: unknown, busyTimeout: number): StoreError {
  if (err instanceof StoreError) return err
  const detail = err instanceof Error ? err.message : String(err)
  if (err instanceof Database.SqliteError) {
    if (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED')) {
      return new StoreError(
        `Store.open: '${location}' is locked by another connection (waited busyTimeout ${busyTimeout} ms)`,
        { cause: err },
      )
    }
    if (err.code.startsWith('SQLITE_NOTADB') || err.code.startsWith('SQLITE_CORRUPT')) {
      return new StoreError(`Store.open: '${location}' is not a database or is corrupt: ${detail}`, { cause: err })
    }
  }
  return new StoreError(`Store.open: cannot open '${location}': ${detail}`, { cause: err })
}

/**
 * Embedded SQLite through better-sqlite3, on one connection.
 *
 * Reads run at once when nothing is queued. Writes are queued and run in
 * batches: every write issued while a batch is being prepared or committed
 * joins the next one, which is one transaction with one commit (one fsync
 * with `durability: 'full'`): group commit. Each write of several
 * statements in a batch runs under its own savepoint, so a write that
 * throws is rolled back alone; a single statement needs none, as SQLite
 * undoes a failed statement by itself. In memory there is no fsync to
 * share, so an idle write runs at once instead of waiting for a batch.
 */
export class SqliteBackend implements Backend {
  readonly name = 'sqlite'
  readonly changeLog: boolean
  readonly #db: BetterSqlite3.Database
  readonly #q: SqliteQueries
  readonly #busyTimeout: number
  readonly #tx: {
    begin: BetterSqlite3.Statement
    commit: BetterSqlite3.Statement
    rollback: BetterSqlite3.Statement
    savepoint: BetterSqlite3.Statement
    release: BetterSqlite3.Statement
    rollbackTo: BetterSqlite3.Statement
  }
  #queue: Op[] = []
  #running = false
  #flushing: Promise<void> | undefined
  #closed = false
  /** In memory there is no fsync for writes to share: an idle write runs at once. */
  readonly #immediate: boolean
  /** Writes run at once whose commit is still to be announced, and their announcements. */
  #announcing = 0
  #pending: unknown[] = []
  #pendingCount = 0
  #spare: unknown[] = []

  readonly #dataVersion: BetterSqlite3.Statement
  readonly #wakers = new Set<() => void>()
  #poller: NodeJS.Timeout | undefined

  private constructor(db: BetterSqlite3.Database, busyTimeout: number, shared: boolean) {
    this.#db = db
    this.changeLog = shared
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck()
    this.#busyTimeout = busyTimeout
    this.#immediate = !shared
    this.#q = new SqliteQueries(db)
    this.#tx = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT op'),
      release: db.prepare('RELEASE op'),
      rollbackTo: db.prepare('ROLLBACK TO op'),
    }
  }

  /** The underlying connection, for tests and tools inside the package. */
  get database(): BetterSqlite3.Database {
    return this.#db
  }

  /**
   * Opens (creating if missing) a database file or `':memory:'`, checks that
   * it is a database, upgrades a pre-TTL go-store schema and applies the
   * durability and lock settings. A file that is not a database is left
   * untouched: nothing is written before the check.
   */
  static open(location: string, options: SqliteBackendOptions): SqliteBackend {
    const method = 'Store.open'
    const memory = location === ':memory:'
    let db: BetterSqlite3.Database
    try {
      db = new Database(location, { timeout: options.busyTimeout })
    } catch (err) {
      throw new StoreError(`${method}: cannot open '${location}': ${(err as Error).message}`, { cause: err })
    }
    try {
      db.pragma(`busy_timeout = ${options.busyTimeout}`)
      // Read-only checks first: a file that is not a database, not ours or
      // visibly corrupt is refused before anything is written to it.
      const columns = SqliteBackend.#check(db, location)
      // Schema changes before the switch to WAL: on a file still in
      // rollback-journal mode a failed change is rolled back from the journal.
      SqliteBackend.#migrate(db, columns)
      if (!memory) db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`)
      return new SqliteBackend(db, options.busyTimeout, !memory)
    } catch (err) {
      db.close()
      throw openError(location, err, options.busyTimeout)
    }
  }

  /** Reads the schema and the ends of the kv table; answers kv's columns (none when it is missing). */
  static #check(db: BetterSqlite3.Database, location: string): string[] {
    // The first read of the schema fails on a file that is not a database.
    db.prepare('SELECT count(*) FROM sqlite_master').pluck().get()
    const columns = (db.prepare('PRAGMA table_info(kv)').all() as { name: string }[]).map((c) => c.name)
    if (columns.length === 0) return columns
    for (const needed of ['grp', 'key', 'value']) {
      if (!columns.includes(needed)) {
        throw new StoreError(`Store.open: '${location}' has a table kv without column '${needed}': not a groupstore database`)
      }
    }
    const pk = (db.prepare('PRAGMA index_list(kv)').all() as { name: string; origin: string }[]).find((i) => i.origin === 'pk')
    const pkColumns = pk === undefined ? [] : (db.pragma(`index_info(${pk.name})`) as { name: string }[]).map((c) => c.name)
    if (pk?.name !== PK_INDEX || pkColumns.join() !== 'grp,key') {
      throw new StoreError(`Store.open: '${location}' has a table kv without PRIMARY KEY (grp, key): not a groupstore database`)
    }
    // Walk to the first and last rows through the primary key and the table,
    // so that a damaged table fails here rather than on a later read.
    db.prepare('SELECT value FROM kv ORDER BY grp, key LIMIT 1').get()
    db.prepare('SELECT value FROM kv ORDER BY grp DESC, key DESC LIMIT 1').get()
    return columns
  }

  static #migrate(db: BetterSqlite3.Database, columns: string[]): void {
    if (columns.length > 0 && !columns.includes('expires_at')) db.exec('ALTER TABLE kv ADD COLUMN expires_at INTEGER')
    db.exec(SCHEMA)
    repairCounts(db)
  }

  #idle(): boolean {
    return !this.#running && this.#queue.length === 0
  }

  read<T>(method: string, fn: (q: BackendQueries) => MaybePromise<T>): Promise<T> {
    if (this.#idle()) {
      try {
        return Promise.resolve(fn(this.#q))
      } catch (err) {
        return Promise.reject(sqliteError(method, err, this.#busyTimeout))
      }
    }
    return this.#enqueue(false, false, method, fn, undefined)
  }

  write<T>(
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit?: (result: T) => void,
    options?: WriteOptions,
  ): Promise<T> {
    const single = options?.single === true
    if (this.#immediate && this.#idle() && !this.#closed) {
      if (single) return this.#runNow(method, fn, onCommit)
      // Not while a commit is still to be announced: this one must come after it.
      if (this.#announcing === 0) return this.#runNowAlone(method, fn, onCommit)
    }
    return this.#enqueue(true, single, method, fn, onCommit)
  }

  /**
   * Runs a single-statement write now, with no batch around it. Its commit
   * is announced (`onCommit`) in a microtask queued before its promise can
   * be awaited, as a batch's would be: a watcher made right after the call
   * still sees it, and the callbacks have run by the time the caller resumes.
   */
  #runNow<T>(method: string, fn: (q: BackendQueries) => MaybePromise<T>, onCommit: ((result: T) => void) | undefined): Promise<T> {
    let result: MaybePromise<T>
    try {
      result = fn(this.#q)
    } catch (err) {
      return Promise.reject(sqliteError(method, err, this.#busyTimeout))
    }
    if (result instanceof Promise) return result.then((value) => (onCommit?.(value), value))
    if (onCommit !== undefined) this.#announceLater(onCommit as (result: unknown) => void, result)
    return Promise.resolve(result)
  }

  /**
   * Runs a write of several statements now, in a transaction of its own,
   * announcing its commit like {@link #runNow}. Should it go asynchronous (a
   * transaction whose callback awaits), the queue waits for it as for a batch.
   */
  #runNowAlone<T>(method: string, fn: (q: BackendQueries) => MaybePromise<T>, onCommit: ((result: T) => void) | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const op: Op = {
        write: true,
        single: false,
        method,
        fn,
        onCommit: undefined,
        resolve: (value) => {
          if (onCommit !== undefined) this.#announceLater(onCommit as (result: unknown) => void, value)
          resolve(value as T)
        },
        reject,
      }
      this.#running = true
      const pending = this.#runAlone(op)
      if (pending === undefined) this.#running = false
      else this.#flushing = pending.then(() => this.#flush())
    })
  }

  /** Queues `onCommit(result)` for the next announcement (one microtask for all writes run at once meanwhile). */
  #announceLater(onCommit: (result: unknown) => void, result: unknown): void {
    this.#announcing++
    // A promise reaction is the cheapest microtask (Node's queueMicrotask makes an async resource).
    const at = this.#pendingCount
    this.#pending[at] = onCommit
    this.#pending[at + 1] = result
    this.#pendingCount = at + 2
    if (at === 0) void RESOLVED.then(this.#announcePending)
  }

  /** Announces the commits of writes run at once, in commit order, the backend counting as busy meanwhile. */
  readonly #announcePending = (): void => {
    const pending = this.#pending
    const count = this.#pendingCount
    this.#pending = this.#spare
    this.#pendingCount = 0
    const running = this.#running
    this.#running = true
    try {
      for (let i = 0; i < count; i += 2) {
        try {
          ;(pending[i] as (result: unknown) => void)(pending[i + 1])
        } catch (err) {
          process.emitWarning(`announcing a commit failed: ${err instanceof Error ? err.message : String(err)}`, {
            type: 'GroupstoreWarning',
          })
        }
        this.#announcing--
      }
    } finally {
      this.#running = running
      pending.fill(undefined, 0, count)
      this.#spare = pending
    }
  }

  #enqueue<T>(
    write: boolean,
    single: boolean,
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit: ((result: T) => void) | undefined,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError(`${method}: the database is closed`))
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        write,
        single,
        method,
        fn,
        onCommit: onCommit as ((result: unknown) => void) | undefined,
        resolve: resolve as (value: unknown) => void,
        reject,
      })
      if (this.#flushing === undefined) {
        this.#flushing = RESOLVED.then(() => this.#flush())
      }
    })
  }

  async #flush(): Promise<void> {
    this.#running = true
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue
        this.#queue = []
        const pending = this.#runBatch(batch)
        if (pending !== undefined) await pending
      }
    } finally {
      this.#running = false
      this.#flushing = undefined
    }
  }

  /**
   * Runs one batch in one transaction; answers a promise only when some
   * operation was asynchronous. An operation of several statements runs
   * under a savepoint so that its failure undoes it alone; a single
   * statement needs none (SQLite undoes a failed statement by itself). If a
   * failure rolls back the whole transaction (an I/O error, a full disk),
   * the operations before it lost their writes and fail with it, and the
   * rest run in a new transaction.
   */
  #runBatch(batch: Op[]): Promise<void> | undefined {
    if (batch.length === 1) return this.#runAlone(batch[0] as Op)
    const results: unknown[] = new Array(batch.length)
    const failures: unknown[] = new Array(batch.length)
    const failed: boolean[] = new Array(batch.length).fill(false)
    const fail = (i: number, err: unknown): void => {
      failures[i] = sqliteError((batch[i] as Op).method, err, this.#busyTimeout)
      failed[i] = true
    }
    /** Opens the batch's transaction at operation `from`; false (every operation from it failed) when it cannot. */
    const begin = (from: number): boolean => {
      try {
        this.#tx.begin.run()
        return true
      } catch (err) {
        for (let j = from; j < batch.length; j++) fail(j, err)
        return false
      }
    }
    /** After operation `i` failed with `err`: undoes it, or copes with the loss of the whole transaction. */
    const recover = (i: number, guarded: boolean, err: unknown): boolean => {
      if (this.#db.inTransaction) {
        if (!guarded) return true
        try {
          this.#tx.rollbackTo.run()
          this.#tx.release.run()
          return true
        } catch {
          this.#rollback()
        }
      }
      for (let j = 0; j < i; j++) if (!failed[j]) fail(j, err)
      return begin(i + 1)
    }
    const step = (i: number): Promise<void> | undefined => {
      for (; i < batch.length; i++) {
        const op = batch[i] as Op
        const guarded = op.write && !op.single
        let result: MaybePromise<unknown>
        try {
          if (guarded) this.#tx.savepoint.run()
          result = op.fn(this.#q)
          if (guarded && !(result instanceof Promise)) this.#tx.release.run()
        } catch (err) {
          fail(i, err)
          if (!recover(i, guarded, err)) break
          continue
        }
        if (result instanceof Promise) {
          const at = i
          return result.then(
            (value) => {
              try {
                if (guarded) this.#tx.release.run()
              } catch (err) {
                fail(at, err)
                return recover(at, guarded, err) ? step(at + 1) : this.#finish(batch, results, failures, failed)
              }
              results[at] = value
              return step(at + 1)
            },
            (err: unknown) => {
              fail(at, err)
              return recover(at, guarded, err) ? step(at + 1) : this.#finish(batch, results, failures, failed)
            },
          )
        }
        results[i] = result
      }
      this.#finish(batch, results, failures, failed)
      return undefined
    }
    return begin(0) ? step(0) : this.#finish(batch, results, failures, failed)
  }

  #finish(batch: Op[], results: unknown[], failures: unknown[], failed: boolean[]): undefined {
    const allFailed = failed.every(Boolean)
    try {
      if (this.#db.inTransaction) {
        if (allFailed) this.#tx.rollback.run()
        else this.#tx.commit.run()
      }
    } catch (err) {
      this.#rollback()
      for (let i = 0; i < batch.length; i++) {
        const op = batch[i] as Op
        op.reject(failed[i] === true ? failures[i] : sqliteError(op.method, err, this.#busyTimeout))
      }
      return undefined
    }
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i] as Op
      if (failed[i] === true) {
        op.reject(failures[i])
        continue
      }
      try {
        op.onCommit?.(results[i])
      } catch (err) {
        op.reject(err)
        continue
      }
      op.resolve(results[i])
    }
    return undefined
  }

  /** Runs an operation alone in its batch: a write of several statements in a transaction of its own. */
  #runAlone(op: Op): Promise<void> | undefined {
    const tx = op.write && !op.single
    try {
      if (tx) this.#tx.begin.run()
      const result = op.fn(this.#q)
      if (result instanceof Promise) {
        return result.then(
          (value) => this.#settleAlone(op, tx, value),
          (err: unknown) => this.#failAlone(op, tx, err),
        )
      }
      this.#settleAlone(op, tx, result)
    } catch (err) {
      this.#failAlone(op, tx, err)
    }
    return undefined
  }

  #settleAlone(op: Op, tx: boolean, value: unknown): void {
    try {
      if (tx) this.#tx.commit.run()
      op.onCommit?.(value)
    } catch (err) {
      this.#failAlone(op, tx, err)
      return
    }
    op.resolve(value)
  }

  #failAlone(op: Op, tx: boolean, err: unknown): void {
    if (tx) this.#rollback()
    op.reject(sqliteError(op.method, err, this.#busyTimeout))
  }

  /** Rolls back the open transaction, if any; a failure to do so leaves SQLite to end it. */
  #rollback(): void {
    try {
      if (this.#db.inTransaction) this.#tx.rollback.run()
    } catch {
      // SQLite rolls a transaction back itself when it cannot go on.
    }
  }

  error(method: string, err: unknown): unknown {
    return sqliteError(method, err, this.#busyTimeout)
  }

  /**
   * Polls `PRAGMA data_version`, which changes when another connection
   * commits, every {@link POLL_INTERVAL_MS} ms while anybody is subscribed:
   * a cheap check that reads no table. The timer never keeps the process alive.
   */
  subscribe(wake: () => void): () => void {
    if (!this.changeLog || this.#closed) return () => {}
    const waker = (): void => wake()
    this.#wakers.add(waker)
    if (this.#poller === undefined) {
      let seen = this.#dataVersion.get()
      this.#poller = setInterval(() => {
        if (this.#running || this.#closed) return
        const version = this.#dataVersion.get()
        if (version === seen) return
        seen = version
        for (const w of [...this.#wakers]) w()
      }, POLL_INTERVAL_MS)
      this.#poller.unref()
    }
    return () => {
      this.#wakers.delete(waker)
      if (this.#wakers.size === 0 && this.#poller !== undefined) {
        clearInterval(this.#poller)
        this.#poller = undefined
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#poller !== undefined) clearInterval(this.#poller)
    this.#poller = undefined
    this.#wakers.clear()
    while (this.#flushing !== undefined) await this.#flushing
    this.#db.close()
  }
}
