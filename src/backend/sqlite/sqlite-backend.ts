import { resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { StoreError } from '../../errors.js'
import { overlaps } from '../backend.js'
import type { Backend, Footprint, MaybePromise, Write, WriteOptions } from '../backend.js'
import type { ReadQueries } from '../queries.js'
import { WriteQueue } from '../write-queue.js'
import { BatchRunner } from './sqlite-batch.js'
import { GROUP_MAX_OPS } from './sqlite-batch-try.js'
import { Checkpoints } from './sqlite-checkpoint.js'
import type { Op } from './sqlite-batch.js'
import { describeLocation, isCorrupt, sqliteError } from './sqlite-errors.js'
import { openDatabase } from './sqlite-file.js'
import type { SqliteFileOptions } from './sqlite-file.js'
import { ChangeListener } from './sqlite-listener.js'
import { SqliteQueries } from './sqlite-queries.js'
import { SqliteRevisions } from './sqlite-revisions.js'
import { WalLimit } from './sqlite-wal.js'

/** Options the SQLite backend takes from the store's options. */
export type SqliteBackendOptions = SqliteFileOptions

const RESOLVED = Promise.resolve()

/**
 * The resolving functions of the promise {@link capture} saw last. A queued
 * op takes them from here, so that making its promise allocates no closure
 * (under a burst, every queued write's garbage counts).
 */
const captured: { resolve: (value: never) => void; reject: (reason: unknown) => void } = { resolve: () => {}, reject: () => {} }

/** A promise's executor that keeps its resolving functions in {@link captured}. */
function capture(resolve: (value: never) => void, reject: (reason: unknown) => void): void {
  captured.resolve = resolve
  captured.reject = reject
}

/** A write committed during its call, to be announced. */
interface Committed {
  readonly job: Write<unknown>
  readonly result: unknown
  readonly resolve: (value: unknown) => void
}

/**
 * Embedded SQLite through better-sqlite3, on one connection.
 *
 * Reads run at once when nothing is queued. Writes are queued and run in
 * batches (see `sqlite-batch.ts`): every write issued while a batch is
 * being prepared or committed joins the next one, which is one transaction
 * with one commit (one fsync with `durability: 'full'`): group commit. A
 * write that throws is rolled back alone.
 */
export class SqliteBackend implements Backend {
  readonly name = 'sqlite'
  readonly changeLog: boolean
  readonly #db: BetterSqlite3.Database
  readonly #q: SqliteQueries
  /** The same queries for ops in a transaction: they refuse to run once SQLite has rolled it back. */
  readonly #txq: SqliteQueries
  readonly #busyTimeout: number
  readonly #location: string
  readonly #runner: BatchRunner
  readonly #queue = new WriteQueue<Op>(() => this.#runNext())
  /** A private in-memory database: no other connection, nothing to fsync. */
  readonly #memory: boolean
  /**
   * Every write also takes its revision from the file's counter (and, with
   * the log, appends to it): none is one statement.
   */
  readonly #logged: boolean
  /**
   * Writes committed during their call (see {@link SqliteBackend.write}) whose
   * commit callbacks and promises wait for the next microtask; undefined when none.
   */
  #announcing: Committed[] | undefined
  /** Set once an operation met a damaged page: every later write is refused. */
  #corrupt: string | undefined
  readonly #listener: ChangeListener
  /** A file's WAL guard (see `sqlite-wal.ts`); undefined in memory. */
  readonly #wal: WalLimit | undefined
  /** A batch taken from the queue has not finished (it waits for the write lock, or for a transaction callback). */
  #batchPending = false
  /** A file's checkpoints, run off the event loop (see `sqlite-checkpoint.ts`); undefined in memory. */
  readonly #checkpoints: Checkpoints | undefined

  private constructor(db: BetterSqlite3.Database, options: SqliteBackendOptions, location: string) {
    const busyTimeout = options.busyTimeout
    this.#db = db
    this.#memory = location === ':memory:'
    this.changeLog = !this.#memory
    this.#logged = this.changeLog
    this.#busyTimeout = busyTimeout
    this.#location = location
    this.#checkpoints = this.#memory ? undefined : new Checkpoints(resolve(location), options.durability)
    this.#wal = this.#memory ? undefined : new WalLimit(db, location, () => this.#checkpoints?.running === true)
    const revisions = new SqliteRevisions(db, this.#memory)
    this.#q = new SqliteQueries(db, revisions)
    this.#txq = new SqliteQueries(db, revisions, true)
    this.#runner = new BatchRunner(
      db,
      this.#q,
      this.#txq,
      {
        error: (method, err) => this.error(method, err),
        requeue: (ops) => this.#queue.requeue(ops),
        settle: (op, result) => this.#queue.settle(op.job, result, op.resolve),
      },
      this.#memory,
      busyTimeout,
    )
    const dataVersion = db.prepare('PRAGMA data_version').pluck()
    this.#listener = new ChangeListener({
      dataVersion: () => this.#runner.outside(() => dataVersion.get()),
      busy: () => this.#queue.busy,
    })
    // SQLite's own wait for a lock stays off: `BEGIN` waits on timers
    // instead (see BatchRunner), and the rare operation outside a batch that
    // finds the database busy asks for the wait then (BatchRunner.outside).
    // Not a prepared statement: SQLite applies this pragma when it is
    // prepared, and a prepared one's first run changes nothing.
    if (!this.#memory) db.pragma('busy_timeout = 0')
  }

  /** The underlying connection, for tests and tools inside the package. */
  get database(): BetterSqlite3.Database {
    return this.#db
  }

  /**
   * Opens a database file or `':memory:'` (see `openDatabase` in
   * `sqlite-file.ts` for the checks). Damage found later is reported by the
   * operation that meets it, and from then on the store refuses every
   * write, so a damaged file is not written to.
   */
  static open(location: string, options: SqliteBackendOptions): SqliteBackend {
    return new SqliteBackend(openDatabase(location, options), options, location)
  }

  #idle(): boolean {
    return !this.#queue.busy && this.#queue.length === 0 && this.#announcing === undefined
  }

  /**
   * Runs a read at once when nothing is queued, or when its footprint
   * overlaps no write queued or running: between two commit groups of a
   * burst of writes, a read of other rows is answered from the committed
   * state, which those writes cannot change, instead of waiting for all of
   * them. Otherwise it queues behind the writes issued before it.
   */
  read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>, footprint?: Footprint): Promise<T> {
    if (this.#idle() || (footprint !== undefined && this.#clearOf(footprint))) {
      try {
        return Promise.resolve(this.#runner.outside(fn))
      } catch (err) {
        return Promise.reject(this.error(method, err))
      }
    }
    // Queued behind the writes issued before it, as a job that commits nothing.
    return this.#enqueue(false, false, false, { method, footprint: undefined, run: fn })
  }

  /**
   * Lets the reads of the rest of this event-loop turn share one snapshot
   * of the file when nothing is queued (see `BatchRunner.shareReads`).
   */
  shareReadsThisTurn(): void {
    if (this.#idle() && !this.#queue.closed && this.#corrupt === undefined) this.#runner.shareReads()
  }

  /** True when no transaction is open, no commit waits to be announced, and no queued write overlaps `footprint`. */
  #clearOf(footprint: Footprint): boolean {
    if (this.#batchPending || (this.#db.inTransaction && !this.#runner.sharingReads) || this.#announcing !== undefined) return false
    return !this.#queue.some((op) => op.write && overlaps(op.job.footprint, footprint))
  }

  /**
   * How a write runs follows from its kind and from whether it is a file's
   * (`#logged`: then every write takes its revision from the file's counter,
   * and may append to the log, so it is two statements or more):
   * - a point write in memory is one statement: alone in a queue batch, it
   *   runs in autocommit, without BEGIN;
   * - a checked write in memory reads, then runs one statement that
   *   writes, last: atomic without BEGIN where no other connection can write
   *   between them (a private in-memory database);
   * - anything else runs inside BEGIN … COMMIT.
   * A write run without BEGIN that issues a second statement that writes is
   * refused at that statement (`NotAtomic`), so that a wrong kind shows in
   * tests rather than as a half-applied write.
   */
  write<T>(write: Write<T>, options?: WriteOptions): Promise<T> {
    const kind = options?.kind ?? 'multi'
    // On a private in-memory database there is no fsync to share, so a write
    // finding nothing queued runs now: one statement as it is, several in a
    // transaction of their own. Its callback and promise wait for one
    // microtask shared by every write committed in the same turn, in order;
    // until then reads and queued writes wait behind it, so that callbacks
    // still run in commit order before anything later is answered. When the
    // callback runs none of the caller's code (`inline`), it runs at once.
    if (
      this.#memory &&
      kind !== 'transaction' &&
      !this.#queue.busy &&
      this.#queue.length === 0 &&
      !this.#queue.closed &&
      this.#corrupt === undefined
    ) {
      const alone = (kind === 'point' || kind === 'checked') && !this.#logged
      return this.#runNow(write, alone, options?.inline === true)
    }
    const single = kind === 'point' && !this.#logged
    return this.#enqueue(true, single, kind === 'transaction', write)
  }

  #runNow<T>(
    write: Write<T>,
    /** Atomic without a transaction: one statement that writes, last (see write). */
    single: boolean,
    inline: boolean,
  ): Promise<T> {
    const tx = this.#runner.tx
    let result: MaybePromise<T>
    try {
      if (single) {
        this.#q.alone = true
        this.#q.writes = 0
        result = write.run(this.#q)
      } else {
        tx.begin.run()
        result = write.run(this.#txq)
      }
    } catch (err) {
      if (!single) this.#runner.rollback()
      return Promise.reject(this.error(write.method, err))
    } finally {
      this.#q.alone = false
    }
    if (result instanceof Promise) return this.#finishLater(write, result, single)
    if (!single) {
      try {
        tx.commit.run()
      } catch (err) {
        this.#runner.rollback()
        return Promise.reject(this.error(write.method, err))
      }
    }
    if (inline && this.#announcing === undefined) {
      this.#queue.runCallback(write, result)
      return Promise.resolve(result)
    }
    const promise = new Promise<T>(capture)
    const committed: Committed = { job: write as Write<unknown>, result, resolve: captured.resolve as (value: unknown) => void }
    if (this.#announcing !== undefined) {
      this.#announcing.push(committed)
    } else {
      this.#announcing = [committed]
      void RESOLVED.then(this.#announce)
    }
    return promise
  }

  /**
   * A write run by {@link SqliteBackend.#runNow} whose function answered a
   * promise (this package's own writes never do: SQLite answers at once).
   * Everything else queues until it has settled, as behind a batch.
   */
  #finishLater<T>(write: Write<T>, pending: Promise<T>, single: boolean): Promise<T> {
    const done = pending
      .then((value) => {
        if (!single) this.#runner.tx.commit.run()
        this.#queue.runCallback(write, value)
        return value
      })
      .catch((err: unknown) => {
        if (!single) this.#runner.rollback()
        throw this.error(write.method, err)
      })
    this.#queue.hold(done)
    return done
  }

  /** Runs the callbacks of the writes committed during their call and resolves them, in order. */
  readonly #announce = (): void => {
    const list = this.#announcing as Committed[]
    this.#announcing = undefined
    for (const c of list) this.#queue.settle(c.job, c.result, c.resolve)
  }

  #enqueue<T>(write: boolean, single: boolean, transaction: boolean, job: Write<T>): Promise<T> {
    const method = job.method
    const refused = this.#queue.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    if (write && this.#corrupt !== undefined) {
      return Promise.reject(
        new StoreError(
          `${method}: ${describeLocation(this.#location)} is corrupt (${this.#corrupt}); ` +
            'writes are refused so that the file stays as it is',
          undefined,
          'ERR_STORE_CORRUPT',
        ),
      )
    }
    const promise = new Promise<T>(capture)
    this.#queue.push({
      job: job as Write<unknown>,
      write,
      single,
      transaction,
      careful: false,
      resolve: captured.resolve as (value: unknown) => void,
      reject: captured.reject,
    })
    return promise
  }

  /**
   * The queue's step: what waits runs as one batch (at most
   * `GROUP_MAX_OPS`, in commit groups capped by time: see
   * `sqlite-batch-try.ts`), unless the WAL must be truncated first (writes
   * issued meanwhile join the batch).
   */
  #runNext(): Promise<void> | undefined {
    // Queued work sees what was committed before it, and the WAL guard needs no transaction open.
    this.#runner.endSharedReads()
    const held = this.#wal?.beforeWrite()
    if (held !== undefined) return held
    const batch = this.#queue.take(GROUP_MAX_OPS)
    const failed = (err: unknown): void => {
      // Not expected: every step handles its own failures. Never leave a
      // caller waiting or a transaction open.
      this.#runner.rollback()
      for (const op of batch) op.reject(this.error(op.job.method, err))
    }
    let wrote = 0
    if (this.#checkpoints !== undefined) for (const op of batch) if (op.write) wrote++
    try {
      const pending = this.#runner.run(batch)
      if (pending === undefined) {
        if (wrote > 0) this.#checkpoints?.afterWrite(wrote)
        return undefined
      }
      this.#batchPending = true
      return pending
        .then(() => {
          if (wrote > 0) this.#checkpoints?.afterWrite(wrote)
        }, failed)
        .finally(() => {
          this.#batchPending = false
        })
    } catch (err) {
      failed(err)
      return undefined
    }
  }

  error(method: string, err: unknown): unknown {
    if (isCorrupt(err)) this.#corrupt ??= (err as Error).message
    return sqliteError(method, err, this.#busyTimeout, this.#location)
  }

  /** Calls `wake` soon after another connection commits (see `sqlite-listener.ts`). */
  subscribe(wake: () => void): () => void {
    if (!this.changeLog || this.#queue.closed) return () => {}
    return this.#listener.subscribe(wake)
  }

  async close(): Promise<void> {
    if (this.#queue.closed) return
    const drained = this.#queue.close()
    this.#listener.close()
    await drained
    this.#runner.endSharedReads()
    this.#db.close()
    await this.#checkpoints?.close()
  }
}
