import type { PoolClient } from 'pg'
import type { MaybePromise } from '../backend.js'
import type { NewChange } from '../queries.js'
import { inlined, PostgresQueries } from './postgres-queries.js'
import { ms } from './postgres-sql.js'
import type { Pending, PostgresSql, Rows, Statement, WriteRunner } from './postgres-queries.js'

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
export class Session implements WriteRunner {
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
  /** The transaction's id, to ask the server whether it committed when the connection drops during COMMIT. */
  txid: string | undefined
  /** The store's latest revision, counting those taken by held-back writes. */
  #latest = 0
  /** The counter's value in the database, as this transaction last wrote or read it. */
  #saved = 0
  #rows = new Map<string, [string, string, string, number | null, number]>()
  #changes: [number, string, string, string, string | null, number][] = []
  /** Revisions whose change a statement of {@link runAtomic} has logged already. */
  readonly #logged = new Set<number>()
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
   * and reads the log's counter and the transaction's id, in one round trip.
   */
  async begin(begin: string): Promise<boolean> {
    const results = await this.#simple(`${begin}; SELECT latest, txid_current()::text FROM ${this.#sql.revision}`)
    const locked = results.at(-2)?.rows[0]?.[0]
    this.#latest = Number(results.at(-1)?.rows[0]?.[0] ?? 0)
    const txid = results.at(-1)?.rows[0]?.[1]
    this.txid = typeof txid === 'string' ? txid : undefined
    this.#saved = this.#latest
    return locked !== false
  }

  async run(statement: Statement, values: unknown[]): Promise<Rows> {
    if (this.#rows.size > 0 || this.#changes.length > 0 || this.#latest > this.#saved) await this.#flush()
    if (statement.writes) this.wrote = true
    try {
      const result = await this.client.query({ name: statement.name, text: statement.text, values, rowMode: 'array' })
      return { rows: result.rows as unknown[][], rowCount: result.rowCount ?? 0 }
    } catch (err) {
      throw this.#failed(err)
    }
  }

  peek(): number {
    return this.#latest + 1
  }

  take(): number {
    return ++this.#latest
  }

  upsert(group: string, key: string, value: string, expiresAt: number | null): MaybePromise<number> {
    this.wrote = true
    const revision = ++this.#latest
    // Stored text never holds U+0000, so it separates group from key unambiguously.
    this.#rows.set(`${group}\0${key}`, [group, key, value, expiresAt, revision])
    this.#chars += group.length + key.length + value.length
    if (this.#chars > MAX_PENDING_CHARS) return this.#flush().then(() => revision)
    return revision
  }

  async runAtomic(statement: Statement, values: unknown[]): Promise<Rows> {
    const result = await this.run(statement, values)
    const revision = result.rows[0]?.[0]
    if (revision !== null && revision !== undefined) {
      this.#latest = Number(revision)
      this.#saved = this.#latest
      if (this.#sql.log) this.#logged.add(this.#latest)
    }
    return result
  }

  append(changes: readonly NewChange[]): void {
    this.wrote = true
    for (const c of changes) {
      if (this.#logged.delete(c.revision)) continue
      this.#changes.push([c.revision, c.type, c.group, c.key, c.value, c.timestamp])
      this.#chars += c.group.length + c.key.length + (c.value?.length ?? 0)
    }
  }

  /** What is held back, handed over and forgotten. */
  #take(): Pending | undefined {
    const counter = this.#latest > this.#saved
    if (this.#rows.size === 0 && this.#changes.length === 0 && !counter) return undefined
    const pending: Pending = { rows: [...this.#rows.values()], changes: this.#changes, latest: this.#latest, counter }
    this.#saved = this.#latest
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

/** Rolls back, ignoring failure (a dropped connection has rolled back already). */
export async function rollback(session: Session): Promise<void> {
  try {
    await session.client.query('ROLLBACK')
  } catch {
    session.lost = true
  }
}

/**
 * The runner of a write made of one statement of postgres-atomic alone (a
 * set, a removal, a conditional write or an increment): it calls the
 * statement's function, which takes the store's write lock and runs it as a
 * transaction of its own, or, when the store has no such functions, sends
 * the statement as literals with the transaction's `BEGIN`, the write lock
 * and `COMMIT` in one simple-protocol query. Either way the write costs one
 * round trip. The statement logs its own change; after the commit the
 * runner runs reads (the feed catching up) on the same connection.
 */
export class OneShot implements WriteRunner {
  readonly client: PoolClient
  readonly #sql: PostgresSql
  readonly #begin: string
  readonly #errors: WeakSet<object>
  /** The query went out: from then on its outcome may be unknown. */
  sent = false
  /** The query failed after its `BEGIN` may have run: the connection needs a `ROLLBACK`. */
  failed = false
  #logged: number | undefined
  /** The connection dropped while checked out. */
  lost = false
  readonly #onError = (): void => {
    this.lost = true
  }

  constructor(client: PoolClient, sql: PostgresSql, begin: string, errors: WeakSet<object>) {
    this.client = client
    this.#sql = sql
    this.#begin = begin
    this.#errors = errors
    // A connection that drops between queries emits 'error' on the client: unheard, it would end the process.
    client.on('error', this.#onError)
  }

  /** Returns the connection to the pool, or closes it when it may be unusable. */
  release(broken: boolean): void {
    this.client.removeListener('error', this.#onError)
    this.client.release(broken || this.lost)
  }

  #failed(err: unknown): unknown {
    if (err !== null && typeof err === 'object') this.#errors.add(err)
    return err
  }

  async runAtomic(statement: Statement, values: unknown[]): Promise<Rows> {
    if (this.sent) throw new Error('a one-statement write ran a second statement')
    this.sent = true
    const call = this.#sql.callOf(statement)
    const result =
      call === undefined ? await this.#inTransaction(statement, values) : await this.#call(call.statement, [...values, ...call.extra])
    const revision = result.rows[0]?.[0]
    if (revision !== null && revision !== undefined && this.#sql.log) this.#logged = Number(revision)
    return result
  }

  /** The statement's function, called alone: a transaction of its own (see postgres-atomic). */
  async #call(statement: Statement, values: unknown[]): Promise<Rows> {
    try {
      const result = await this.client.query({ name: statement.name, text: statement.text, values, rowMode: 'array' })
      return { rows: result.rows as unknown[][], rowCount: result.rowCount ?? 0 }
    } catch (err) {
      throw this.#failed(err)
    }
  }

  /** The statement as literals between `BEGIN` (with the lock) and `COMMIT`, in one simple-protocol query. */
  async #inTransaction(statement: Statement, values: unknown[]): Promise<Rows> {
    let results: { command: string; rows: unknown[][]; rowCount: number | null }[]
    try {
      const answer = (await this.client.query({
        text: `${this.#begin}; ${inlined(statement, values)}; COMMIT`,
        rowMode: 'array',
      })) as unknown
      results = answer as typeof results
    } catch (err) {
      this.failed = true
      throw this.#failed(err)
    }
    if (results.at(-1)?.command !== 'COMMIT') {
      this.failed = true
      throw this.#failed(new Error('the transaction was rolled back by the server instead of committing'))
    }
    const result = results.at(-2) as (typeof results)[number]
    return { rows: result.rows, rowCount: result.rowCount ?? 0 }
  }

  async run(statement: Statement, values: unknown[]): Promise<Rows> {
    if (!this.sent || statement.writes) throw new Error('a one-statement write ran another statement')
    try {
      const result = await this.client.query({ name: statement.name, text: statement.text, values, rowMode: 'array' })
      return { rows: result.rows as unknown[][], rowCount: result.rowCount ?? 0 }
    } catch (err) {
      throw this.#failed(err)
    }
  }

  /** A plain set, its change logged at `now` (the store's clock; the system's when not given). */
  async upsert(group: string, key: string, value: string, expiresAt: number | null, now: number | undefined): Promise<number> {
    const { rows } = await this.runAtomic(this.#sql.set, [group, key, value, expiresAt, ms(now ?? Date.now())])
    const revision = rows[0]?.[0]
    if (revision === null || revision === undefined) throw new Error('a one-statement set answered no revision')
    return Number(revision)
  }

  peek(): never {
    throw new Error('a one-statement write took a revision of its own')
  }

  take(): never {
    throw new Error('a one-statement write took a revision of its own')
  }

  append(changes: readonly NewChange[]): void {
    for (const c of changes) {
      if (c.revision !== this.#logged) throw new Error('a one-statement write recorded a change its statement did not log')
      this.#logged = undefined
    }
  }
}
