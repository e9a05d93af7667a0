import type { ClientConfig, Pool, PoolClient } from 'pg'
import { StoreError } from '../../errors.js'
import type { Backend, BackendQueries, MaybePromise, WriteOptions } from '../backend.js'
import { isConflict, isConnectionLost, pgError } from './postgres-errors.js'
import { ChangeListener } from './postgres-listener.js'
import { PostgresQueries } from './postgres-queries.js'
import type { PostgresSql, Rows, Statement } from './postgres-queries.js'
import { beginSql, initialise } from './postgres-schema.js'
import { OneShot, rollback, Session } from './postgres-session.js'

const RESOLVED = Promise.resolve()

/** Options the PostgreSQL backend takes from the store's options. */
export interface PostgresBackendOptions {
  durability: 'full' | 'normal'
  busyTimeout: number
  poolSize: number
  /** Undefined: the first schema of the connection's search_path. */
  schema: string | undefined
  table: string
  /** Whether changes go to the change log. @default true */
  changeLog?: boolean
}

type PgModule = typeof import('pg')

interface Job {
  method: string
  fn: (q: BackendQueries) => MaybePromise<unknown>
  onCommit: ((result: unknown) => void) | undefined
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
  /** A transaction callback: runs alone and is never run twice. */
  transaction: boolean
  /** One statement that records its own change: alone, it goes with its BEGIN and COMMIT (see {@link OneShot}). */
  oneStatement: boolean
}

/** Attempts of an operation that failed in a way that is safe to retry. */
const MAX_ATTEMPTS = 4
/** Most writes committed together in one transaction. */
const MAX_BATCH = 256

/**
 * Loads the optional `pg` peer dependency, only when a PostgreSQL location
 * is opened.
 */
async function loadPg(): Promise<PgModule> {
  try {
    const m = (await import('pg')) as PgModule & { default?: PgModule }
    return m.default ?? m
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new StoreError(
        "Store.open: postgres:// locations need the 'pg' package, which is not installed; run: npm install pg",
        { cause: err },
      )
    }
    throw new StoreError(`Store.open: cannot load the 'pg' package: ${(err as Error).message}`, { cause: err })
  }
}

/** The wait before attempt `attempt + 1`; it keeps the process alive, as the pending operation should. */
function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt))
}

/**
 * PostgreSQL through `pg`, with a pool of `poolSize` connections.
 *
 * Reads run at once on any pooled connection, in parallel, after the
 * writes issued before them have settled. Writes are queued and run in
 * batches, one transaction per batch (group commit), each holding the
 * store's write lock: a transaction-scoped advisory lock per table, taken
 * first, so that every writer of the table in every process is serialised
 * as on SQLite. Quotas (count, then insert) stay exact, revisions follow
 * commit order, and a transaction callback never sees a concurrent write
 * between its reads and its writes. A transaction callback runs alone on a
 * connection of its own for its whole life.
 *
 * Batches are retried after a dropped connection or a serialisation
 * failure, as a rolled-back batch changed nothing; a connection lost while
 * committing, or any failure of a transaction callback, is surfaced as a
 * StoreError instead.
 */
export class PostgresBackend implements Backend {
  readonly name = 'postgres'
  /** Other connections read the change log this backend writes. */
  readonly changeLog = true
  readonly #pool: Pool
  readonly #sql: PostgresSql
  readonly #busyTimeout: number
  readonly #beginSql: string
  readonly #errors = new WeakSet<object>()
  readonly #reader: PostgresQueries
  readonly #listener: ChangeListener
  #queue: Job[] = []
  #flushing: Promise<void> | undefined
  /** Settles once the last write issued outside a transaction has settled. */
  #lastWrite: Promise<void> | undefined
  #closed = false

  private constructor(pg: PgModule, pool: Pool, config: ClientConfig, sql: PostgresSql, options: PostgresBackendOptions) {
    this.#pool = pool
    this.#sql = sql
    this.#busyTimeout = options.busyTimeout
    this.#beginSql = beginSql(sql, options)
    this.#reader = new PostgresQueries(sql, { run: (s, v) => this.#poolQuery(s, v) })
    this.#listener = new ChangeListener(() => new pg.Client(config), sql.channel)
  }

  /** The SQL of this store's tables, for tests and tools inside the package. */
  get sql(): PostgresSql {
    return this.#sql
  }

  /**
   * Connects to `location` (a `postgres://` or `postgresql://` URL), checks
   * that the database stores UTF-8, and creates the schema, tables and
   * indexes when missing, under the store's lock so that any number of
   * processes may open it at once.
   */
  static async open(location: string, options: PostgresBackendOptions): Promise<PostgresBackend> {
    const pg = await loadPg()
    const config: ClientConfig = {
      connectionString: location,
      application_name: process.env['PGAPPNAME'] ?? 'groupstore',
    }
    const pool = new pg.Pool({ ...config, max: options.poolSize, allowExitOnIdle: true })
    // An idle connection that drops emits 'error'; the pool discards it and opens another when needed.
    pool.on('error', () => {})
    let sql: PostgresSql
    try {
      sql = await initialise(pool, options, location)
    } catch (err) {
      await pool.end().catch(() => {})
      throw err
    }
    return new PostgresBackend(pg, pool, config, sql, options)
  }

  async #poolQuery(statement: Statement, values: unknown[]): Promise<Rows> {
    try {
      const result = await this.#pool.query({ name: statement.name, text: statement.text, values, rowMode: 'array' })
      return { rows: result.rows as unknown[][], rowCount: result.rowCount ?? 0 }
    } catch (err) {
      if (err !== null && typeof err === 'object') this.#errors.add(err)
      throw err
    }
  }

  async read<T>(method: string, fn: (q: BackendQueries) => MaybePromise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(`${method}: the database is closed`)
    const barrier = this.#lastWrite
    if (barrier !== undefined) await barrier
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(this.#reader)
      } catch (err) {
        // A read changes nothing, so a dropped connection is simply retried on another.
        if (attempt < MAX_ATTEMPTS && this.#errors.has(err as object) && (isConnectionLost(err) || isConflict(err))) {
          await pause(attempt)
          continue
        }
        throw this.error(method, err)
      }
    }
  }

  write<T>(
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit?: (result: T) => void,
    options?: WriteOptions,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError(`${method}: the database is closed`))
    const transaction = options?.transaction === true
    const settled = new Promise<T>((resolve, reject) => {
      this.#queue.push({
        method,
        fn,
        onCommit: onCommit as ((result: unknown) => void) | undefined,
        resolve: resolve as (value: unknown) => void,
        reject,
        transaction,
        oneStatement: options?.oneStatement === true,
      })
      if (this.#flushing === undefined) {
        // A promise reaction, not queueMicrotask: that makes an async resource each call.
        this.#flushing = RESOLVED.then(this.#flush)
      }
    })
    if (!transaction) {
      // Writes settle in the order they were issued, so the last one stands for all before it.
      const barrier: Promise<void> = settled.then(
        () => this.#clearBarrier(barrier),
        () => this.#clearBarrier(barrier),
      )
      this.#lastWrite = barrier
    }
    return settled
  }

  #clearBarrier(barrier: Promise<void>): void {
    if (this.#lastWrite === barrier) this.#lastWrite = undefined
  }

  readonly #flush = async (): Promise<void> => {
    try {
      while (this.#queue.length > 0) {
        const first = this.#queue[0] as Job
        if (first.transaction) {
          this.#queue.shift()
          await this.#runTransaction(first)
          continue
        }
        let n = 1
        while (n < this.#queue.length && n < MAX_BATCH && !(this.#queue[n] as Job).transaction) n++
        const jobs = this.#queue.splice(0, n)
        if (jobs.length === 1 && first.oneStatement && this.#busyTimeout > 0) await this.#runOneShot(first)
        else await this.#runBatch(jobs)
      }
    } finally {
      this.#flushing = undefined
    }
  }

  /** A pooled connection with the store's write lock taken in a fresh transaction. */
  async #begin(): Promise<Session> {
    let client: PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      if (err !== null && typeof err === 'object') this.#errors.add(err)
      throw err
    }
    const session = new Session(client, this.#sql, this.#errors)
    try {
      if (!(await session.begin(this.#beginSql))) {
        const busy = Object.assign(new Error('the write lock is held by another connection'), { code: '55P03' })
        this.#errors.add(busy)
        throw busy
      }
    } catch (err) {
      await rollback(session)
      session.release(isConnectionLost(err))
      throw err
    }
    return session
  }

  /**
   * Runs internal writes in one transaction. On a failure that rolled the
   * transaction back (dropped connection, serialisation failure) the batch
   * runs again; when one write's statement fails, the others run again
   * alone so that it fails alone.
   */
  async #runBatch(jobs: Job[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let session: Session | undefined
      let committing = false
      try {
        session = await this.#begin()
        const results: unknown[] = new Array(jobs.length)
        const failures = new Map<number, unknown>()
        for (let i = 0; i < jobs.length; i++) {
          const job = jobs[i] as Job
          session.wrote = false
          try {
            results[i] = await job.fn(session.queries)
          } catch (err) {
            // A statement failed (PostgreSQL has aborted the transaction), or the write threw after
            // changing rows: nothing of this batch can commit. Otherwise the write fails alone.
            if (session.failure !== undefined || session.wrote) throw new SplitBatch(err)
            failures.set(i, err)
          }
          if (session.failure !== undefined) throw new SplitBatch(session.failure)
        }
        committing = true
        await session.commit()
        session.release(false)
        session = undefined
        for (let i = 0; i < jobs.length; i++) {
          const job = jobs[i] as Job
          if (failures.has(i)) job.reject(this.error(job.method, failures.get(i)))
          else this.#commit(job, results[i])
        }
        return
      } catch (caught) {
        const split = caught instanceof SplitBatch
        const err = split ? caught.error : caught
        const driver = err !== null && typeof err === 'object' && this.#errors.has(err)
        const lost = driver && isConnectionLost(err)
        if (session !== undefined) {
          // After a failed statement (or COMMIT answered with an error) the transaction is aborted.
          if (!lost) await rollback(session)
          session.release(lost)
        }
        if (lost && committing) {
          // COMMIT was sent: it may have been applied. Never guess, never run the writes twice.
          for (const job of jobs) job.reject(pgError(job.method, err, this.#busyTimeout, true))
          return
        }
        // Rolled back for sure, by a conflict or a dropped connection: run the whole batch again.
        if (driver && (lost || isConflict(err)) && attempt < MAX_ATTEMPTS) {
          await pause(attempt)
          continue
        }
        if (jobs.length > 1 && (split || (committing && driver)) && !lost && !isConflict(err)) {
          // One write's statement failed: run each alone so that it fails alone.
          for (const job of jobs) await this.#runBatch([job])
          return
        }
        for (const job of jobs) job.reject(driver ? pgError(job.method, err, this.#busyTimeout) : err)
        return
      }
    }
  }

  /**
   * Runs a write made of one statement that records its own change, alone:
   * its BEGIN, write lock, statement and COMMIT go in one round trip. A
   * failure that certainly committed nothing (no connection, a conflict)
   * runs it again the ordinary way; a connection lost once the query was
   * sent leaves the outcome unknown, and says so.
   */
  async #runOneShot(job: Job): Promise<void> {
    let client: PoolClient
    try {
      client = await this.#pool.connect()
    } catch {
      await this.#runBatch([job])
      return
    }
    const runner = new OneShot(client, this.#sql, this.#beginSql, this.#errors)
    let result: unknown
    try {
      result = await job.fn(new PostgresQueries(this.#sql, runner))
    } catch (err) {
      const lost = isConnectionLost(err)
      if (runner.failed && !lost) {
        await client.query('ROLLBACK').catch(() => {})
      }
      client.release(lost)
      const driver = err !== null && typeof err === 'object' && this.#errors.has(err)
      if (driver && runner.sent && lost) {
        job.reject(pgError(job.method, err, this.#busyTimeout, true))
        return
      }
      if (driver && (lost || isConflict(err))) {
        await this.#runBatch([job])
        return
      }
      job.reject(this.error(job.method, err))
      return
    }
    client.release(false)
    this.#commit(job, result)
  }

  /** Runs a transaction callback on a connection of its own, once. */
  async #runTransaction(job: Job): Promise<void> {
    let session: Session | undefined
    for (let attempt = 1; session === undefined; attempt++) {
      try {
        session = await this.#begin()
      } catch (err) {
        // The callback has not started: a dropped connection is retried.
        if (this.#errors.has(err as object) && (isConnectionLost(err) || isConflict(err)) && attempt < MAX_ATTEMPTS) {
          await pause(attempt)
          continue
        }
        job.reject(this.error(job.method, err))
        return
      }
    }
    let result: unknown
    try {
      result = await job.fn(session.queries)
    } catch (err) {
      await rollback(session)
      session.release(false)
      job.reject(this.error(job.method, err))
      return
    }
    if (session.failure !== undefined) {
      // PostgreSQL aborts a transaction at its first failed statement, even one the callback caught.
      const failure = session.failure
      await rollback(session)
      session.release(false)
      const cause = pgError(job.method, failure, this.#busyTimeout)
      job.reject(new StoreError(`${cause.message} (so the transaction was rolled back)`, { cause: failure }))
      return
    }
    try {
      await session.commit()
    } catch (err) {
      const lost = isConnectionLost(err)
      if (!lost) await rollback(session)
      session.release(lost)
      job.reject(pgError(job.method, err, this.#busyTimeout, lost))
      return
    }
    session.release(false)
    this.#commit(job, result)
  }

  #commit(job: Job, result: unknown): void {
    try {
      job.onCommit?.(result)
    } catch (err) {
      job.reject(err)
      return
    }
    job.resolve(result)
  }

  error(method: string, err: unknown): unknown {
    if (err === null || typeof err !== 'object' || !this.#errors.has(err)) return err
    return pgError(method, err, this.#busyTimeout)
  }

  /**
   * Calls `wake` soon after any connection commits to the change log (through
   * LISTEN/NOTIFY, on a connection of its own), and once more after that
   * connection is re-established. Answers an idempotent unsubscribe.
   */
  subscribe(wake: () => void): () => void {
    if (this.#closed) return () => {}
    return this.#listener.subscribe(wake)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    while (this.#flushing !== undefined) await this.#flushing
    this.#listener.close()
    await this.#pool.end()
  }
}

/** A batch to abandon: `error` made the transaction unusable. */
class SplitBatch {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

