import type BetterSqlite3 from 'better-sqlite3'
import { prefixUpperBound } from '../backend.js'
import type {
  BackendQueries,
  ChangeRecord,
  ExpiredKey,
  NewChange,
  RangeOptions,
  RemovedGroup,
  RevisionRange,
  StoredValue,
} from '../backend.js'

type Db = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

const LIVE = '(expires_at IS NULL OR expires_at > @now)'

/** The index SQLite makes for `PRIMARY KEY (grp, key)`, in go-store's databases and ours. */
export const PK_INDEX = 'sqlite_autoindex_kv_1'

/** SQL of the ranged queries, exported for the query-plan test. */
export const SQL = {
  get: 'SELECT value, expires_at AS expiresAt FROM kv WHERE grp = ? AND key = ?',
  set:
    'INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, ?) ' +
    'ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
  delete: 'DELETE FROM kv WHERE grp = ? AND key = ? RETURNING value, expires_at AS expiresAt',
  deleteExpired: 'DELETE FROM kv WHERE grp = ? AND key = ? AND expires_at IS NOT NULL AND expires_at <= ?',
  countGroupLive: `SELECT count(*) FROM kv WHERE grp = @grp AND ${LIVE}`,
  deleteGroup: 'DELETE FROM kv WHERE grp = ?',
  groupExists: `SELECT 1 FROM kv WHERE grp = @grp AND ${LIVE} LIMIT 1`,
  getAll: `SELECT json_group_array(key) AS keys, json_group_array(value) AS vals FROM kv WHERE grp = @grp AND ${LIVE}`,
  purge: 'DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING grp, key',
  appendChange: 'INSERT INTO kv_changes (type, grp, key, value, ts) VALUES (?, ?, ?, ?, ?)',
  readChanges:
    'SELECT revision, type, grp AS "group", key, value, ts AS timestamp FROM kv_changes ' +
    'WHERE revision > ? ORDER BY revision LIMIT ?',
  revisionRange:
    'SELECT (SELECT min(revision) FROM kv_changes) AS oldest, ' +
    "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'kv_changes'), 0) AS latest",
  pruneChanges:
    'DELETE FROM kv_changes WHERE revision <= (SELECT coalesce(max(revision), 0) FROM kv_changes) - ? AND ts < ?',
  /** A condition on `column` for a literal prefix, served by the primary-key index. */
  prefix(column: string, bounded: boolean): string {
    return bounded ? `${column} >= @lo AND ${column} < @hi` : `${column} >= @lo`
  },
  /**
   * Names the primary-key index: with ANALYZE statistics (from `PRAGMA
   * optimize`, say) the planner otherwise scans the whole table when groups
   * are large, and every scoped write counts its namespace.
   */
  countAll: (bounded: boolean) =>
    `SELECT count(*) FROM kv INDEXED BY ${PK_INDEX} WHERE ${SQL.prefix('grp', bounded)} AND ${LIVE}`,
  groups: (bounded: boolean) =>
    `SELECT DISTINCT grp FROM kv WHERE ${SQL.prefix('grp', bounded)} AND ${LIVE} ORDER BY grp`,
  countGroups: (bounded: boolean) =>
    `SELECT count(DISTINCT grp) FROM kv WHERE ${SQL.prefix('grp', bounded)} AND ${LIVE}`,
  prefixGroups: (bounded: boolean) =>
    `SELECT grp AS "group", sum(CASE WHEN ${LIVE} THEN 1 ELSE 0 END) AS live FROM kv ` +
    `WHERE ${SQL.prefix('grp', bounded)} GROUP BY grp ORDER BY grp`,
  deletePrefix: (bounded: boolean) => `DELETE FROM kv WHERE ${SQL.prefix('grp', bounded)}`,
  range: (after: boolean, bounded: boolean) =>
    `SELECT key, value FROM kv WHERE grp = @grp AND ${SQL.prefix('key', bounded)}` +
    `${after ? ' AND key > @after' : ''} AND ${LIVE} ORDER BY key LIMIT @limit`,
}

/** Bind parameters of a literal-prefix condition. */
function bounds(prefix: string): { lo: string; hi?: string } {
  const hi = prefixUpperBound(prefix)
  return hi === undefined ? { lo: prefix } : { lo: prefix, hi }
}

/**
 * The storage primitives on one better-sqlite3 connection, each a prepared
 * statement made once and reused. Synchronous: the caller serialises.
 */
export class SqliteQueries implements BackendQueries {
  readonly #db: Db
  readonly #get: Statement
  readonly #set: Statement
  readonly #delete: Statement
  readonly #deleteExpired: Statement
  readonly #countGroupLive: Statement
  readonly #deleteGroup: Statement
  readonly #groupExists: Statement
  readonly #getAll: Statement
  readonly #purge: Statement
  readonly #appendChange: Statement
  readonly #readChanges: Statement
  readonly #revisionRange: Statement
  readonly #pruneChanges: Statement
  /** Statements whose text depends on which bounds are present, made on first use. */
  readonly #variants = new Map<string, Statement>()

  constructor(db: Db) {
    this.#db = db
    this.#get = db.prepare(SQL.get)
    this.#set = db.prepare(SQL.set)
    this.#delete = db.prepare(SQL.delete)
    this.#deleteExpired = db.prepare(SQL.deleteExpired)
    this.#countGroupLive = db.prepare(SQL.countGroupLive).pluck()
    this.#deleteGroup = db.prepare(SQL.deleteGroup)
    this.#groupExists = db.prepare(SQL.groupExists).pluck()
    this.#getAll = db.prepare(SQL.getAll).raw()
    this.#purge = db.prepare(SQL.purge)
    this.#appendChange = db.prepare(SQL.appendChange)
    this.#readChanges = db.prepare(SQL.readChanges)
    this.#revisionRange = db.prepare(SQL.revisionRange)
    this.#pruneChanges = db.prepare(SQL.pruneChanges)
  }

  #variant(name: string, sql: string, pluck: boolean): Statement {
    let stmt = this.#variants.get(name)
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql)
      if (pluck) stmt.pluck()
      this.#variants.set(name, stmt)
    }
    return stmt
  }

  #prefixed(name: string, sql: (bounded: boolean) => string, prefix: string, pluck: boolean) {
    const b = bounds(prefix)
    const bounded = b.hi !== undefined
    return { stmt: this.#variant(`${name}:${bounded}`, sql(bounded), pluck), b }
  }

  get(group: string, key: string): StoredValue | undefined {
    return this.#get.get(group, key) as StoredValue | undefined
  }

  set(group: string, key: string, value: string, expiresAt: number | null): void {
    this.#set.run(group, key, value, expiresAt)
  }

  delete(group: string, key: string): StoredValue | undefined {
    return this.#delete.get(group, key) as StoredValue | undefined
  }

  deleteExpired(group: string, key: string, now: number): boolean {
    return this.#deleteExpired.run(group, key, now).changes > 0
  }

  deleteGroup(group: string, now: number): number {
    const live = this.#countGroupLive.get({ grp: group, now }) as number
    this.#deleteGroup.run(group)
    return live
  }

  deletePrefix(prefix: string, now: number): RemovedGroup[] {
    const select = this.#prefixed('prefixGroups', SQL.prefixGroups, prefix, false)
    const removed = (select.stmt.all({ ...select.b, now }) as RemovedGroup[]).filter((g) => g.live > 0)
    const del = this.#prefixed('deletePrefix', SQL.deletePrefix, prefix, false)
    del.stmt.run(del.b)
    return removed
  }

  count(group: string, now: number): number {
    return this.#countGroupLive.get({ grp: group, now }) as number
  }

  countAll(prefix: string, now: number): number {
    const { stmt, b } = this.#prefixed('countAll', SQL.countAll, prefix, true)
    return stmt.get({ ...b, now }) as number
  }

  groups(prefix: string, now: number): string[] {
    const { stmt, b } = this.#prefixed('groups', SQL.groups, prefix, true)
    return stmt.all({ ...b, now }) as string[]
  }

  countGroups(prefix: string, now: number): number {
    const { stmt, b } = this.#prefixed('countGroups', SQL.countGroups, prefix, true)
    return stmt.get({ ...b, now }) as number
  }

  groupExists(group: string, now: number): boolean {
    return this.#groupExists.get({ grp: group, now }) !== undefined
  }

  getAll(group: string, now: number): Record<string, string> {
    const [keysJson, valuesJson] = this.#getAll.get({ grp: group, now }) as [string, string]
    const keys = JSON.parse(keysJson) as string[]
    const values = JSON.parse(valuesJson) as string[]
    const out: Record<string, string> = Object.create(null)
    for (let i = 0; i < keys.length; i++) out[keys[i] as string] = values[i] as string
    return out
  }

  range(group: string, now: number, options: RangeOptions): [string, string][] {
    const b = bounds(options.prefix ?? '')
    const bounded = b.hi !== undefined
    const after = options.after !== undefined
    const stmt = this.#variant(`range:${after}:${bounded}`, SQL.range(after, bounded), false)
    const params: Record<string, unknown> = { grp: group, now, limit: options.limit, ...b }
    if (after) params['after'] = options.after
    stmt.raw(true)
    return stmt.all(params) as [string, string][]
  }

  purgeExpired(now: number): ExpiredKey[] {
    return (this.#purge.all(now) as { grp: string; key: string }[]).map((r) => ({ group: r.grp, key: r.key }))
  }

  appendChanges(changes: readonly NewChange[]): number {
    let first = 0
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i] as NewChange
      const revision = Number(this.#appendChange.run(c.type, c.group, c.key, c.value, c.timestamp).lastInsertRowid)
      if (i === 0) first = revision
    }
    return first
  }

  readChanges(after: number, limit: number): ChangeRecord[] {
    return this.#readChanges.all(after, limit) as ChangeRecord[]
  }

  revisionRange(): RevisionRange {
    return this.#revisionRange.get() as RevisionRange
  }

  pruneChanges(before: number, keep: number): number {
    return this.#pruneChanges.run(keep, before).changes
  }
}
