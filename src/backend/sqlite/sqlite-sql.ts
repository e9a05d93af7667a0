/**
 * The SQL of the SQLite backend's queries, and the helpers that bind a
 * literal prefix's bounds, which `SqliteReadQueries` and `SqliteQueries`
 * prepare.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'
import { prefixUpperBound } from '../backend.js'
import { NAMESPACE_TABLE } from './sqlite-counts.js'

type Db = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

const LIVE = '(expires_at IS NULL OR expires_at > @now)'

/** The index SQLite makes for `PRIMARY KEY (grp, key)`, in go-store's databases and ours. */
export const PK_INDEX = 'sqlite_autoindex_kv_1'

/** SQL of the ranged queries, exported for the query-plan test. */
export const SQL = {
  get: 'SELECT value, expires_at AS expiresAt FROM kv WHERE grp = ? AND key = ?',
  getEntry: 'SELECT value, expires_at AS expiresAt, revision FROM kv WHERE grp = ? AND key = ?',
  /**
   * The live values of the keys of a JSON array, as a JSON array in the same
   * order (null where none), in one statement: one consistent read, and one
   * string to parse rather than a row object per key. json_each is scanned
   * in order, so the array follows it. Binds: now, the keys, the group.
   */
  getMany:
    'SELECT json_group_array(CASE WHEN kv.expires_at IS NULL OR kv.expires_at > ? THEN kv.value END) ' +
    'FROM json_each(?) AS j LEFT JOIN kv ON kv.grp = ? AND kv.key = j.value',
  set:
    'INSERT INTO kv (grp, key, value, expires_at, revision) VALUES (?, ?, ?, ?, ?) ' +
    'ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, revision = excluded.revision',
  /**
   * Inserts, or replaces an expired row; a live row stays (no change).
   * Positional parameters, as every statement of a write's hot path: binding
   * by name costs about a microsecond more. Binds: group, key, value,
   * expires_at, revision, now.
   */
  setIfAbsent:
    'INSERT INTO kv (grp, key, value, expires_at, revision) VALUES (?, ?, ?, ?, ?) ' +
    'ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, revision = excluded.revision ' +
    'WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?',
  /** Binds: value, expires_at, revision, group, key, the revision required, now. */
  setIfRevision:
    'UPDATE kv SET value = ?, expires_at = ?, revision = ? ' +
    'WHERE grp = ? AND key = ? AND revision = ? AND (expires_at IS NULL OR expires_at > ?)',
  assignRevision: 'UPDATE kv SET revision = ? WHERE grp = ? AND key = ? AND revision IS NULL',
  /** Replaces a live row (binds: value, expires_at, revision, grp, key, now); no change for an expired or missing one. */
  replaceLive:
    'UPDATE kv SET value = ?, expires_at = ?, revision = ? WHERE grp = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)',
  /** An increment's read: the row's value, expiry and rowid (for {@link SQL.incrementLive}). */
  incrementRead: 'SELECT value, expires_at, rowid FROM kv WHERE grp = ? AND key = ?',
  /**
   * An increment of a live row, found by its rowid: one seek in the table,
   * where the upsert seeks the key's index first; the expiry (an indexed
   * column) is left out, as it stays. Binds: value, revision, rowid.
   */
  incrementLive: 'UPDATE kv SET value = ?, revision = ? WHERE rowid = ?',
  delete: 'DELETE FROM kv WHERE grp = ? AND key = ? RETURNING value, expires_at AS expiresAt',
  deleteIf: 'DELETE FROM kv WHERE grp = ? AND key = ? AND revision = ? RETURNING value, expires_at AS expiresAt',
  deleteExpired: 'DELETE FROM kv WHERE grp = ? AND key = ? AND expires_at IS NOT NULL AND expires_at <= ?',
  /**
   * Rows of the group, counted in the key index alone, less its expired
   * rows, found through the expiry index (which holds few expired rows: the
   * purge removes them).
   */
  countGroupLive:
    'SELECT (SELECT count(*) FROM kv WHERE grp = @grp) - ' +
    '(SELECT count(*) FROM kv INDEXED BY kv_expires_at WHERE expires_at <= @now AND grp = @grp)',
  /**
   * The namespace's row count (kept by triggers) less its expired rows,
   * found through the expiry index. Binds: namespace, now, namespace, the
   * namespace with its `:` made `;` (the bound of its group names).
   */
  countNamespaceLive:
    `SELECT coalesce((SELECT keys FROM ${NAMESPACE_TABLE} WHERE namespace = ?), 0) - ` +
    '(SELECT count(*) FROM kv INDEXED BY kv_expires_at WHERE expires_at <= ? AND grp >= ? AND grp < ?)',
  deleteGroup: 'DELETE FROM kv WHERE grp = ?',
  groupExists: `SELECT 1 FROM kv WHERE grp = @grp AND ${LIVE} LIMIT 1`,
  /**
   * The group as two JSON arrays, keys and values, built by SQLite: parsing
   * two strings costs far less than materialising a row object per key.
   * (json_group_object would cut a key at its first NUL.)
   */
  getAll: `SELECT json_group_array(key) AS keys, json_group_array(value) AS vals FROM kv WHERE grp = @grp AND ${LIVE}`,
  /** The same without the expiry test, for a group none of whose rows has expired. */
  getAllUnexpired: 'SELECT json_group_array(key) AS keys, json_group_array(value) AS vals FROM kv WHERE grp = @grp',
  /** Whether the group holds an expired row, found through the expiry index. */
  hasExpired: 'SELECT 1 FROM kv INDEXED BY kv_expires_at WHERE expires_at <= @now AND grp = @grp LIMIT 1',
  purge: 'DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING grp, key',
  appendChange: 'INSERT INTO kv_changes (revision, type, grp, key, value, ts) VALUES (?, ?, ?, ?, ?, ?)',
  readChanges:
    'SELECT revision, type, grp AS "group", key, value, ts AS timestamp FROM kv_changes ' +
    'WHERE revision > ? ORDER BY revision LIMIT ?',
  /** The oldest entry of the log; the latest revision is SqliteRevisions' (the counter's or the log's newest). */
  oldestChange: 'SELECT min(revision) FROM kv_changes',
  /**
   * Deletes the entries not among the newest `@keep` or older than
   * `@before`, never the newest (at least one entry is kept). A range of the
   * rowid: the age test reads only the rows the range holds.
   */
  pruneChanges:
    'DELETE FROM kv_changes WHERE revision < (SELECT max(revision) FROM kv_changes) ' +
    'AND (revision <= (SELECT max(revision) FROM kv_changes) - @keep OR ts < @before)',
  /** The same among the `@limit` oldest revisions only: a short delete while writes happen. */
  pruneSomeChanges:
    'DELETE FROM kv_changes WHERE revision < min((SELECT max(revision) FROM kv_changes), (SELECT min(revision) FROM kv_changes) + @limit) ' +
    'AND (revision <= (SELECT max(revision) FROM kv_changes) - @keep OR ts < @before)',
  /** A condition on `column` for a literal prefix, served by the primary-key index. */
  prefix(column: string, bounded: boolean): string {
    return bounded ? `${column} >= @lo AND ${column} < @hi` : `${column} >= @lo`
  },
  /**
   * Names the primary-key index: with ANALYZE statistics (from `PRAGMA
   * optimize`, say) the planner otherwise scans the whole table when groups
   * are large. A whole namespace is counted by countNamespaceLive instead.
   */
  countAll: (bounded: boolean) =>
    `SELECT count(*) FROM kv INDEXED BY ${PK_INDEX} WHERE ${SQL.prefix('grp', bounded)} AND ${LIVE}`,
  /**
   * Groups holding a live key, found by skipping from one group to the next
   * through the key index (a seek per group, not a read per key). Each step
   * finds the next group up, and SQLite runs a recursive query without
   * ORDER BY first in, first out: the groups come out ascending.
   */
  groups: (bounded: boolean) =>
    'WITH RECURSIVE g(grp) AS (' +
    `SELECT (SELECT min(grp) FROM kv WHERE grp >= @lo${bounded ? ' AND grp < @hi' : ''}) ` +
    `UNION ALL SELECT (SELECT min(grp) FROM kv WHERE grp > g.grp${bounded ? ' AND grp < @hi' : ''}) FROM g WHERE g.grp IS NOT NULL) ` +
    `SELECT grp FROM g WHERE grp IS NOT NULL AND EXISTS (SELECT 1 FROM kv WHERE kv.grp = g.grp AND ${LIVE})`,
  countGroups: (bounded: boolean) => `SELECT count(*) FROM (${SQL.groups(bounded)})`,
  prefixGroups: (bounded: boolean) =>
    `SELECT grp AS "group", sum(CASE WHEN ${LIVE} THEN 1 ELSE 0 END) AS live FROM kv ` +
    `WHERE ${SQL.prefix('grp', bounded)} GROUP BY grp ORDER BY grp`,
  deletePrefix: (bounded: boolean) => `DELETE FROM kv WHERE ${SQL.prefix('grp', bounded)}`,
  /**
   * One lower bound only, the cursor (`key > @after`) or the prefix (`key >=
   * @lo`), whichever is higher: given both, SQLite seeks to one and filters
   * on the other, and a page after the first would read every key before it.
   */
  range: (after: boolean, bounded: boolean, expiry = false) =>
    `SELECT key, value${expiry ? ', expires_at, revision' : ''} FROM kv WHERE grp = @grp AND ${after ? 'key > @after' : 'key >= @lo'}` +
    `${bounded ? ' AND key < @hi' : ''} AND ${LIVE} ORDER BY key LIMIT @limit`,
}

/** Compares strings in code-point order, which is SQLite's (UTF-8 byte) order of text. */
export function compareCodePoints(a: string, b: string): number {
  let i = 0
  let j = 0
  for (;;) {
    if (i >= a.length) return j >= b.length ? 0 : -1
    if (j >= b.length) return 1
    const x = a.codePointAt(i) as number
    const y = b.codePointAt(j) as number
    if (x !== y) return x < y ? -1 : 1
    i += x > 0xffff ? 2 : 1
    j += y > 0xffff ? 2 : 1
  }
}

/** Bind parameters of a literal-prefix condition. */
export function bounds(prefix: string): { lo: string; hi?: string } {
  const hi = prefixUpperBound(prefix)
  return hi === undefined ? { lo: prefix } : { lo: prefix, hi }
}

/** A statement whose text depends on which bounds are present, prepared on first use and kept in `cache`. */
export function variant(db: Db, cache: Map<string, Statement>, name: string, sql: string, pluck: boolean): Statement {
  let stmt = cache.get(name)
  if (stmt === undefined) {
    stmt = db.prepare(sql)
    if (pluck) stmt.pluck()
    cache.set(name, stmt)
  }
  return stmt
}

/** The {@link variant} of a literal-prefix query for `prefix`, with its bounds. */
export function prefixed(
  db: Db,
  cache: Map<string, Statement>,
  name: string,
  sql: (bounded: boolean) => string,
  prefix: string,
  pluck: boolean,
): { stmt: Statement; b: { lo: string; hi?: string } } {
  const b = bounds(prefix)
  const bounded = b.hi !== undefined
  return { stmt: variant(db, cache, `${name}:${bounded}`, sql(bounded), pluck), b }
}
