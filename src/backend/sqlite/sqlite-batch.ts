/**
 * How the SQLite backend runs what its queue holds: a batch of writes in
 * one `BEGIN IMMEDIATE … COMMIT` (group commit), a lone point write or a
 * read on its own, and the wait for another connection's write lock.
 *
 * The rules, each enforced where it is stated below:
 * - **Savepoints** (`BatchTry.guarded`, in sqlite-batch-try.ts): a write of a batch runs under
 *   a savepoint only where its failure could leave half of it behind that
 *   cannot be undone otherwise: in a batch holding a transaction callback
 *   (which runs the caller's code and never runs twice, so no write of that
 *   batch may run again: every one gets a savepoint), or a write marked
 *   careful because it failed after writing in an earlier try.
 * - **Reruns** (`BatchTry.fail`): any other write that fails after it
 *   wrote rolls the batch back, and the whole batch runs again, that write
 *   under a savepoint (writes other than transaction callbacks may run
 *   twice). One that fails before writing (a quota) has nothing to undo and
 *   fails alone.
 * - **Lost transactions** (`BatchTry.abandon`): when SQLite rolls the
 *   whole transaction back by itself (a full disk, an I/O error), the writes
 *   run so far fail with that error, and the reads run so far and every op
 *   after the failure run again in the next batch.
 * - **Commit failures** (`BatchTry.finish`): nothing was committed;
 *   the writes fail, the reads (which may have seen them) run again.
 * - **Commit groups are capped** (`GROUP_BUDGET_MS`): better-sqlite3
 *   runs on the event loop, so a batch of 10,000 writes would hold it for
 *   some 80 ms. Once the ops of a try have run for that long, it commits
 *   what ran and puts the rest back at the head of the queue, which yields
 *   to the event loop (timers, I/O, other requests) before the next group.
 *   A batch takes at most `GROUP_MAX_OPS` from the queue, so that what a
 *   group allocates and puts back follows the group's size, not the queue's.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'
import type { MaybePromise, Write } from '../backend.js'
import { BatchTry } from './sqlite-batch-try.js'
import { isBusy } from './sqlite-errors.js'
import type { SqliteQueries } from './sqlite-queries.js'

/** An operation waiting in the SQLite backend's queue. */
export interface Op {
  /** The work, its method and footprint; a read is queued as a job that commits nothing. */
  readonly job: Write<unknown>
  readonly write: boolean
  /** A write of one statement (see SqliteBackend.write): atomic alone, without BEGIN. */
  readonly single: boolean
  /** A transaction callback: never run twice, so always under a savepoint in a batch. */
  readonly transaction: boolean
  /**
   * Run the careful way: under a savepoint (it failed after writing,
   * unguarded, in an earlier try of its batch), and never alone in
   * autocommit (it found the write lock taken).
   */
  careful: boolean
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
}

/** What the runner needs from its backend. */
export interface BatchHost {
  /** The error to reject `method` with for `err`. */
  error(method: string, err: unknown): unknown
  /** Puts ops back at the head of the queue, to run in the next batch. */
  requeue(ops: Op[]): void
  /** Announces a committed op (the write queue's commit-callback policy). */
  settle(op: Op, result: unknown): void
}

/** For how long after waiting for the write lock this connection yields it between batches. */
const CONTENTION_MEMORY_MS = 100

/** Runs batches, lone writes and reads on one connection. */
export class BatchRunner {
  readonly #db: BetterSqlite3.Database
  /** Queries for a write or read that runs on its own. */
  readonly #q: SqliteQueries
  /** Queries for the ops of a batch: they refuse to run once SQLite has rolled the batch back. */
  readonly txq: SqliteQueries
  readonly #host: BatchHost
  readonly #memory: boolean
  readonly #busyTimeout: number
  readonly tx: {
    begin: BetterSqlite3.Statement
    commit: BetterSqlite3.Statement
    rollback: BetterSqlite3.Statement
    savepoint: BetterSqlite3.Statement
    release: BetterSqlite3.Statement
    rollbackTo: BetterSqlite3.Statement
  }
  /** Until when to yield the lock between batches: a wait for it was seen shortly before. */
  #contendedUntil = 0
  /** A read transaction that the reads of this event-loop turn share is open (see {@link shareReads}). */
  #sharing = false
  readonly #beginRead: BetterSqlite3.Statement
  readonly #endRead: BetterSqlite3.Statement

  constructor(db: BetterSqlite3.Database, q: SqliteQueries, txq: SqliteQueries, host: BatchHost, memory: boolean, busyTimeout: number) {
    this.#db = db
    this.#q = q
    this.txq = txq
    this.#host = host
    this.#memory = memory
    this.#busyTimeout = busyTimeout
    this.tx = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT op'),
      release: db.prepare('RELEASE op'),
      rollbackTo: db.prepare('ROLLBACK TO op'),
    }
    this.#beginRead = db.prepare('BEGIN')
    this.#endRead = db.prepare('COMMIT')
  }

  /**
   * Lets the reads from now until the end of this event-loop turn run in
   * one read transaction, one snapshot of the file. In WAL mode a read
   * outside a transaction takes and releases a lock on the WAL index, two
   * system calls that cost more than an indexed read itself; a server
   * answering dozens of reads per turn pays them once instead. The
   * transaction ends at the turn's `setImmediate`, or before anything that
   * writes begins (see {@link endSharedReads}), so that writes, and the reads
   * after them, are as before. Nothing to do in memory or inside a transaction.
   */
  shareReads(): void {
    if (this.#sharing || this.#memory || this.#db.inTransaction) return
    this.#beginRead.run()
    this.#sharing = true
    setImmediate(this.endSharedReads)
  }

  /** True while the reads of this turn share a read transaction. */
  get sharingReads(): boolean {
    return this.#sharing
  }

  /** Ends the read transaction of {@link shareReads}, if open. */
  readonly endSharedReads = (): void => {
    if (!this.#sharing) return
    this.#sharing = false
    // A read transaction commits nothing; SQLite may have ended it already (closed connection, error).
    if (this.#db.open && this.#db.inTransaction) this.#endRead.run()
  }

  /** The connection, for the batch tries. */
  get db(): BetterSqlite3.Database {
    return this.#db
  }

  /** The backend's error mapping and queue, for the batch tries. */
  get host(): BatchHost {
    return this.#host
  }

  /** Rolls back the open transaction, if any; a failure to do so leaves SQLite to undo it. */
  rollback(): void {
    this.txq.openRevisions()
    if (!this.#db.inTransaction) return
    try {
      this.tx.rollback.run()
    } catch {
      // SQLite rolls back a transaction it cannot continue by itself.
    }
  }

  /**
   * Runs one batch: a lone read, or a lone single write not marked careful,
   * on its own; reads only, one after another; else everything in one
   * transaction. Answers a promise only when some operation was asynchronous.
   */
  run(batch: Op[]): Promise<void> | undefined {
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
        this.endSharedReads()
        this.tx.begin.run()
        this.txq.openRevisions()
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
    if (err === undefined) return new BatchTry(this, batch).run(0)
    // No write lock (another process held it past busyTimeout): the writes
    // fail, the reads need no lock and run on their own.
    const reads: Op[] = []
    for (const op of batch) {
      if (op.write) op.reject(this.#host.error(op.job.method, err))
      else reads.push(op)
    }
    this.#host.requeue(reads)
    return undefined
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
      if (op.write) {
        this.#q.alone = true
        this.#q.writes = 0
        result = op.job.run(this.#q)
      } else {
        result = this.outside((q) => op.job.run(q))
      }
    } catch (err) {
      if (op.write && isBusy(err) && !this.#memory) {
        // Another connection holds the write lock: wait for it as a batch
        // does, on timers, rather than in SQLite's busy handler.
        op.careful = true
        this.#host.requeue([op])
        return undefined
      }
      op.reject(this.#host.error(op.job.method, err))
      return undefined
    } finally {
      this.#q.alone = false
    }
    if (!(result instanceof Promise)) {
      this.#host.settle(op, result)
      return undefined
    }
    return result.then(
      (value) => this.#host.settle(op, value),
      (err: unknown) => op.reject(this.#host.error(op.job.method, err)),
    )
  }

  /**
   * Runs `fn` (a read, outside any batch) with SQLite's lock wait off, as
   * it always is; should the database be busy (another connection
   * recovering or checkpointing the WAL, which readers must wait for), runs
   * it again with SQLite waiting up to `busyTimeout`.
   */
  outside<T>(fn: (q: SqliteQueries) => T): T {
    try {
      return fn(this.#q)
    } catch (err) {
      if (!isBusy(err) || this.#memory) throw err
      // A busy read that opened this turn's shared read transaction waits as any other, on its own.
      if (this.#sharing) this.endSharedReads()
      if (this.#db.inTransaction) throw err
      this.#db.pragma(`busy_timeout = ${this.#busyTimeout}`)
      try {
        return fn(this.#q)
      } finally {
        this.#db.pragma('busy_timeout = 0')
      }
    }
  }
}
