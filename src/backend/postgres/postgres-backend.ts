import { createHash } from 'node:crypto'
import type { Client, ClientConfig, Pool, PoolClient } from 'pg'
import { StoreError } from '../../errors.js'
import type { Backend, BackendQueries, MaybePromise, NewChange, WriteOptions } from '../backend.js'
import { ChangeListener } from './postgres-listener.js'
import { PostgresQueries, PostgresSql } from './postgres-queries.js'
import type { Pending, Rows, Runner, Statement } from './postgres-queries.js'

/** Options the PostgreSQL backend takes from the store's options. */
export interface PostgresBackendOptions {
  durability: 'full' | 'normal'
  busyTimeout: number
  poolSize: number
  /** Undefined: the first schema of the connection's search_path. */
  schema: string | undefined
  table: string
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
}

/** Attempts of an operation that failed in a way that is safe to retry. */
const MAX_ATTEMPTS = 4
/** Most writes committed together in one transaction. */
const MAX_BATCH = 256
/** First half of every advisory lock key of this package ('gsto'). */
const LOCK_CLASS = 0x6773746f

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

/** The location with any password replaced, for messages. */
export function redact(location: string): string {
  try {
    const url = new URL(location)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return location.replace(/:[^:@/]*@/, ':***@')
  }
}

const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/** True when `err` means the connection is gone (the server never ran, or rolled back, what followed). */
function isConnectionLost(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true
    if (CONNECTION_CODES.has(code)) return true
  }
  return /Connection terminated|not queryable|timeout exceeded when trying to connect/i.test(err.message)
}

/** A serialisation failure or deadlock: the server rolled the transaction back, so running it again is safe. */
function isConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return code === '40001' || code === '40P01'
}

/** A driver error as a StoreError naming `method`, with the driver's error as `cause`. */
function pgError(method: string, err: unknown, busyTimeout: number, committing = false): StoreError {
  const detail = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: unknown } | undefined)?.code
  let message: string
  if (isConnectionLost(err)) {
    message = committing
      ? `${method}: lost the connection to PostgreSQL while committing, so the write may or may not have been applied: ${detail}`
      : `${method}: lost the connection to PostgreSQL: ${detail}`
  } else if (code === '55P03') {
    message = `${method}: the store is locked by another connection (waited busyTimeout ${busyTimeout} ms)`
  } else if (isConflict(err)) {
    message = `${method}: conflicted with a concurrent transaction and was rolled back (${String(code)}): ${detail}`
  } else if (code === '54000' && /index row/i.test(detail)) {
    message = `${method}: the group and key are too long for PostgreSQL's index (together at most about 2,700 bytes once compressed): ${detail}`
  } else if (typeof code === 'string') {
    message = `${method}: PostgreSQL error ${code}: ${detail}`
  } else {
    message = `${method}: ${detail}`
  }
  return new StoreError(message, { cause: err })
}

/** The wait before attempt `attempt + 1`; it keeps the process alive, as the pending operation should. */
function pause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt))
}

/** Held-back writes past this many characters are sent at once rather than at commit. */
const MAX_PENDING_CHARS = 4 << 20

/**
 * One pooled connection checked out for a write transaction: runs
 * statements, remembers the first driver error (after which PostgreSQL rolls
 * the transaction back whatever happens) and whether a statement wrote.
 *
 * It holds back what needs no answer from the server, upserts and log
 * entries (the table's write lock makes the counter read at BEGIN exact, so
 * revisions are assigned here), and sends them in one statement before the
 * next statement or with COMMIT, in one round trip. A held-back upsert that
 * fails (a key too long to index) therefore fails the statement or the
 * commit that sends it; either way the whole transaction rolls back, as
 * PostgreSQL does after any failed statement.
 */
class Session implements Runner {
  readonly client: PoolClient
  readonly queries: PostgresQueries
  readonly #sql: PostgresSql
  readonly #errors: WeakSet<object>
  /** The first error a statement raised in the current transaction. */
  failure: unknown
  /** A statement that may change rows has been issued since this was last cleared. */
  wrote = false
  /** The connection dropped while checked out. */
  lost = false
  /** The log's latest revision, counting held-back entries. */
  #latest = 0
  #rows = new Map<string, [string, string, string, number | null]>()
  #changes: [number, string, string, string, string | null, number][] = []
  #chars = 0
  readonly #onError = (): void => {
    this.lost = true
  }

  constructor(client: PoolClient, sql: PostgresSql, errors: WeakSet<object>) {
    this.client = client
    this.#sql = sql
    this.#errors = errors
    this.queries = new PostgresQueries(sql, this)
    // A connection that drops while checked out emits 'error' on the client; it must be heard.
    client.on('error', this.#onError)
  }

  #failed(err: unknown): unknown {
    if (err !== null && typeof err === 'object') this.#errors.add(err)
    this.failure ??= err
    return err
  }

  /**
   * Opens the transaction with `begin` (which must take the write lock and
   * end with a statement answering one boolean, whether the lock is held)
   * and reads the log's counter, in one round trip.
   */
  async begin(begin: string): Promise<boolean> {
    const results = await this.#simple(`${begin}; SELECT latest FROM ${this.#sql.revision}`)
    const locked = results.at(-2)?.rows[0]?.[0]
    this.#latest = Number(results.at(-1)?.rows[0]?.[0] ?? 0)
    return locked !== false
  }

  async run(statement: Statement, values: unknown[]): Promise<Rows> {
    if (this.#rows.size > 0 || this.#changes.length > 0) await this.#flush()
    if (statement.writes) this.wrote = true
    try {
      const result = await this.client.query({ name: statement.name, text: statement.text, values, rowMode: 'array' })
      return { rows: result.rows as unknown[][], rowCount: result.rowCount ?? 0 }
    } catch (err) {
      throw this.#failed(err)
    }
  }

  upsert(group: string, key: string, value: string, expiresAt: number | null): MaybePromise<void> {
    this.wrote = true
    // Stored text never holds U+0000, so it separates group from key unambiguously.
    this.#rows.set(`${group}\0${key}`, [group, key, value, expiresAt])
    this.#chars += group.length + key.length + value.length
    if (this.#chars > MAX_PENDING_CHARS) return this.#flush()
    return undefined
  }

  append(changes: readonly NewChange[]): number {
    this.wrote = true
    const first = this.#latest + 1
    for (const c of changes) {
      this.#changes.push([++this.#latest, c.type, c.group, c.key, c.value, c.timestamp])
      this.#chars += c.group.length + c.key.length + (c.value?.length ?? 0)
    }
    return first
  }

  /** What is held back, handed over and forgotten. */
  #take(): Pending | undefined {
    if (this.#rows.size === 0 && this.#changes.length === 0) return undefined
    const pending: Pending = { rows: [...this.#rows.values()], changes: this.#changes, latest: this.#latest }
    this.#rows = new Map()
    this.#changes = []
    this.#chars = 0
    return pending
  }

  async #flush(): Promise<void> {
    const pending = this.#take()
    if (pending === undefined) return
    await this.run(this.#sql.flush, this.#sql.flushValues(pending))
  }

  /**
   * Sends what is held back and COMMIT in one round trip. Throws when the
   * transaction did not commit (PostgreSQL answers a COMMIT of a failed
   * transaction with ROLLBACK).
   */
  async commit(): Promise<void> {
    const pending = this.#take()
    const text = pending === undefined ? 'COMMIT' : `${this.#sql.flushLiteral(pending)}; COMMIT`
    const results = await this.#simple(text)
    if (results.at(-1)?.command !== 'COMMIT') {
      throw this.#failed(new Error('the transaction was rolled back by the server instead of committing'))
    }
  }

  /** Runs plain SQL (no parameters; several statements allowed); answers each statement's result. */
  async #simple(text: string): Promise<{ command: string; rows: unknown[][] }[]> {
    try {
      const result = (await this.client.query({ text, rowMode: 'array' })) as unknown
      return (Array.isArray(result) ? result : [result]) as { command: string; rows: unknown[][] }[]
    } catch (err) {
      throw this.#failed(err)
    }
  }

  /** Returns the connection to the pool, or closes it when it may be unusable. */
  release(broken: boolean): void {
    this.client.removeListener('error', this.#onError)
    this.client.release(broken || this.lost)
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
      })
      if (this.#flushing === undefined) {
        this.#flushing = new Promise<void>((done) => queueMicrotask(() => void this.#flush().then(done)))
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

  async #flush(): Promise<void> {
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
        await this.#runBatch(this.#queue.splice(0, n))
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

/** Rolls back, ignoring failure (a dropped connection has rolled back already). */
async function rollback(session: Session): Promise<void> {
  try {
    await session.client.query('ROLLBACK')
  } catch {
    session.lost = true
  }
}

/** The advisory lock key of a table, as two int4. */
function lockKey(sql: PostgresSql): [number, number] {
  const digest = createHash('sha1').update(`${sql.schema}.${sql.table}`).digest()
  return [LOCK_CLASS, digest.readInt32BE(0)]
}

/** The advisory lock key (second half) of a schema, taken while creating it. */
function schemaLockKey(sql: PostgresSql): number {
  return createHash('sha1').update(sql.schema).digest().readInt32BE(0)
}

/** The SQL that opens a write transaction and takes the table's write lock, in one round trip. */
function beginSql(sql: PostgresSql, options: PostgresBackendOptions): string {
  const [a, b] = lockKey(sql)
  const parts = ['BEGIN']
  if (options.durability === 'normal') parts.push('SET LOCAL synchronous_commit = off')
  if (options.busyTimeout === 0) {
    parts.push(`SELECT pg_try_advisory_xact_lock(${a}, ${b})`)
  } else {
    parts.push(`SET LOCAL lock_timeout = ${options.busyTimeout}`, `SELECT true FROM pg_advisory_xact_lock(${a}, ${b})`)
  }
  return parts.join('; ')
}

/**
 * Checks the server and creates what is missing. The DDL runs in one
 * transaction under the table's write lock, so concurrent first opens in
 * many processes take turns instead of colliding in the catalogue.
 */
async function initialise(pool: Pool, options: PostgresBackendOptions, location: string): Promise<PostgresSql> {
  const method = 'Store.open'
  let client: PoolClient
  try {
    client = await pool.connect()
  } catch (err) {
    throw new StoreError(`${method}: cannot connect to ${redact(location)}: ${(err as Error).message}`, { cause: err })
  }
  let broken = false
  try {
    const encoding = (await client.query('SHOW server_encoding')).rows[0]?.server_encoding as string | undefined
    if (encoding !== 'UTF8') {
      throw new StoreError(
        `${method}: the database at ${redact(location)} uses encoding ${String(encoding)}; groupstore needs UTF8`,
      )
    }
    const sql = new PostgresSql(options.schema ?? (await searchPathSchema(client, location)), options.table)
    const present = async (): Promise<boolean> => {
      const r = await client.query({
        text: 'SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL',
        values: [sql.kv, sql.changes, sql.revision],
        rowMode: 'array',
      })
      return (r.rows[0] as unknown[])[0] === true
    }
    if (!(await present())) {
      const [a, b] = lockKey(sql)
      await client.query('BEGIN')
      try {
        if (options.busyTimeout > 0) await client.query(`SET LOCAL lock_timeout = ${options.busyTimeout}`)
        // The schema's lock first (stores of other tables may be creating it too), then the table's.
        await client.query(`SELECT pg_advisory_xact_lock(${LOCK_CLASS + 1}, ${schemaLockKey(sql)})`)
        await client.query(`SELECT pg_advisory_xact_lock(${a}, ${b})`)
        const schema = await client.query({ text: 'SELECT 1 FROM pg_namespace WHERE nspname = $1', values: [sql.schema] })
        if (schema.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS "${sql.schema}"`)
        for (const statement of sql.schemaStatements()) await client.query(statement)
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true
        })
        throw err
      }
    }
    await checkColumns(client, sql, location)
    return sql
  } catch (err) {
    if (isConnectionLost(err)) broken = true
    if (err instanceof StoreError) throw err
    const code = (err as { code?: unknown }).code
    if (code === '55P03') {
      throw new StoreError(`${method}: the store is locked by another connection (waited busyTimeout ${options.busyTimeout} ms)`, {
        cause: err,
      })
    }
    throw new StoreError(`${method}: cannot prepare the tables at ${redact(location)}: ${(err as Error).message}`, { cause: err })
  } finally {
    client.release(broken)
  }
}

/**
 * The schema of a store opened without `schema`: where the connection
 * creates tables by default (`current_schema()`), or, when no schema of its
 * search_path exists yet, the first one it names, to be created.
 */
async function searchPathSchema(client: PoolClient, location: string): Promise<string> {
  const r = await client.query({ text: "SELECT current_schema(), current_setting('search_path')", rowMode: 'array' })
  const [current, path] = (r.rows[0] ?? []) as [string | null, string]
  const first =
    current ??
    path
      .split(',')
      .map((s) => s.trim().replace(/^"(.*)"$/, '$1'))
      .find((s) => s !== '' && s !== '$user')
  if (first === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(first) || first.length > 63) {
    throw new StoreError(
      `Store.open: the search_path of ${redact(location)} (${path}) names no schema groupstore can use; set options.schema`,
    )
  }
  return first
}

/** Refuses a table that exists but is not a groupstore table, or sorts other than by code point. */
async function checkColumns(client: PoolClient, sql: PostgresSql, location: string): Promise<void> {
  const r = await client.query({
    text:
      'SELECT a.attname, coalesce(c.collname, \'\') FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation ' +
      'WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped',
    values: [sql.kv],
    rowMode: 'array',
  })
  const columns = new Map((r.rows as [string, string][]).map(([name, collation]) => [name, collation]))
  for (const needed of ['grp', 'key', 'value', 'expires_at']) {
    if (!columns.has(needed)) {
      throw new StoreError(
        `Store.open: ${sql.kv} at ${redact(location)} has no column '${needed}': not a groupstore table`,
      )
    }
  }
  for (const ordered of ['grp', 'key']) {
    if (columns.get(ordered) !== 'C') {
      throw new StoreError(
        `Store.open: ${sql.kv} at ${redact(location)} has column '${ordered}' with collation ` +
          `'${String(columns.get(ordered))}'; groupstore needs COLLATE "C" (code-point order)`,
      )
    }
  }
}
