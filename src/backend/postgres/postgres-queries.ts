import { createHash } from 'node:crypto'
import { atomicTexts } from './postgres-atomic.js'
import { prefixUpperBound } from '../backend.js'
import type {
  ChangeRecord,
  ExpiredKey,
  MaybePromise,
  NewChange,
  RangeOptions,
  RemovedGroup,
  RevisionRange,
  ReadQueries,
  StoredEntry,
  StoredValue,
  WriteCondition,
  WriteOutcome,
  WriteQueries,
} from '../backend.js'

/** A statement with the name it is prepared under on each connection. */
export interface Statement {
  readonly name: string
  readonly text: string
  /** True when it may change rows. */
  readonly writes: boolean
}

/** The rows (as arrays) and affected-row count of a statement. */
export interface Rows {
  rows: unknown[][]
  rowCount: number
}

/** Where statements run: the pool (reads) or one connection inside a transaction (writes). */
export interface Runner {
  run(statement: Statement, values: unknown[]): Promise<Rows>
}

/** Where a write's statements run: one connection inside a write transaction. */
export interface WriteRunner extends Runner {
  /**
   * Upserts a row (strings already escaped) with the next revision, held
   * back and sent with the next statement or the commit; answers the revision.
   */
  upsert(group: string, key: string, value: string, expiresAt: number | null): MaybePromise<number>
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

/** Rows and changes held back by a write, sent in one statement. */
export interface Pending {
  /** Upserts: group, key, value, expires_at, revision. */
  rows: [string, string, string, number | null, number][]
  /** Changes: revision, type, group, key, value, timestamp. */
  changes: [number, string, string, string, string | null, number][]
  /** The store's latest revision once they are applied. */
  latest: number
  /** The counter must be set to `latest` (revisions were taken since it was last written). */
  counter: boolean
}

/*
 * TEXT cannot hold U+0000. Every stored string is escaped with U+0001:
 * U+0000 becomes U+0001 U+0001 and U+0001 becomes U+0001 U+0002. The mapping
 * is a prefix-free code that preserves code-point order, so ordering, range
 * bounds and literal-prefix matching on the escaped text are those of the
 * original strings, and every string round-trips exactly.
 */
const NEEDS_ESCAPE = /[\0\u0001]/
const ESCAPABLE = /[\0\u0001]/g
const ESCAPED = /\u0001([\u0001\u0002])/g

/** The stored form of a string (see above). */
export function encodeText(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(ESCAPABLE, (c) => (c === '\0' ? '\u0001\u0001' : '\u0001\u0002')) : s
}

/** The string a stored text holds. */
export function decodeText(s: string): string {
  return s.includes('\u0001') ? s.replace(ESCAPED, (_m, c: string) => (c === '\u0001' ? '\0' : '\u0001')) : s
}

/** Quotes an identifier that options validation has already restricted to `[A-Za-z0-9_]`. */
function ident(name: string): string {
  return `"${name}"`
}

/**
 * A value as an SQL literal: strings quoted (with `E''` when they hold a
 * backslash, whatever `standard_conforming_strings` says), integers as they
 * are. Stored strings never hold U+0000 (see {@link encodeText}).
 */
function literal(value: unknown): string {
  if (value === null) return 'NULL'
  if (typeof value === 'number') return String(value)
  const s = String(value)
  const quoted = s.replace(/'/g, "''")
  return s.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`
}

/** `statement` with its parameters inlined as SQL literals, for the simple protocol (which takes none). */
export function inlined(statement: Statement, values: readonly unknown[]): string {
  return statement.text.replace(/\$(\d+)/g, (_m, i: string) => literal(values[Number(i) - 1]))
}

function statement(text: string, writes = false): Statement {
  return { name: `gs_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text, writes }
}

const LIVE = '(expires_at IS NULL OR expires_at > $2)'

/**
 * The SQL of one store's tables. Every string column is `COLLATE "C"`, so
 * comparisons and ORDER BY follow code-point (UTF-8 byte) order, as on
 * SQLite, and the `(grp, key)` primary key serves prefix ranges.
 */
export class PostgresSql {
  readonly schema: string
  readonly table: string
  /** `schema.table` of the key-value table, quoted. */
  readonly kv: string
  readonly changes: string
  readonly revision: string
  /** The NOTIFY channel of the change log. */
  readonly channel: string

  readonly get: Statement
  readonly getEntry: Statement
  readonly getMany: Statement
  /** Whether changes go to the change log (the store's `changeLog` option). */
  readonly log: boolean
  readonly setIfAbsent: Statement
  readonly setIfRevision: Statement
  readonly increment: Statement
  readonly assignRevision: Statement
  readonly deleteIf: Statement
  readonly deleteMany: Statement
  readonly delete: Statement
  readonly deleteExpired: Statement
  readonly deleteGroup: Statement
  readonly count: Statement
  readonly groupExists: Statement
  readonly getAll: Statement
  readonly purge: Statement
  /** Sends held-back upserts and changes: see {@link PostgresSql.flushText}. */
  readonly flush: Statement
  readonly readChanges: Statement
  readonly revisionRange: Statement
  readonly pruneChanges: Statement
  /** The same among the oldest `$3` revisions only. */
  readonly pruneSomeChanges: Statement
  readonly #variants = new Map<string, Statement>()

  constructor(schema: string, table: string, log = true) {
    this.log = log
    this.schema = schema
    this.table = table
    this.kv = `${ident(schema)}.${ident(table)}`
    this.changes = `${ident(schema)}.${ident(`${table}_changes`)}`
    this.revision = `${ident(schema)}.${ident(`${table}_revision`)}`
    this.channel = `groupstore_${createHash('sha1').update(`${schema}.${table}`).digest('hex').slice(0, 24)}`
    const kv = this.kv
    this.get = statement(`SELECT value, expires_at FROM ${kv} WHERE grp = $1 AND key = $2`)
    this.getEntry = statement(`SELECT value, expires_at, revision FROM ${kv} WHERE grp = $1 AND key = $2`)
    this.getMany = statement(`SELECT key, value FROM ${kv} WHERE grp = $1 AND key = ANY($2::text[]) AND ${LIVE.replace('$2', '$3')}`)
    const atomic = atomicTexts({ kv, revision: this.revision, changes: this.changes, channel: this.channel }, log)
    this.setIfAbsent = statement(atomic.ifAbsent, true)
    this.setIfRevision = statement(atomic.ifRevision, true)
    this.increment = statement(atomic.increment, true)
    this.assignRevision = statement(`UPDATE ${kv} SET revision = $3 WHERE grp = $1 AND key = $2 AND revision IS NULL`, true)
    this.deleteIf = statement(`DELETE FROM ${kv} WHERE grp = $1 AND key = $2 AND revision = $3 RETURNING value, expires_at`, true)
    this.deleteMany = statement(`DELETE FROM ${kv} WHERE grp = $1 AND key = ANY($2::text[]) RETURNING key, value, expires_at`, true)
    this.delete = statement(`DELETE FROM ${kv} WHERE grp = $1 AND key = $2 RETURNING value, expires_at`, true)
    this.deleteExpired = statement(`DELETE FROM ${kv} WHERE grp = $1 AND key = $2 AND expires_at <= $3`, true)
    this.deleteGroup = statement(
      `WITH d AS (DELETE FROM ${kv} WHERE grp = $1 RETURNING expires_at) ` +
        'SELECT count(*) FILTER (WHERE expires_at IS NULL OR expires_at > $2) FROM d',
      true,
    )
    this.count = statement(`SELECT count(*) FROM ${kv} WHERE grp = $1 AND ${LIVE}`)
    this.groupExists = statement(`SELECT EXISTS (SELECT 1 FROM ${kv} WHERE grp = $1 AND ${LIVE})`)
    this.getAll = statement(`SELECT key, value FROM ${kv} WHERE grp = $1 AND ${LIVE}`)
    this.purge = statement(`DELETE FROM ${kv} WHERE expires_at <= $1 RETURNING grp, key`, true)
    this.flush = statement(this.flushText((i) => `$${i}`), true)
    this.readChanges = statement(
      `SELECT revision, type, grp, key, value, ts FROM ${this.changes} WHERE revision > $1 ORDER BY revision LIMIT $2`,
    )
    this.revisionRange = statement(
      `SELECT (SELECT min(revision) FROM ${this.changes}), (SELECT latest FROM ${this.revision})`,
    )
    const stale = `(revision <= (SELECT latest FROM ${this.revision}) - $2 OR ts < $1)`
    this.pruneChanges = statement(`DELETE FROM ${this.changes} WHERE ${stale}`, true)
    this.pruneSomeChanges = statement(
      `DELETE FROM ${this.changes} WHERE revision < (SELECT min(revision) FROM ${this.changes}) + $3 AND ${stale}`,
      true,
    )
  }

  /** The statements that create the tables and indexes, each idempotent. */
  schemaStatements(): string[] {
    const index = (suffix: string) => ident(`${this.table}_${suffix}`)
    return [
      `CREATE TABLE IF NOT EXISTS ${this.kv} (
        grp        TEXT COLLATE "C" NOT NULL,
        key        TEXT COLLATE "C" NOT NULL,
        value      TEXT NOT NULL,
        expires_at BIGINT,
        PRIMARY KEY (grp, key)
      )`,
      `CREATE INDEX IF NOT EXISTS ${index('expires_at')} ON ${this.kv} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${this.changes} (
        revision BIGINT PRIMARY KEY,
        type     TEXT NOT NULL,
        grp      TEXT COLLATE "C" NOT NULL,
        key      TEXT COLLATE "C" NOT NULL,
        value    TEXT,
        ts       BIGINT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS ${this.revision} (
        id     BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
        latest BIGINT NOT NULL
      )`,
      `INSERT INTO ${this.revision} (id, latest) VALUES (true, 0) ON CONFLICT (id) DO NOTHING`,
    ]
  }

  /**
   * One statement applying held-back writes: the upserts, the log entries,
   * the counter, and a NOTIFY (delivered at commit) when entries were added.
   * `param(i)` is the text of parameter `i` (see {@link flushValues}).
   */
  flushText(param: (i: number) => string): string {
    const p = param
    return (
      `WITH s AS (INSERT INTO ${this.kv} (grp, key, value, expires_at, revision) ` +
      `SELECT * FROM unnest(${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::bigint[], ${p(5)}::bigint[]) ` +
      'ON CONFLICT (grp, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, revision = EXCLUDED.revision), ' +
      `c AS (INSERT INTO ${this.changes} (revision, type, grp, key, value, ts) ` +
      `SELECT * FROM unnest(${p(6)}::bigint[], ${p(7)}::text[], ${p(8)}::text[], ${p(9)}::text[], ${p(10)}::text[], ${p(11)}::bigint[])), ` +
      `r AS (UPDATE ${this.revision} SET latest = ${p(12)}::bigint WHERE latest < ${p(12)}::bigint) ` +
      `SELECT pg_notify(${p(13)}::text, '') WHERE ${p(14)}::boolean`
    )
  }

  /** The parameters of {@link flushText}, in order. */
  flushValues(pending: Pending): unknown[] {
    const column = <T>(rows: readonly (readonly unknown[])[], i: number): T[] => rows.map((r) => r[i] as T)
    const { rows, changes } = pending
    return [
      column(rows, 0), column(rows, 1), column(rows, 2), column(rows, 3), column(rows, 4),
      column(changes, 0), column(changes, 1), column(changes, 2), column(changes, 3), column(changes, 4), column(changes, 5),
      pending.latest, this.channel, changes.length > 0,
    ]
  }

  /**
   * What {@link flushText} does, as plain statements with their values
   * inlined as SQL literals, to send with COMMIT in one round trip (in the
   * simple protocol, which takes no parameters but several statements).
   */
  flushLiteral(pending: Pending): string {
    const tuples = (rows: readonly (readonly unknown[])[]) => rows.map((r) => `(${r.map(literal).join(',')})`).join(',')
    const statements: string[] = []
    if (pending.rows.length > 0) {
      statements.push(
        `INSERT INTO ${this.kv} (grp, key, value, expires_at, revision) VALUES ${tuples(pending.rows)} ` +
          'ON CONFLICT (grp, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, revision = EXCLUDED.revision',
      )
    }
    if (pending.changes.length > 0) {
      statements.push(`INSERT INTO ${this.changes} (revision, type, grp, key, value, ts) VALUES ${tuples(pending.changes)}`)
    }
    if (pending.counter) statements.push(`UPDATE ${this.revision} SET latest = ${literal(pending.latest)}`)
    if (pending.changes.length > 0) statements.push(`SELECT pg_notify(${literal(this.channel)}, '')`)
    return statements.join('; ')
  }

  /** A statement whose text depends on which optional conditions are present, made once. */
  variant(key: string, make: () => string, writes = false): Statement {
    let s = this.#variants.get(key)
    if (s === undefined) {
      s = statement(make(), writes)
      this.#variants.set(key, s)
    }
    return s
  }
}

/** `$2` is `now`; `$1` the lower bound; `$3` the upper bound when there is one. */
function prefixCondition(column: string, bounded: boolean): string {
  return bounded ? `${column} >= $1 AND ${column} < $3` : `${column} >= $1`
}

/** Parameters of a literal-prefix condition on the stored (escaped) text. */
function prefixParams(prefix: string, now: number): unknown[] {
  const lo = encodeText(prefix)
  const hi = prefixUpperBound(lo)
  return hi === undefined ? [lo, now] : [lo, now, hi]
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value)
}

function nullableNum(value: unknown): number | null {
  return value === null ? null : num(value)
}

/**
 * A timestamp as an integer: `expires_at` is whole milliseconds, so
 * `expires_at > now` and `expires_at > floor(now)` agree, and a fractional
 * clock never reaches a BIGINT parameter.
 */
function ms(now: number): number {
  return Math.floor(now)
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

  async rangeEntries(group: string, now: number, options: RangeOptions): Promise<[string, string, number | null][]> {
    const rows = await this.#range(group, now, options, true)
    return rows.map((r) => [decodeText(r[0] as string), decodeText(r[1] as string), nullableNum(r[2])])
  }

  /** The rows of `range`, with `expires_at` as a third column when `expiry`. */
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
      `SELECT key, value${expiry ? ', expires_at' : ''} FROM ${this.#sql.kv} WHERE grp = $1 AND ${conditions} AND ${LIVE} ` +
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

  async deleteIf(group: string, key: string, revision: number): Promise<StoredValue | undefined> {
    const { rows } = await this.#run(this.#sql.deleteIf, [encodeText(group), encodeText(key), revision])
    const row = rows[0]
    if (row === undefined) return undefined
    return { value: decodeText(row[0] as string), expiresAt: nullableNum(row[1]) }
  }

  async deleteMany(group: string, keys: readonly string[]): Promise<(StoredValue | undefined)[]> {
    const { rows } = await this.#run(this.#sql.deleteMany, [encodeText(group), keys.map(encodeText)])
    const found = new Map<string, StoredValue>()
    for (const r of rows) found.set(decodeText(r[0] as string), { value: decodeText(r[1] as string), expiresAt: nullableNum(r[2]) })
    return keys.map((k) => found.get(k))
  }

  /** Inside a write: the upsert is held back by the write's runner (see {@link Runner.upsert}). */
  set(group: string, key: string, value: string, expiresAt: number | null): MaybePromise<number> {
    const g = encodeText(group)
    const k = encodeText(key)
    const v = encodeText(value)
    return this.#runner.upsert(g, k, v, expiresAt)
  }

  async delete(group: string, key: string): Promise<StoredValue | undefined> {
    const { rows } = await this.#run(this.#sql.delete, [encodeText(group), encodeText(key)])
    const row = rows[0]
    if (row === undefined) return undefined
    return { value: decodeText(row[0] as string), expiresAt: nullableNum(row[1]) }
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
