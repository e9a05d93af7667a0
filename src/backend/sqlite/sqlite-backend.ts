import Database from 'better-sqlite3'
import type BetterSqlite3 from 'better-sqlite3'
import { StoreError, wrapError } from '../../errors.js'
import type { Backend, BackendQueries, MaybePromise, WriteOptions } from '../backend.js'
import { PK_INDEX, SqliteQueries } from './sqlite-queries.js'

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
 * with `durability: 'full'`): group commit. Each write in a batch runs under
 * its own savepoint, so a write that throws is rolled back alone.
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

  readonly #dataVersion: BetterSqlite3.Statement
  readonly #wakers = new Set<() => void>()
  #poller: NodeJS.Timeout | undefined

  private constructor(db: BetterSqlite3.Database, busyTimeout: number, shared: boolean) {
    this.#db = db
    this.changeLog = shared
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck()
    this.#busyTimeout = busyTimeout
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
    return this.#enqueue(true, options?.single === true, method, fn, onCommit)
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
        this.#flushing = new Promise<void>((done) => queueMicrotask(() => void this.#flush().then(done)))
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

  /** Runs one batch; answers a promise only when some operation was asynchronous. */
  #runBatch(batch: Op[]): Promise<void> | undefined {
    const only = batch.length === 1 ? batch[0] : undefined
    if (only !== undefined && (!only.write || only.single)) return this.#runAlone(only)
    try {
      this.#tx.begin.run()
    } catch (err) {
      for (const op of batch) op.reject(sqliteError(op.method, err, this.#busyTimeout))
      return undefined
    }
    const results: unknown[] = new Array(batch.length)
    const failures: unknown[] = new Array(batch.length)
    const failed: boolean[] = new Array(batch.length).fill(false)
    const savepoints = batch.length > 1
    const step = (i: number): Promise<void> | undefined => {
      for (; i < batch.length; i++) {
        const op = batch[i] as Op
        const guarded = savepoints && op.write
        let result: MaybePromise<unknown>
        try {
          if (guarded) this.#tx.savepoint.run()
          result = op.fn(this.#q)
        } catch (err) {
          this.#undo(guarded)
          failures[i] = sqliteError(op.method, err, this.#busyTimeout)
          failed[i] = true
          continue
        }
        if (result instanceof Promise) {
          const at = i
          return result.then(
            (value) => {
              if (guarded) this.#tx.release.run()
              results[at] = value
              return step(at + 1)
            },
            (err: unknown) => {
              this.#undo(guarded)
              failures[at] = sqliteError(op.method, err, this.#busyTimeout)
              failed[at] = true
              return step(at + 1)
            },
          )
        }
        if (guarded) this.#tx.release.run()
        results[i] = result
      }
      this.#finish(batch, results, failures, failed)
      return undefined
    }
    return step(0)
  }

  #undo(guarded: boolean): void {
    if (!guarded) return
    this.#tx.rollbackTo.run()
    this.#tx.release.run()
  }

  #finish(batch: Op[], results: unknown[], failures: unknown[], failed: boolean[]): void {
    const allFailed = batch.length === 1 && failed[0] === true
    try {
      if (allFailed) this.#tx.rollback.run()
      else this.#tx.commit.run()
    } catch (err) {
      if (this.#db.inTransaction) this.#tx.rollback.run()
      for (let i = 0; i < batch.length; i++) {
        const op = batch[i] as Op
        op.reject(failed[i] === true ? failures[i] : sqliteError(op.method, err, this.#busyTimeout))
      }
      return
    }
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i] as Op
      if (failed[i] === true) {
        op.reject(failures[i])
        continue
      }
      op.onCommit?.(results[i])
      op.resolve(results[i])
    }
  }

  #runAlone(op: Op): Promise<void> | undefined {
    let result: MaybePromise<unknown>
    try {
      result = op.fn(this.#q)
    } catch (err) {
      op.reject(sqliteError(op.method, err, this.#busyTimeout))
      return undefined
    }
    if (!(result instanceof Promise)) {
      op.onCommit?.(result)
      op.resolve(result)
      return undefined
    }
    return result.then(
      (value) => {
        op.onCommit?.(value)
        op.resolve(value)
      },
      (err: unknown) => op.reject(sqliteError(op.method, err, this.#busyTimeout)),
    )
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
