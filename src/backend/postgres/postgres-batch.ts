/**
 * How the PostgreSQL backend runs what its queue holds: internal writes in
 * batches, one transaction per batch under the table's write lock (group
 * commit), and a transaction callback alone on a connection of its own.
 *
 * The rules, each enforced where it is stated below:
 * - **Reruns** ({@link BatchRunner.runBatch}): a batch rolled back for sure
 *   (a dropped connection before COMMIT, a serialisation failure or
 *   deadlock) runs again whole, up to {@link MAX_ATTEMPTS} tries; when one
 *   write's statement fails, the others run again alone so that it fails
 *   alone.
 * - **Never twice** ({@link BatchRunner.runTransaction}): a transaction
 *   callback runs the caller's code, so it is never run again once begun.
 * - **Ask, never guess** ({@link BatchRunner.runBatch}, `#outcome`): after a
 *   connection lost while committing, the server says whether the
 *   transaction committed (`txid_status`); only when it cannot is the write
 *   `ERR_COMMIT_UNKNOWN`.
 *
 * @module
 */
import type { Pool, PoolClient } from 'pg'
import { StoreError } from '../../errors.js'
import type { MaybePromise } from '../backend.js'
import type { WriteQueries } from '../queries.js'
import type { Committable } from '../write-queue.js'
import { isConflict, isConnectionLost, pgError } from './postgres-errors.js'
import { PostgresQueries } from './postgres-queries.js'
import type { PostgresSql } from './postgres-queries.js'
import { OneShot, rollback, Session } from './postgres-session.js'

/** A write waiting in the PostgreSQL backend's queue. */
export interface Job extends Committable {
  readonly resolve: (value: unknown) => void
  readonly fn: (q: WriteQueries) => MaybePromise<unknown>
  readonly reject: (reason: unknown) => void
  /** A transaction callback: runs alone and is never run twice. */
  readonly transaction: boolean
  /** One statement that records its own change: alone, it goes with its BEGIN and COMMIT ({@link BatchRunner.runOneShot}). */
  readonly oneStatement: boolean
}

/** Attempts of an operation that failed in a way that is safe to retry. */
export const MAX_ATTEMPTS = 4

/** The wait before attempt `attempt + 1`; it keeps the process alive, as the pending operation should. */
export function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt))
}

/** What the runner needs from its backend. */
export interface BatchHost {
  /** The error to reject `method` with for `err`. */
  error(method: string, err: unknown): unknown
  /** Announces a committed job (the write queue's commit-callback policy). */
  settle(job: Job, result: unknown): void
}

/** Runs write batches and transaction callbacks on pooled connections. */
export class BatchRunner {
  readonly #pool: Pool
  readonly #sql: PostgresSql
  readonly #beginSql: string
  readonly #busyTimeout: number
  /** The driver's errors, told apart from errors thrown by the callers' code. */
  readonly #errors: WeakSet<object>
  readonly #host: BatchHost

  constructor(pool: Pool, sql: PostgresSql, beginSql: string, busyTimeout: number, errors: WeakSet<object>, host: BatchHost) {
    this.#pool = pool
    this.#sql = sql
    this.#beginSql = beginSql
    this.#busyTimeout = busyTimeout
    this.#errors = errors
    this.#host = host
  }

  #error(method: string, err: unknown): unknown {
    return this.#host.error(method, err)
  }

  #settle(job: Job, result: unknown): void {
    this.#host.settle(job, result)
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
  async runBatch(jobs: Job[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let session: Session | undefined
      let committing = false
      let txid: string | undefined
      const results: unknown[] = new Array(jobs.length)
      const failures = new Map<number, unknown>()
      try {
        session = await this.#begin()
        txid = session.txid
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
        this.#settleBatch(jobs, results, failures)
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
          // COMMIT was sent: it may have been applied. Ask the server; never guess, never run the writes twice.
          const outcome = await this.#outcome(txid)
          if (outcome === 'committed') {
            this.#settleBatch(jobs, results, failures)
            return
          }
          if (outcome === undefined) {
            for (const job of jobs) job.reject(pgError(job.method, err, this.#busyTimeout, true))
            return
          }
          // Aborted: nothing was applied, so the batch may run again as below.
        }
        // Rolled back for sure, by a conflict or a dropped connection: run the whole batch again.
        if (driver && (lost || isConflict(err)) && attempt < MAX_ATTEMPTS) {
          await pause(attempt)
          continue
        }
        if (jobs.length > 1 && (split || (committing && driver)) && !lost && !isConflict(err)) {
          // One write's statement failed: run each alone so that it fails alone.
          for (const job of jobs) await this.runBatch([job])
          return
        }
        for (const job of jobs) job.reject(driver ? pgError(job.method, err, this.#busyTimeout) : err)
        return
      }
    }
  }

  /**
   * Runs a write made of one statement that records its own change, alone:
   * its BEGIN, write lock, statement and COMMIT go in one round trip (see
   * {@link OneShot}). A failure that certainly committed nothing (no
   * connection, a conflict) runs it again as a batch; a connection lost once
   * the query was sent leaves the outcome unknown, and says so.
   */
  async runOneShot(job: Job): Promise<void> {
    let client: PoolClient
    try {
      client = await this.#pool.connect()
    } catch {
      await this.runBatch([job])
      return
    }
    const runner = new OneShot(client, this.#sql, this.#beginSql, this.#errors)
    let result: unknown
    try {
      result = await job.fn(new PostgresQueries(this.#sql, runner))
    } catch (err) {
      const lost = isConnectionLost(err)
      if (runner.failed && !lost) await client.query('ROLLBACK').catch(() => {})
      runner.release(lost)
      const driver = err !== null && typeof err === 'object' && this.#errors.has(err)
      if (driver && runner.sent && lost) {
        job.reject(pgError(job.method, err, this.#busyTimeout, true))
        return
      }
      if (driver && (lost || isConflict(err))) {
        await this.runBatch([job])
        return
      }
      job.reject(this.#error(job.method, err))
      return
    }
    runner.release(false)
    this.#settle(job, result)
  }

  #settleBatch(jobs: Job[], results: unknown[], failures: Map<number, unknown>): void {
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as Job
      if (failures.has(i)) job.reject(this.#error(job.method, failures.get(i)))
      else this.#settle(job, results[i])
    }
  }

  /**
   * After the connection dropped during COMMIT: whether the transaction
   * `txid` committed, asked of the server on another connection
   * (`txid_status`), waiting while the ended connection's backend finishes.
   * Undefined when the server cannot tell or cannot be reached.
   */
  async #outcome(txid: string | undefined): Promise<'committed' | 'aborted' | undefined> {
    if (txid === undefined) return undefined
    // The ended connection's server process usually finishes within a millisecond: ask soon, then less often.
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const r = await this.#pool.query({ text: 'SELECT txid_status($1::bigint)', values: [txid], rowMode: 'array' })
        const status = r.rows[0]?.[0]
        if (status === 'committed' || status === 'aborted') return status
        if (status !== 'in progress') return undefined
      } catch {
        // The server is out of reach for now.
      }
      if (attempt < 5) await new Promise((resolve) => setTimeout(resolve, 5 * 4 ** (attempt - 1)))
    }
    return undefined
  }

  /** Runs a transaction callback on a connection of its own, once. */
  async runTransaction(job: Job): Promise<void> {
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
        job.reject(this.#error(job.method, err))
        return
      }
    }
    let result: unknown
    try {
      result = await job.fn(session.queries)
    } catch (err) {
      await rollback(session)
      session.release(false)
      job.reject(this.#error(job.method, err))
      return
    }
    if (session.failure !== undefined) {
      // PostgreSQL aborts a transaction at its first failed statement, even one the callback caught.
      const failure = session.failure
      await rollback(session)
      session.release(false)
      const cause = pgError(job.method, failure, this.#busyTimeout)
      const message = `${cause.message} (so the transaction was rolled back)`
      job.reject(cause instanceof StoreError ? new StoreError(message, { cause: failure }, cause.code) : new RangeError(message, { cause: failure }))
      return
    }
    try {
      await session.commit()
    } catch (err) {
      const lost = isConnectionLost(err)
      if (!lost) await rollback(session)
      session.release(lost)
      const outcome = lost ? await this.#outcome(session.txid) : 'aborted'
      if (outcome === 'committed') this.#settle(job, result)
      else job.reject(pgError(job.method, err, this.#busyTimeout, outcome === undefined))
      return
    }
    session.release(false)
    this.#settle(job, result)
  }
}

/** A batch to abandon: `error` made the transaction unusable. */
class SplitBatch {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

