/**
 * The SQL of one store's tables on PostgreSQL: the statements, their
 * names, the escaping of U+0000 in stored text, and the helpers that bind
 * and decode their values.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { atomicFunction, atomicTexts, functionBodies, queryBody } from './postgres-atomic.js'
import type { AtomicFunction, AtomicNames, FunctionBody } from './postgres-atomic.js'
import { prefixUpperBound } from '../backend.js'

/** A statement with the name it is prepared under on each connection. */
export interface Statement {
  readonly name: string
  readonly text: string
  /** True when it may change rows. */
  readonly writes: boolean
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

/** The liveness test of a row, `$2` being `now`. */
export const LIVE = '(expires_at IS NULL OR expires_at > $2)'

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
  /** A plain set that logs its own change, for a set alone in its commit group (see postgres-atomic). */
  readonly set: Statement
  readonly setIfAbsent: Statement
  readonly setIfRevision: Statement
  readonly increment: Statement
  readonly assignRevision: Statement
  /** Removals that take their revision and log their change (see postgres-atomic). */
  readonly deleteIf: Statement
  readonly delete: Statement
  readonly deleteMany: Statement
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
  readonly #names: AtomicNames
  readonly #variants = new Map<string, Statement>()
  /** The calls of the functions wrapping the statements of postgres-atomic, by the wrapped statement's name. */
  readonly #calls = new Map<string, { statement: Statement; extra: readonly unknown[] }>()

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
    this.#names = { kv, revision: this.revision, changes: this.changes, channel: this.channel }
    const atomic = atomicTexts(this.#names, log)
    this.set = statement(atomic.set, true)
    this.setIfAbsent = statement(atomic.ifAbsent, true)
    this.setIfRevision = statement(atomic.ifRevision, true)
    this.increment = statement(atomic.increment, true)
    this.assignRevision = statement(`UPDATE ${kv} SET revision = $3 WHERE grp = $1 AND key = $2 AND revision IS NULL`, true)
    this.deleteIf = statement(atomic.deleteIf, true)
    this.delete = statement(atomic.delete, true)
    this.deleteMany = statement(`DELETE FROM ${kv} WHERE grp = $1 AND key = ANY($2::text[]) RETURNING key, value, expires_at`, true)
    this.deleteExpired = statement(`DELETE FROM ${kv} WHERE grp = $1 AND key = $2 AND expires_at <= $3`, true)
    this.deleteGroup = statement(
      `WITH d AS (DELETE FROM ${kv} WHERE grp = $1 RETURNING expires_at) ` +
        'SELECT count(*) FILTER (WHERE expires_at IS NULL OR expires_at > $2) FROM d',
      true,
    )
    this.count = statement(`SELECT count(*) FROM ${kv} WHERE grp = $1 AND ${LIVE}`)
    this.groupExists = statement(`SELECT EXISTS (SELECT 1 FROM ${kv} WHERE grp = $1 AND ${LIVE})`)
    this.getAll = statement(`SELECT key, value FROM ${kv} WHERE grp = $1 AND ${LIVE} ORDER BY key`)
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

  /**
   * The functions wrapping {@link set}, {@link setIfAbsent},
   * {@link setIfRevision}, {@link increment}, {@link delete} and
   * {@link deleteIf} (see `atomicFunction`), for the write lock `lock`.
   */
  atomicFunctions(lock: readonly [number, number]): { wraps: Statement; fn: AtomicFunction }[] {
    const row = `revision bigint, value text${this.log ? ', notified bigint' : ''}`
    const bodies = functionBodies(this.#names, this.log)
    const make = (wraps: Statement, types: string[], body: FunctionBody) => ({
      wraps,
      fn: atomicFunction(this.schema, this.table, body, types, lock),
    })
    return [
      make(this.set, ['text', 'text', 'text', 'bigint', 'bigint'], bodies.set),
      make(this.setIfRevision, ['text', 'text', 'text', 'bigint', 'bigint', 'bigint', 'bigint'], queryBody(this.setIfRevision.text, row)),
      make(this.setIfAbsent, ['text', 'text', 'text', 'bigint', 'bigint', 'bigint'], queryBody(this.setIfAbsent.text, row)),
      make(
        this.increment,
        ['text', 'text', 'text', 'bigint', 'bigint', 'bigint', 'bigint'],
        queryBody(this.increment.text, `${row}, found text, found_expires_at bigint, found_revision bigint`),
      ),
      make(this.delete, ['text', 'text', 'bigint'], bodies.delete),
      make(this.deleteIf, ['text', 'text', 'bigint', 'bigint'], bodies.deleteIf),
    ]
  }

  /**
   * From now on a one-statement write of a wrapped statement calls its
   * function instead, with `extra` (the lock timeout as text, and whether
   * to commit without waiting for the disk) after the statement's values.
   */
  useFunctions(functions: readonly { wraps: Statement; fn: AtomicFunction }[], extra: readonly unknown[]): void {
    for (const { wraps, fn } of functions) this.#calls.set(wraps.name, { statement: statement(fn.call, true), extra })
  }

  /** The function call standing for `wrapped`, with the values to append, if the store uses one. */
  callOf(wrapped: Statement): { statement: Statement; extra: readonly unknown[] } | undefined {
    return this.#calls.get(wrapped.name)
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
export function prefixCondition(column: string, bounded: boolean): string {
  return bounded ? `${column} >= $1 AND ${column} < $3` : `${column} >= $1`
}

/** Parameters of a literal-prefix condition on the stored (escaped) text. */
export function prefixParams(prefix: string, now: number): unknown[] {
  const lo = encodeText(prefix)
  const hi = prefixUpperBound(lo)
  return hi === undefined ? [lo, now] : [lo, now, hi]
}

export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value)
}

export function nullableNum(value: unknown): number | null {
  return value === null ? null : num(value)
}

/**
 * A timestamp as an integer: `expires_at` is whole milliseconds, so
 * `expires_at > now` and `expires_at > floor(now)` agree, and a fractional
 * clock never reaches a BIGINT parameter.
 */
export function ms(now: number): number {
  return Math.floor(now)
}
