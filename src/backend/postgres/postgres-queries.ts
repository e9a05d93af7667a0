import type { MaybePromise } from '../backend.js'
import type {
  ExpiredKey,
  NewChange,
  RemovedGroup,
  RemovedValue,
  StoredValue,
  WriteCondition,
  WriteOutcome,
  WriteQueries,
} from '../queries.js'
import { PostgresReadQueries } from './postgres-read-queries.js'
import type { Rows, Runner } from './postgres-read-queries.js'
import { decodeText, encodeText, ms, nullableNum, num, prefixCondition, prefixParams } from './postgres-sql.js'
import type { PostgresSql, Statement } from './postgres-sql.js'

// The batch runner and the session import these from here.
export { inlined, PostgresSql } from './postgres-sql.js'
export type { Pending, Statement } from './postgres-sql.js'
export type { Rows } from './postgres-read-queries.js'

/** Where a write's statements run: one connection inside a write transaction. */
export interface WriteRunner extends Runner {
  /**
   * Upserts a row (strings already escaped) with the next revision, held
   * back and sent with the next statement or the commit (or, by a runner of
   * one statement, sent at once with its change logged at `now`); answers
   * the revision.
   */
  upsert(group: string, key: string, value: string, expiresAt: number | null, now: number | undefined): MaybePromise<number>
  /**
   * Under the table's write lock: appends changes (strings already escaped)
   * to the log, held back like {@link upsert}.
   */
  append(changes: readonly NewChange[]): void
  /**
   * Under the table's write lock: the next revision, taken (`take`) or not
   * (`peek`); the counter is written with the held-back rows.
   */
  peek(): number
  take(): number
  /**
   * Runs a statement that takes its own revision from the counter and logs
   * its own change (see postgres-atomic), after what is held back; the
   * runner adopts the revision it answers (column 0) and appends no log
   * entry for it again.
   */
  runAtomic(statement: Statement, values: unknown[]): Promise<Rows>
}

/** The row a removal answers (see postgres-atomic), as the store takes it. */
function removed(row: unknown[] | undefined): RemovedValue | undefined {
  if (row === undefined) return undefined
  return { value: decodeText(row[1] as string), expiresAt: nullableNum(row[2]), revision: num(row[0]) }
}

/**
 * Every storage primitive, on one connection inside a write transaction
 * (a {@link WriteRunner}), which holds back upserts and log entries.
 */
export class PostgresQueries extends PostgresReadQueries implements WriteQueries {
  readonly #sql: PostgresSql
  readonly #runner: WriteRunner

  constructor(sql: PostgresSql, runner: WriteRunner) {
    super(sql, runner)
    this.#sql = sql
    this.#runner = runner
  }

  #run(statement: Statement, values: unknown[]): Promise<Rows> {
    return this.#runner.run(statement, values)
  }

  nextRevision(): number {
    return this.#runner.take()
  }

  async setIf(
    group: string,
    key: string,
    value: string,
    expiresAt: number | null,
    condition: WriteCondition,
    now: number,
  ): Promise<WriteOutcome> {
    const g = encodeText(group)
    const k = encodeText(key)
    const v = encodeText(value)
    const { rows } =
      condition.ifRevision !== undefined
        ? await this.#runner.runAtomic(this.#sql.setIfRevision, [g, k, v, expiresAt, condition.ifRevision, ms(now), ms(now)])
        : await this.#runner.runAtomic(this.#sql.setIfAbsent, [g, k, v, expiresAt, ms(now), ms(now)])
    const row = rows[0]
    if (row === undefined || row[0] === null) return { revision: false, found: undefined }
    return { revision: num(row[0]), value }
  }

  async increment(group: string, key: string, by: number, expiresAt: number | null, now: number): Promise<WriteOutcome> {
    const params = [encodeText(group), encodeText(key), String(by), expiresAt, by, ms(now), ms(now)]
    const { rows } = await this.#runner.runAtomic(this.#sql.increment, params)
    const row = rows[0] ?? []
    if (row[0] !== null && row[0] !== undefined) return { revision: num(row[0]), value: row[1] as string }
    // Without a revision written: the row found (its columns follow the notify count when there is a log).
    const at = this.#sql.log ? 3 : 2
    const found =
      row[at] === null || row[at] === undefined
        ? undefined
        : { value: decodeText(row[at] as string), expiresAt: nullableNum(row[at + 1]), revision: nullableNum(row[at + 2]) }
    return { revision: false, found }
  }

  async assignRevision(group: string, key: string): Promise<number | undefined> {
    const revision = this.#runner.peek()
    const { rowCount } = await this.#run(this.#sql.assignRevision, [encodeText(group), encodeText(key), revision])
    if (rowCount > 0) return this.#runner.take()
    return (await this.getEntry(group, key))?.revision ?? undefined
  }

  async deleteIf(group: string, key: string, revision: number, now?: number): Promise<RemovedValue | undefined> {
    const params = [encodeText(group), encodeText(key), ms(now ?? Date.now()), revision]
    return removed((await this.#runner.runAtomic(this.#sql.deleteIf, params)).rows[0])
  }

  async deleteMany(group: string, keys: readonly string[]): Promise<(StoredValue | undefined)[]> {
    const { rows } = await this.#run(this.#sql.deleteMany, [encodeText(group), keys.map(encodeText)])
    const found = new Map<string, StoredValue>()
    for (const r of rows) found.set(decodeText(r[0] as string), { value: decodeText(r[1] as string), expiresAt: nullableNum(r[2]) })
    return keys.map((k) => found.get(k))
  }

  /** Inside a write: the upsert is held back by the write's runner (see {@link WriteRunner.upsert}). */
  set(group: string, key: string, value: string, expiresAt: number | null, now?: number): MaybePromise<number> {
    const g = encodeText(group)
    const k = encodeText(key)
    const v = encodeText(value)
    return this.#runner.upsert(g, k, v, expiresAt, now)
  }

  async delete(group: string, key: string, now?: number): Promise<RemovedValue | undefined> {
    const params = [encodeText(group), encodeText(key), ms(now ?? Date.now())]
    return removed((await this.#runner.runAtomic(this.#sql.delete, params)).rows[0])
  }

  async deleteExpired(group: string, key: string, now: number): Promise<boolean> {
    const { rowCount } = await this.#run(this.#sql.deleteExpired, [encodeText(group), encodeText(key), ms(now)])
    return rowCount > 0
  }

  async deleteGroup(group: string, now: number): Promise<number> {
    const { rows } = await this.#run(this.#sql.deleteGroup, [encodeText(group), ms(now)])
    return num(rows[0]?.[0] ?? 0)
  }

  async deletePrefix(prefix: string, now: number): Promise<RemovedGroup[]> {
    const params = prefixParams(prefix, ms(now))
    const bounded = params.length === 3
    const s = this.#sql.variant(
      `deletePrefix:${bounded}`,
      () =>
        `WITH d AS (DELETE FROM ${this.#sql.kv} WHERE ${prefixCondition('grp', bounded)} RETURNING grp, expires_at), ` +
        'g AS (SELECT grp, count(*) FILTER (WHERE expires_at IS NULL OR expires_at > $2) AS live FROM d GROUP BY grp) ' +
        'SELECT grp, live FROM g WHERE live > 0 ORDER BY grp',
      true,
    )
    const { rows } = await this.#run(s, params)
    return rows.map((r) => ({ group: decodeText(r[0] as string), live: num(r[1]) }))
  }

  async purgeExpired(now: number): Promise<ExpiredKey[]> {
    const { rows } = await this.#run(this.#sql.purge, [ms(now)])
    return rows.map((r) => ({ group: decodeText(r[0] as string), key: decodeText(r[1] as string) }))
  }

  /**
   * Appends changes, with their revisions, to the log inside a write. Only a
   * write's runner can: it holds the table's write lock, so revisions follow
   * commit order, and a rollback takes them back.
   */
  appendChanges(changes: readonly NewChange[]): void {
    this.#runner.append(
      changes.map((c) => ({
        revision: c.revision,
        type: c.type,
        group: encodeText(c.group),
        key: encodeText(c.key),
        value: c.value === null ? null : encodeText(c.value),
        timestamp: ms(c.timestamp),
      })),
    )
  }

  /**
   * Deletes the changes older than `before` (ms) or not among the latest
   * `keep`, among the `limit` oldest revisions when given; answers how many.
   */
  async pruneChanges(before: number, keep: number, limit?: number): Promise<number> {
    const { rowCount } =
      limit === undefined
        ? await this.#run(this.#sql.pruneChanges, [ms(before), keep])
        : await this.#run(this.#sql.pruneSomeChanges, [ms(before), keep, limit])
    return rowCount
  }
}
