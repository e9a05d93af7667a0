/**
 * The SQL of PostgreSQL's conditional writes and counters: each one
 * statement that checks its condition, takes the store's next revision from
 * the counter, writes the row, moves the counter and, with the change log,
 * appends the change and notifies watchers. Because it needs nothing from
 * the client between those steps, a write made of it alone goes to the
 * server with its `BEGIN` and `COMMIT` in one round trip (see
 * `PostgresBackend`).
 *
 * Every statement answers one row (none when it is a conditional set that
 * did not write): the revision written (NULL: none), the value written, and
 * for an increment the row found (value, expires_at, revision), so that the
 * caller can say why it wrote nothing.
 *
 * @module
 */

/** The quoted names a statement needs. */
export interface AtomicNames {
  kv: string
  revision: string
  changes: string
  channel: string
}

/** The statement texts, parameters numbered as each documents. */
export interface AtomicTexts {
  /** $1 group, $2 key, $3 value, $4 expires_at, $5 the revision required, $6 now, $7 timestamp. */
  ifRevision: string
  /** $1 group, $2 key, $3 value, $4 expires_at, $5 now, $6 timestamp. */
  ifAbsent: string
  /** $1 group, $2 key, $3 by as text, $4 expires_at, $5 by, $6 now, $7 timestamp. */
  increment: string
}

/**
 * The texts for a store's tables; `log` says whether changes go to the
 * change log. `ts` is the timestamp parameter's number.
 */
export function atomicTexts(n: AtomicNames, log: boolean): AtomicTexts {
  const next = `r AS (SELECT latest + 1 AS revision FROM ${n.revision})`
  /** The counter and the log follow the row written (none: nothing). */
  const tail = (ts: number): string =>
    `, c AS (UPDATE ${n.revision} AS n SET latest = w.revision FROM w)` +
    (log
      ? `, l AS (INSERT INTO ${n.changes} (revision, type, grp, key, value, ts) ` +
        `SELECT w.revision, 'set', $1::text, $2::text, w.value, $${ts}::bigint FROM w)`
      : '')
  const notify = log ? `, (SELECT count(*) FROM (SELECT pg_notify('${n.channel}', '') FROM w) AS x)` : ''
  const replace = 'value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, revision = EXCLUDED.revision'
  const insert = `INSERT INTO ${n.kv} AS t (grp, key, value, expires_at, revision) SELECT $1::text, $2::text, $3::text, $4::bigint, r.revision FROM r`
  const expired = (now: number): string => `(t.expires_at IS NOT NULL AND t.expires_at <= $${now}::bigint)`
  const sum = '(t.value::numeric + $5::bigint)'
  return {
    ifRevision:
      `WITH ${next}, w AS (UPDATE ${n.kv} AS t SET value = $3::text, expires_at = $4::bigint, revision = r.revision FROM r ` +
      'WHERE t.grp = $1::text AND t.key = $2::text AND t.revision = $5::bigint ' +
      'AND (t.expires_at IS NULL OR t.expires_at > $6::bigint) RETURNING t.revision, t.value)' +
      `${tail(7)} SELECT w.revision, w.value${notify} FROM w`,
    ifAbsent:
      `WITH ${next}, w AS (${insert} ON CONFLICT (grp, key) DO UPDATE SET ${replace} WHERE ${expired(5)} ` +
      'RETURNING t.revision, t.value)' +
      `${tail(6)} SELECT w.revision, w.value${notify} FROM w`,
    increment:
      `WITH ${next}, cur AS (SELECT value, expires_at, revision FROM ${n.kv} WHERE grp = $1::text AND key = $2::text), ` +
      `w AS (${insert} ON CONFLICT (grp, key) DO UPDATE SET ` +
      `value = CASE WHEN ${expired(6)} THEN EXCLUDED.value ELSE ${sum}::text END, ` +
      `expires_at = CASE WHEN ${expired(6)} THEN EXCLUDED.expires_at ELSE t.expires_at END, revision = EXCLUDED.revision ` +
      `WHERE ${expired(6)} OR CASE WHEN t.value ~ '^-?[0-9]+$' THEN abs(${sum}) <= 9007199254740991 ELSE false END ` +
      'RETURNING t.revision, t.value)' +
      `${tail(7)} SELECT w.revision, w.value${notify}, cur.value, cur.expires_at, cur.revision ` +
      'FROM (SELECT 1) AS one LEFT JOIN w ON true LEFT JOIN cur ON true',
  }
}
