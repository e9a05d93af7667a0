import type { ClientConfig, Pool } from 'pg'
import { StoreError } from '../../errors.js'
import type { Backend, MaybePromise, Write, WriteOptions } from '../backend.js'
import type { ReadQueries } from '../queries.js'
import { BatchRunner, MAX_ATTEMPTS, pause } from './postgres-batch.js'
import type { Job } from './postgres-batch.js'
import { isConflict, isConnectionLost, pgError } from './postgres-errors.js'
import { ChangeListener } from './postgres-listener.js'
import { PostgresReadQueries } from './postgres-read-queries.js'
import type { Rows } from './postgres-read-queries.js'
import type { PostgresSql, Statement } from './postgres-sql.js'
import { beginSql, initialise } from './postgres-schema.js'
import { WriteQueue } from '../write-queue.js'

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
 * connection of its own for its whole life. A one-statement write (a set,
 * a delete, a conditional write, an increment) that is alone in its batch
 * is one call that takes the lock and commits on the server: one round trip.
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
  /** Alone, a one-statement write may go in one round trip (not with `busyTimeout: 0`, whose lock is only tried). */
  readonly #oneShot: boolean
  readonly #runner: BatchRunner
  readonly #errors = new WeakSet<object>()
  readonly #reader: PostgresReadQueries
  readonly #listener: ChangeListener
  readonly #queue = new WriteQueue<Job>(() => this.#runNext())
  /** Settles once the last write issued outside a transaction has settled. */
  #lastWrite: Promise<void> | undefined
  /** Reads begun and not settled: close waits for them, as the pool would leave them pending for ever once ended. */
  #reading = 0
  /** Called by the last read in flight to settle while close waits. */
  #readsDone: (() => void) | undefined

  private constructor(pg: PgModule, pool: Pool, config: ClientConfig, sql: PostgresSql, options: PostgresBackendOptions) {
    this.#pool = pool
    this.#sql = sql
    this.#busyTimeout = options.busyTimeout
    this.#oneShot = options.busyTimeout > 0
    this.#runner = new BatchRunner(pool, sql, beginSql(sql, options), options.busyTimeout, this.#errors, {
      error: (method, err) => this.error(method, err),
      settle: (job, result) => this.#queue.settle(job, result, job.resolve),
    })
    this.#reader = new PostgresReadQueries(sql, { run: (s, v) => this.#poolQuery(s, v) })
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

  async read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>): Promise<T> {
    const refused = this.#queue.refuse(method)
    if (refused !== undefined) throw refused
    this.#reading++
    try {
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
    } finally {
      if (--this.#reading === 0) this.#readsDone?.()
    }
  }

  write<T>(write: Write<T>, options?: WriteOptions): Promise<T> {
    const method = write.method
    const refused = this.#queue.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    const transaction = options?.kind === 'transaction'
    const settled = new Promise<T>((resolve, reject) => {
      this.#queue.push({
        method,
        fn: (q) => write.run(q),
        committed: (result) => write.committed?.(result as T),
        resolve: resolve as (value: unknown) => void,
        reject,
        transaction,
        oneStatement: options?.oneStatement === true,
      })
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

  /** The queue's step: a transaction callback alone, else the writes up to the next one (at most MAX_BATCH) in one batch. */
  #runNext(): Promise<void> {
    if (this.#queue.peek()?.transaction === true) return this.#runner.runTransaction(this.#queue.take(1)[0] as Job)
    const batch = this.#queue.take(MAX_BATCH)
    const at = batch.findIndex((job) => job.transaction)
    if (at >= 0) this.#queue.requeue(batch.splice(at))
    const only = batch.length === 1 ? (batch[0] as Job) : undefined
    if (only !== undefined && only.oneStatement && this.#oneShot) return this.#runner.runOneShot(only)
    return this.#runner.runBatch(batch)
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
    if (this.#queue.closed) return () => {}
    return this.#listener.subscribe(wake)
  }

  async close(): Promise<void> {
    if (this.#queue.closed) return
    await this.#queue.close()
    // A query handed to the pool just before it ends would never be answered.
    if (this.#reading > 0) {
      await new Promise<void>((resolve) => {
        this.#readsDone = resolve
      })
    }
    this.#listener.close()
    await this.#pool.end()
  }
}
