import { accessSync, closeSync, constants, existsSync, openSync, readSync, statSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { StoreError, wrapError } from '../../errors.js'
import type { Backend, BackendQueries, MaybePromise, WriteOptions } from '../backend.js'
import { PK_INDEX, SqliteQueries } from './sqlite-queries.js'
import { SqliteRevisions, upgradeRevisions } from './sqlite-revisions.js'
import { repairCounts } from './sqlite-schema.js'

// better-sqlite3 is CommonJS: required rather than imported, so that Node does not
// scan its source for named exports (a few milliseconds of every start-up).
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3

/** Options the SQLite backend takes from the store's options. */
export interface SqliteBackendOptions {
  durability: 'full' | 'normal'
  busyTimeout: number
}

/** Runs a write's commit callback; one that throws is reported, and cannot strand the rest of a batch. */
function committedCallback<T>(method: string, onCommit: (result: T) => void, result: T): void {
  try {
    onCommit(result)
  } catch (err) {
    process.emitWarning(`${method}: a commit callback threw: ${err instanceof Error ? err.message : String(err)}`, {
      type: 'GroupstoreWarning',
    })
  }
}

const RESOLVED = Promise.resolve()

/** A write committed during its call, to be announced. */
interface Committed {
  method: string
  result: unknown
  onCommit: ((result: unknown) => void) | undefined
  resolve: (value: unknown) => void
}

interface Op {
  write: boolean
  single: boolean
  /** A transaction callback: never run twice, so always under a savepoint in a batch. */
  transaction: boolean
  /**
   * Run the careful way: under a savepoint (it failed after writing,
   * unguarded, in an earlier try of its batch), and never alone in
   * autocommit (it found the write lock taken).
   */
  careful: boolean
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
  revision INTEGER PRIMARY KEY,
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
 * Files up to this size are checked whole with `PRAGMA quick_check` when
 * opened (about 60 ms at this size); larger ones only for header, length,
 * schema and the ends of the kv table. See docs/reliability.md for the
 * measurements.
 */
export const QUICK_CHECK_MAX_BYTES = 32 * 1024 * 1024

/** How messages name the database: its path, or the in-memory database. */
function describeLocation(location: string): string {
  return location === ':memory:' ? 'the in-memory database' : `'${location}'`
}

/**
 * A driver error as a StoreError naming `method` and, for conditions of the
 * file (corrupt, full disk, read-only, I/O), the database; a lock wait past
 * the timeout is named as such. Anything else, such as an error thrown by a
 * transaction callback, passes through unchanged.
 */
function sqliteError(method: string, err: unknown, busyTimeout: number, location: string): unknown {
  if (!(err instanceof Database.SqliteError)) return err
  const code = err.code
  const where = describeLocation(location)
  let message: string | undefined
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    message = `the database is locked by another connection (waited busyTimeout ${busyTimeout} ms)`
  } else if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    message = `${where} is corrupt: ${err.message}`
  } else if (code === 'SQLITE_FULL') {
    message = `cannot write ${where}: the disk is full (${err.message})`
  } else if (code.startsWith('SQLITE_READONLY')) {
    message = `cannot write ${where}: it is read-only (${err.message})`
  } else if (code.startsWith('SQLITE_IOERR')) {
    message = `I/O error on ${where}: ${err.message} (${code})`
  } else if (code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM') {
    message = `cannot open ${where}: ${err.message}`
  }
  if (message === undefined) return wrapError(method, err)
  return new StoreError(`${method}: ${message}`, { cause: err })
}

/**
 * Checks a file location before SQLite touches it, so that the common
 * mistakes get a message that says what is wrong and nothing is created:
 * a directory, something that is not a regular file, a missing or
 * read-only folder, a read-only file.
 */
function checkLocation(method: string, location: string): number | undefined {
  const fail = (message: string, cause?: unknown): never => {
    throw new StoreError(`${method}: ${message}`, cause === undefined ? undefined : { cause })
  }
  const file = statOrUndefined(location)
  if (file?.isDirectory()) fail(`'${location}' is a directory, not a database file`)
  if (file !== undefined && !file.isFile()) fail(`'${location}' is not a regular file`)
  const folder = dirname(resolve(location))
  const parent = statOrUndefined(folder)
  if (parent === undefined) fail(`cannot create '${location}': its folder '${folder}' does not exist`)
  if (!(parent as Stats).isDirectory()) fail(`cannot create '${location}': '${folder}' is not a folder`)
  if (file !== undefined) checkHeader(method, location, file.size)
  if (file !== undefined && !writable(location)) {
    fail(`'${location}' is read-only: a store writes to its file (open a copy, or make it writable)`)
  }
  if (!writable(folder)) {
    fail(
      `the folder '${folder}' of '${location}' is read-only: SQLite writes its journal files ` +
        `('${basename(location)}-wal', '${basename(location)}-shm') beside the database`,
    )
  }
  return file?.size
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * Refuses a database file shorter than its header says, at the cost of one
 * 100-byte read. Skipped while a journal or WAL file sits beside it: another
 * connection may be extending the file, and SQLite then knows better. A
 * file without the SQLite header is left for SQLite to refuse.
 */
function checkHeader(method: string, location: string, size: number): void {
  if (size === 0) return // an empty file: SQLite makes a new database in it
  const header = Buffer.alloc(100)
  let read: number
  try {
    const fd = openSync(location, 'r')
    try {
      read = readSync(fd, header, 0, 100, 0)
    } finally {
      closeSync(fd)
    }
  } catch (err) {
    throw new StoreError(`${method}: cannot read '${location}': ${(err as Error).message}`, { cause: err })
  }
  if (read < MAGIC.length || !header.subarray(0, MAGIC.length).equals(MAGIC)) return
  if (read < 100) {
    throw new StoreError(`${method}: '${location}' is truncated: ${size} bytes, shorter than a database header`)
  }
  const rawPageSize = header.readUInt16BE(16)
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize
  const pages = header.readUInt32BE(28)
  const countValid = header.readUInt32BE(92) === header.readUInt32BE(24)
  if (!countValid || pages === 0 || size >= pages * pageSize) return
  if (existsSync(`${location}-wal`) || existsSync(`${location}-journal`)) return
  throw new StoreError(
    `${method}: '${location}' is truncated: its header counts ${pages} pages of ${pageSize} bytes ` +
      `(${pages * pageSize} bytes), the file holds ${size} bytes`,
  )
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw new StoreError(`Store.open: cannot read '${path}': ${(err as Error).message}`, { cause: err })
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** For how long after waiting for the write lock this connection yields it between batches. */
const CONTENTION_MEMORY_MS = 100

function isBusy(err: unknown): boolean {
  return err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED'))
}

/** A query issued after SQLite rolled the batch's transaction back; {@link SqliteBackend.error} names the method. */
class TransactionLost extends Error {}

/**
 * `q` for the operations of a batch transaction. SQLite rolls back the whole
 * transaction on some errors (a full disk, an I/O error); a transaction
 * callback that caught such an error and carried on would otherwise run its
 * next statements outside any transaction, committing half of itself.
 */
function inTransactionOnly(q: SqliteQueries, db: BetterSqlite3.Database, tally: WriteTally): BackendQueries {
  const guarded: Record<string, unknown> = {}
  const source = q as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const name of Object.getOwnPropertyNames(SqliteQueries.prototype)) {
    const method = source[name]
    if (name === 'constructor' || typeof method !== 'function') continue
    const reads = READS.has(name)
    guarded[name] = (...args: unknown[]): unknown => {
      if (!db.inTransaction) throw new TransactionLost()
      const result = method.apply(q, args)
      if (!reads) tally.writes++
      return result
    }
  }
  return guarded as unknown as BackendQueries
}

/**
 * Queries that never write. Any other counts as a write in a {@link WriteTally},
 * so that a query added later errs on the side of a savepoint.
 */
const READS: ReadonlySet<string> = new Set([
  'get', 'getEntry', 'getMany', 'revisionMark', 'rewindRevisions', 'count', 'countAll', 'groups', 'countGroups', 'groupExists', 'getAll', 'range', 'rangeEntries', 'readChanges', 'revisionRange',
])

/** Statements that wrote, completed in the batch transaction so far. */
interface WriteTally {
  writes: number
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
    if (err.code === 'SQLITE_FULL' || err.code.startsWith('SQLITE_READONLY') || err.code.startsWith('SQLITE_IOERR')) {
      return sqliteError('Store.open', err, busyTimeout, location) as StoreError
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
  /** The same queries for ops in a batch: they refuse to run once SQLite has rolled the batch back. */
  readonly #txq: BackendQueries
  readonly #tally: WriteTally = { writes: 0 }
  readonly #busyTimeout: number
  readonly #location: string
  readonly #tx: {
    begin: BetterSqlite3.Statement
    commit: BetterSqlite3.Statement
    rollback: BetterSqlite3.Statement
    savepoint: BetterSqlite3.Statement
    release: BetterSqlite3.Statement
    rollbackTo: BetterSqlite3.Statement
  }
  /** Until when to yield the lock between batches: a wait for it was seen shortly before. */
  #contendedUntil = 0
  #queue: Op[] = []
  #running = false
  /** A private in-memory database: no other connection, nothing to fsync. */
  readonly #memory: boolean
  /**
   * Writes committed during their call (see {@link SqliteBackend.write}) whose
   * commit callbacks and promises wait for the next microtask; undefined when none.
   */
  #announcing: Committed[] | undefined
  #flushing: Promise<void> | undefined
  #closed = false
  /** Set once an operation met a damaged page: every later write is refused. */
  #corrupt: string | undefined

  readonly #dataVersion: BetterSqlite3.Statement
  readonly #wakers = new Set<() => void>()
  #poller: NodeJS.Timeout | undefined

  private constructor(db: BetterSqlite3.Database, busyTimeout: number, location: string) {
    this.#db = db
    this.#memory = location === ':memory:'
    this.changeLog = !this.#memory
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck()
    this.#busyTimeout = busyTimeout
    this.#location = location
    this.#q = new SqliteQueries(db, new SqliteRevisions(db, this.#memory))
    this.#txq = inTransactionOnly(this.#q, db, this.#tally)
    this.#tx = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT op'),
      release: db.prepare('RELEASE op'),
      rollbackTo: db.prepare('ROLLBACK TO op'),
    }
    // SQLite's own wait for a lock stays off: `BEGIN` waits on timers
    // instead (see #begin), and the rare operation outside a batch that
    // finds the database busy asks for the wait then (see #outside). Not a
    // prepared statement: SQLite applies this pragma when it is prepared, and
    // a prepared one's first run changes nothing.
    if (!this.#memory) db.pragma('busy_timeout = 0')
  }

  /** The underlying connection, for tests and tools inside the package. */
  get database(): BetterSqlite3.Database {
    return this.#db
  }

  /**
   * Opens (creating if missing) a database file or `':memory:'`, checks that
   * it is a database, upgrades a pre-TTL go-store schema and applies the
   * durability and lock settings. A location that is not a database (a
   * directory, a foreign or corrupt file, a read-only file or folder) is
   * refused with a StoreError naming it and left untouched: nothing is
   * written before the checks.
   *
   * A file of at most {@link QUICK_CHECK_MAX_BYTES} is checked whole with
   * `PRAGMA quick_check` (about 2 ms per MB); a larger one only for its
   * header, length, schema and the ends of the kv table, so that opening
   * stays fast (a 170 MB file would take 0.4 s). Damage found later is
   * reported by the operation that meets it, and from then on the store
   * refuses every write, so a damaged file is not written to.
   */
  static open(location: string, options: SqliteBackendOptions): SqliteBackend {
    const method = 'Store.open'
    const memory = location === ':memory:'
    const size = memory ? undefined : checkLocation(method, location)
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
      if (size !== undefined && size > 0 && size <= QUICK_CHECK_MAX_BYTES) SqliteBackend.#quickCheck(db, location)
      // Schema changes before the switch to WAL: on a file still in
      // rollback-journal mode a failed change is rolled back from the journal.
      SqliteBackend.#migrate(db, columns)
      upgradeRevisions(db, memory)
      if (!memory) db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`)
      return new SqliteBackend(db, options.busyTimeout, location)
    } catch (err) {
      db.close()
      throw openError(location, err, options.busyTimeout)
    }
  }

  /** Reads every page of the file (`PRAGMA quick_check`): refuses a damaged one. */
  static #quickCheck(db: BetterSqlite3.Database, location: string): void {
    let verdict: unknown
    try {
      verdict = db.pragma('quick_check(1)', { simple: true })
    } catch (err) {
      const code = err instanceof Database.SqliteError ? err.code : ''
      if (!code.startsWith('SQLITE_CORRUPT') && code !== 'SQLITE_NOTADB') throw err
      verdict = (err as Error).message
    }
    if (verdict === 'ok') return
    const found = String(verdict).replace('*** in database main ***', '').trim().replace(/\s*\n\s*/g, '; ')
    throw new StoreError(`Store.open: '${location}' is corrupt: quick_check found: ${found}`)
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
    return !this.#running && this.#queue.length === 0 && this.#announcing === undefined
  }

  read<T>(method: string, fn: (q: BackendQueries) => MaybePromise<T>): Promise<T> {
    if (this.#idle()) {
      try {
        return Promise.resolve(this.#outside(fn))
      } catch (err) {
        return Promise.reject(this.error(method, err))
      }
    }
    return this.#enqueue(false, false, false, method, fn, undefined)
  }

  write<T>(
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit?: (result: T) => void,
    options?: WriteOptions,
  ): Promise<T> {
    // On a private in-memory database there is no fsync to share, so a write
    // finding nothing queued runs now: one statement as it is, several in a
    // transaction of their own. Its callback and promise wait for one
    // microtask shared by every write committed in the same turn, in order;
    // until then reads and queued writes wait behind it, so that callbacks
    // still run in commit order before anything later is answered. When the
    // callback runs none of the caller's code (`inline`), it runs at once.
    if (
      this.#memory &&
      options?.transaction !== true &&
      !this.#running &&
      this.#queue.length === 0 &&
      !this.#closed &&
      this.#corrupt === undefined
    ) {
      const alone = options?.single === true || options?.oneWrite === true
      return this.#runNow(method, fn, onCommit, alone, options?.inline === true)
    }
    return this.#enqueue(true, options?.single === true, options?.transaction === true, method, fn, onCommit)
  }

  #runNow<T>(
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit: ((result: T) => void) | undefined,
    /** Atomic without a transaction: one statement that writes, last (see WriteOptions). */
    single: boolean,
    inline: boolean,
  ): Promise<T> {
    let result: MaybePromise<T>
    try {
      if (single) {
        this.#q.writing = true
        result = fn(this.#q)
      } else {
        this.#tx.begin.run()
        result = fn(this.#txq)
      }
    } catch (err) {
      if (!single) this.#rollback()
      return Promise.reject(this.error(method, err))
    } finally {
      this.#q.writing = false
    }
    if (result instanceof Promise) return this.#finishLater(method, result, onCommit, single)
    if (!single) {
      try {
        this.#tx.commit.run()
      } catch (err) {
        this.#rollback()
        return Promise.reject(this.error(method, err))
      }
    }
    if (inline && this.#announcing === undefined) {
      if (onCommit !== undefined) committedCallback(method, onCommit, result)
      return Promise.resolve(result)
    }
    return new Promise<T>((resolve) => {
      const committed: Committed = {
        method,
        result,
        onCommit: onCommit as ((result: unknown) => void) | undefined,
        resolve: resolve as (value: unknown) => void,
      }
      if (this.#announcing !== undefined) {
        this.#announcing.push(committed)
        return
      }
      this.#announcing = [committed]
      void RESOLVED.then(this.#announce)
    })
  }

  /**
   * A write run by {@link SqliteBackend.#runNow} whose function answered a
   * promise (this package's own writes never do: SQLite answers at once).
   * Everything else queues until it has settled, as behind a batch.
   */
  #finishLater<T>(method: string, pending: Promise<T>, onCommit: ((result: T) => void) | undefined, single: boolean): Promise<T> {
    this.#running = true
    const done = pending
      .then((value) => {
        if (!single) this.#tx.commit.run()
        if (onCommit !== undefined) committedCallback(method, onCommit, value)
        return value
      })
      .catch((err: unknown) => {
        if (!single) this.#rollback()
        throw this.error(method, err)
      })
    this.#flushing = done.then(
      () => {},
      () => {},
    ).then(() => {
      this.#running = false
      this.#flushing = undefined
      if (this.#queue.length > 0) this.#kick()
    })
    return done
  }

  /** Runs the callbacks of the writes committed during their call and resolves them, in order. */
  readonly #announce = (): void => {
    const list = this.#announcing as Committed[]
    this.#announcing = undefined
    for (const c of list) this.#settle(c, c.result)
  }

  #enqueue<T>(
    write: boolean,
    single: boolean,
    transaction: boolean,
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit: ((result: T) => void) | undefined,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError(`${method}: the database is closed`))
    if (write && this.#corrupt !== undefined) {
      return Promise.reject(
        new StoreError(
          `${method}: ${describeLocation(this.#location)} is corrupt (${this.#corrupt}); ` +
            'writes are refused so that the file stays as it is',
        ),
      )
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        write,
        single,
        transaction,
        careful: false,
        method,
        fn,
        onCommit: onCommit as ((result: unknown) => void) | undefined,
        resolve: resolve as (value: unknown) => void,
        reject,
      })
      if (this.#flushing === undefined) this.#kick()
    })
  }

  /** Starts running the queue in a microtask. */
  #kick(): void {
    // A promise reaction, not queueMicrotask: that makes an async resource each call.
    this.#flushing = RESOLVED.then(this.#flush)
  }

  readonly #flush = async (): Promise<void> => {
    this.#running = true
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue
        this.#queue = []
        try {
          const pending = this.#runBatch(batch)
          if (pending !== undefined) await pending
        } catch (err) {
          // Not expected: every step handles its own failures. Never leave a
          // caller waiting or a transaction open.
          this.#rollback()
          for (const op of batch) op.reject(this.error(op.method, err))
        }
      }
    } finally {
      this.#running = false
      this.#flushing = undefined
    }
  }

  /** Puts operations back at the head of the queue, in order, to run in the next batch. */
  #requeue(ops: Op[]): void {
    if (ops.length > 0) this.#queue = [...ops, ...this.#queue]
  }

  /** Rolls back the open transaction, if any; a failure to do so leaves SQLite to undo it. */
  #rollback(): void {
    if (!this.#db.inTransaction) return
    try {
      this.#tx.rollback.run()
    } catch {
      // SQLite rolls back a transaction it cannot continue by itself.
    }
  }

  /** Runs one batch; answers a promise only when some operation was asynchronous. */
  #runBatch(batch: Op[]): Promise<void> | undefined {
    const only = batch.length === 1 ? batch[0] : undefined
    if (only !== undefined && (!only.write || (only.single && !only.careful))) return this.#runAlone(only)
    if (!batch.some((op) => op.write)) return this.#runEach(batch)
    const begun = this.#begin()
    if (begun instanceof Promise) return begun.then((err) => this.#runBegun(batch, err))
    return this.#runBegun(batch, begun)
  }

  /**
   * `BEGIN IMMEDIATE`. Another connection's write lock is waited for here,
   * in sleeps of 1 to 4 ms, rather than in SQLite's busy handler, which
   * blocks the event loop for the whole wait and, sleeping up to 100 ms
   * between tries, can lose the lock again and again to writers that take it
   * back at once (seen: one writer among four waiting past 5 s). Answers
   * undefined once begun, else the error that ended the wait.
   */
  #begin(): MaybePromise<unknown> {
    const attempt = (): unknown => {
      try {
        this.#tx.begin.run()
        return undefined
      } catch (err) {
        return err
      }
    }
    if (this.#memory) return attempt() // a private database: nobody to wait for
    const deadline = Date.now() + this.#busyTimeout
    const wait = (resolve: (err: unknown) => void): void => {
      const err = attempt()
      if (!isBusy(err) || Date.now() >= deadline) {
        resolve(err)
        return
      }
      this.#contendedUntil = Date.now() + CONTENTION_MEMORY_MS
      setTimeout(() => wait(resolve), 1 + Math.random() * 3)
    }
    // This connection had to wait for the lock a moment ago, so others want
    // it too: leave it free for a millisecond between batches, or a writer
    // that has just committed takes it back before any waiter can.
    if (Date.now() < this.#contendedUntil) return new Promise((resolve) => setTimeout(() => wait(resolve), 1))
    const first = attempt()
    if (!isBusy(first) || this.#busyTimeout === 0) return first
    this.#contendedUntil = Date.now() + CONTENTION_MEMORY_MS
    return new Promise((resolve) => setTimeout(() => wait(resolve), 1 + Math.random() * 3))
  }

  /** Runs a batch once `BEGIN` has answered: `err` when it failed. */
  #runBegun(batch: Op[], err: unknown): Promise<void> | undefined {
    if (err !== undefined) {
      // No write lock (another process held it past busyTimeout): the writes
      // fail, the reads need no lock and run on their own.
      const reads: Op[] = []
      for (const op of batch) {
        if (op.write) op.reject(this.error(op.method, err))
        else reads.push(op)
      }
      this.#requeue(reads)
      return undefined
    }
    const results: unknown[] = new Array(batch.length)
    const failures: unknown[] = new Array(batch.length)
    const failed: boolean[] = new Array(batch.length).fill(false)
    // A write runs under a savepoint only where its failure could leave half
    // of it behind that cannot be undone otherwise: a transaction callback,
    // which runs the caller's code and never runs twice (then every write of
    // the batch does, as none may run again), or a write that failed after
    // writing in an earlier try. Any other write that fails after it wrote
    // makes the batch roll back and run again, that write under a savepoint:
    // writes other than transactions may run twice (see WriteOptions). One
    // that fails before writing (a quota) has nothing to undo.
    const shared = batch.length > 1
    const guardAll = shared && batch.some((op) => op.transaction)
    /** Records that op `i` failed; false when the batch stops there (rolled back, requeued). */
    const fail = (i: number, guarded: boolean, writesBefore: number, err: unknown): boolean => {
      if (this.#db.inTransaction && shared && !guarded && this.#tally.writes > writesBefore) {
        this.#rollback()
        ;(batch[i] as Op).careful = true
        this.#requeue(batch)
        return false
      }
      failures[i] = this.error((batch[i] as Op).method, err)
      failed[i] = true
      if (this.#db.inTransaction) {
        try {
          if (guarded) {
            this.#tx.rollbackTo.run()
            this.#tx.release.run()
          }
          return true
        } catch {
          this.#rollback()
        }
      }
      this.#abandon(batch, i, failures, failed, err)
      return false
    }
    const step = (i: number): Promise<void> | undefined => {
      for (; i < batch.length; i++) {
        const op = batch[i] as Op
        const guarded = shared && op.write && (guardAll || op.careful)
        const before = this.#tally.writes
        let result: MaybePromise<unknown>
        try {
          if (guarded) this.#tx.savepoint.run()
          result = op.fn(this.#txq)
        } catch (err) {
          if (!fail(i, guarded, before, err)) return undefined
          continue
        }
        if (result instanceof Promise) {
          const at = i
          return result.then(
            (value) => {
              try {
                if (guarded) this.#tx.release.run()
              } catch (err) {
                return fail(at, guarded, before, err) ? step(at + 1) : undefined
              }
              results[at] = value
              return step(at + 1)
            },
            (err: unknown) => (fail(at, guarded, before, err) ? step(at + 1) : undefined),
          )
        }
        try {
          if (guarded) this.#tx.release.run()
        } catch (err) {
          if (!fail(i, guarded, before, err)) return undefined
          continue
        }
        results[i] = result
      }
      this.#finish(batch, results, failures, failed)
      return undefined
    }
    return step(0)
  }

  /**
   * The transaction of a batch was lost at op `at` (SQLite rolls back the
   * whole transaction on some errors, such as a full disk): the writes before
   * it are undone and fail with that error; reads before it, and every op
   * after it, run again in the next batch, which sees the state without them.
   */
  #abandon(batch: Op[], at: number, failures: unknown[], failed: boolean[], err: unknown): void {
    this.#rollback()
    const again: Op[] = []
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i] as Op
      if (i === at) op.reject(failures[i])
      else if (i > at || !op.write) again.push(op)
      else op.reject(failed[i] === true ? failures[i] : this.error(op.method, err))
    }
    this.#requeue(again)
  }

  #finish(batch: Op[], results: unknown[], failures: unknown[], failed: boolean[]): void {
    const allFailed = batch.length === 1 && failed[0] === true
    try {
      if (allFailed) this.#tx.rollback.run()
      else this.#tx.commit.run()
    } catch (err) {
      // Nothing of the batch was committed: the writes fail; the reads may have
      // seen those writes, so they run again in the next batch.
      this.#rollback()
      const reads: Op[] = []
      for (let i = 0; i < batch.length; i++) {
        const op = batch[i] as Op
        if (!op.write) reads.push(op)
        else op.reject(failed[i] === true ? failures[i] : this.error(op.method, err))
      }
      this.#requeue(reads)
      return
    }
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i] as Op
      if (failed[i] === true) op.reject(failures[i])
      else this.#settle(op, results[i])
    }
  }

  /** Runs committed-work callbacks and resolves; a throwing callback cannot strand the rest of the batch. */
  #settle(op: Op | Committed, result: unknown): void {
    if (op.onCommit !== undefined) committedCallback(op.method, op.onCommit, result)
    op.resolve(result)
  }

  /** Runs operations one after another, each on its own (a batch of reads). */
  #runEach(ops: Op[]): Promise<void> | undefined {
    for (let i = 0; i < ops.length; i++) {
      const pending = this.#runAlone(ops[i] as Op)
      if (pending !== undefined) return pending.then(() => this.#runEach(ops.slice(i + 1)))
    }
    return undefined
  }

  #runAlone(op: Op): Promise<void> | undefined {
    let result: MaybePromise<unknown>
    try {
      result = op.write ? op.fn(this.#q) : this.#outside(op.fn)
    } catch (err) {
      if (op.write && isBusy(err) && !this.#memory) {
        // Another connection holds the write lock: wait for it as a batch
        // does, on timers, rather than in SQLite's busy handler.
        op.careful = true
        this.#requeue([op])
        return undefined
      }
      op.reject(this.error(op.method, err))
      return undefined
    }
    if (!(result instanceof Promise)) {
      this.#settle(op, result)
      return undefined
    }
    return result.then(
      (value) => this.#settle(op, value),
      (err: unknown) => op.reject(this.error(op.method, err)),
    )
  }

  /**
   * Runs `fn` (a read, outside any batch) with SQLite's lock wait off, as
   * it always is; should the database be busy (another connection
   * recovering or checkpointing the WAL, which readers must wait for), runs
   * it again with SQLite waiting up to `busyTimeout`.
   */
  #outside<T>(fn: (q: SqliteQueries) => T): T {
    try {
      return fn(this.#q)
    } catch (err) {
      if (!isBusy(err) || this.#memory || this.#db.inTransaction) throw err
      this.#db.pragma(`busy_timeout = ${this.#busyTimeout}`)
      try {
        return fn(this.#q)
      } finally {
        this.#db.pragma('busy_timeout = 0')
      }
    }
  }

  error(method: string, err: unknown): unknown {
    if (err instanceof TransactionLost) {
      return new StoreError(`${method}: the transaction was rolled back by SQLite after an earlier error; nothing of it was committed`)
    }
    if (err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB')) {
      this.#corrupt ??= err.message
    }
    return sqliteError(method, err, this.#busyTimeout, this.#location)
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
        let version: unknown
        try {
          version = this.#outside(() => this.#dataVersion.get()) // rare: every 50 ms while watched
        } catch {
          return // the next tick looks again
        }
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
