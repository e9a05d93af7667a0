import { prefixUpperBound } from '../backend.js'
import type { ChangeRecord, RangeEntry, RangeOptions, ReadQueries, RevisionRange, StoredEntry, StoredValue } from '../queries.js'
import { decodeText, encodeText, LIVE, ms, nullableNum, num, prefixCondition, prefixParams } from './postgres-sql.js'
import type { PostgresSql, Statement } from './postgres-sql.js'

/** The rows (as arrays) and affected-row count of a statement. */
export interface Rows {
  rows: unknown[][]
  rowCount: number
}

/** Where statements run: the pool (reads) or one connection inside a transaction (writes). */
export interface Runner {
  run(statement: Statement, values: unknown[]): Promise<Rows>
}

/**
 * The storage primitives that read, as statements on a {@link Runner}: the
 * pool for reads, or one connection inside a transaction.
 */
export class PostgresReadQueries implements ReadQueries {
  readonly #sql: PostgresSql
  readonly #runner: Runner

  constructor(sql: PostgresSql, runner: Runner) {
    this.#sql = sql
    this.#runner = runner
  }

  #run(statement: Statement, values: unknown[]): Promise<Rows> {
    return this.#runner.run(statement, values)
  }

  async get(group: string, key: string): Promise<StoredValue | undefined> {
    const { rows } = await this.#run(this.#sql.get, [encodeText(group), encodeText(key)])
    const row = rows[0]
    if (row === undefined) return undefined
    return { value: decodeText(row[0] as string), expiresAt: nullableNum(row[1]) }
  }

  async getEntry(group: string, key: string): Promise<StoredEntry | undefined> {
    const { rows } = await this.#run(this.#sql.getEntry, [encodeText(group), encodeText(key)])
    const row = rows[0]
    if (row === undefined) return undefined
    return { value: decodeText(row[0] as string), expiresAt: nullableNum(row[1]), revision: nullableNum(row[2]) }
  }

  async getMany(group: string, keys: readonly string[], now: number): Promise<(string | undefined)[]> {
    const { rows } = await this.#run(this.#sql.getMany, [encodeText(group), keys.map(encodeText), ms(now)])
    const found = new Map<string, string>()
    for (const r of rows) found.set(decodeText(r[0] as string), decodeText(r[1] as string))
    return keys.map((k) => found.get(k))
  }

  async count(group: string, now: number): Promise<number> {
    const { rows } = await this.#run(this.#sql.count, [encodeText(group), ms(now)])
    return num(rows[0]?.[0] ?? 0)
  }

  async countAll(prefix: string, now: number): Promise<number> {
    const params = prefixParams(prefix, ms(now))
    const bounded = params.length === 3
    const s = this.#sql.variant(`countAll:${bounded}`, () =>
      `SELECT count(*) FROM ${this.#sql.kv} WHERE ${prefixCondition('grp', bounded)} AND ${LIVE}`,
    )
    const { rows } = await this.#run(s, params)
    return num(rows[0]?.[0] ?? 0)
  }

  async groups(prefix: string, now: number): Promise<string[]> {
    const params = prefixParams(prefix, ms(now))
    const bounded = params.length === 3
    const s = this.#sql.variant(`groups:${bounded}`, () =>
      `SELECT DISTINCT grp FROM ${this.#sql.kv} WHERE ${prefixCondition('grp', bounded)} AND ${LIVE} ORDER BY grp`,
    )
    const { rows } = await this.#run(s, params)
    return rows.map((r) => decodeText(r[0] as string))
  }

  async countGroups(prefix: string, now: number): Promise<number> {
    const params = prefixParams(prefix, ms(now))
    const bounded = params.length === 3
    const s = this.#sql.variant(`countGroups:${bounded}`, () =>
      `SELECT count(DISTINCT grp) FROM ${this.#sql.kv} WHERE ${prefixCondition('grp', bounded)} AND ${LIVE}`,
    )
    const { rows } = await this.#run(s, params)
    return num(rows[0]?.[0] ?? 0)
  }

  async groupExists(group: string, now: number): Promise<boolean> {
    const { rows } = await this.#run(this.#sql.groupExists, [encodeText(group), ms(now)])
    return rows[0]?.[0] === true
  }

  async getAll(group: string, now: number): Promise<Record<string, string>> {
    const { rows } = await this.#run(this.#sql.getAll, [encodeText(group), ms(now)])
    const out: Record<string, string> = Object.create(null)
    for (const r of rows) out[decodeText(r[0] as string)] = decodeText(r[1] as string)
    return out
  }

  async range(group: string, now: number, options: RangeOptions): Promise<[string, string][]> {
    const rows = await this.#range(group, now, options, false)
    return rows.map((r) => [decodeText(r[0] as string), decodeText(r[1] as string)])
  }

  async rangeEntries(group: string, now: number, options: RangeOptions): Promise<RangeEntry[]> {
    const rows = await this.#range(group, now, options, true)
    return rows.map((r) => [decodeText(r[0] as string), decodeText(r[1] as string), nullableNum(r[2]), nullableNum(r[3])])
  }

  /** The rows of `range`, with `expires_at` and `revision` as third and fourth columns when `expiry`. */
  async #range(group: string, now: number, options: RangeOptions, expiry: boolean): Promise<unknown[][]> {
    const lo = encodeText(options.prefix ?? '')
    const hi = prefixUpperBound(lo)
    const after = options.after === undefined ? undefined : encodeText(options.after)
    // $1 group, $2 now, $3 lower bound, then the optional upper bound and `after`, then the limit.
    const params: unknown[] = [encodeText(group), ms(now), lo]
    let conditions = 'key >= $3'
    if (hi !== undefined) {
      params.push(hi)
      conditions += ` AND key < $${params.length}`
    }
    if (after !== undefined) {
      params.push(after)
      conditions += ` AND key > $${params.length}`
    }
    params.push(options.limit)
    const s = this.#sql.variant(`range:${hi !== undefined}:${after !== undefined}:${expiry}`, () =>
      `SELECT key, value${expiry ? ', expires_at, revision' : ''} FROM ${this.#sql.kv} WHERE grp = $1 AND ${conditions} AND ${LIVE} ` +
      `ORDER BY key LIMIT $${params.length}`,
    )
    const { rows } = await this.#run(s, params)
    return rows as unknown[][]
  }

  /** Changes after revision `after`, ascending, at most `limit`. */
  async readChanges(after: number, limit: number): Promise<ChangeRecord[]> {
    const { rows } = await this.#run(this.#sql.readChanges, [after, limit])
    return rows.map((r) => ({
      revision: num(r[0]),
      type: r[1] as ChangeRecord['type'],
      group: decodeText(r[2] as string),
      key: decodeText(r[3] as string),
      value: r[4] === null ? null : decodeText(r[4] as string),
      timestamp: num(r[5]),
    }))
  }

  /** The oldest retained revision (null when the log is empty) and the latest ever committed. */
  async revisionRange(): Promise<RevisionRange> {
    const { rows } = await this.#run(this.#sql.revisionRange, [])
    const r = rows[0] ?? [null, 0]
    return { oldest: nullableNum(r[0]), latest: num(r[1] ?? 0) }
  }
}
