/**
 * The SQL of PostgreSQL's point writes that record their own change: a
 * plain set, the conditional writes and counters, and the removal of a key,
 * each one statement that checks its condition, takes the store's next
 * revision from the counter, writes or removes the row, moves the counter
 * and, with the change log, appends the change and notifies watchers. Because it needs nothing from the client
 * between those steps, a write made of it alone goes to the server in one
 * round trip: a call of the function wrapping it ({@link atomicFunction}),
 * or the statement as literals with its `BEGIN` and `COMMIT` (see
 * `OneShot`).
 *
 * A plain set answers one row, the revision written. A removal answers the
 * revision it took, and the value and expires_at of the row removed (no
 * row: nothing removed). The others answer one row (none when it is a
 * conditional set that did not write): the revision written (NULL: none),
 * the value written, and for an increment the row found (value,
 * expires_at, revision), so that the caller can say why it wrote nothing.
 *
 * @module
 */
import { createHash } from 'node:crypto'

/** The quoted names a statement needs. */
export interface AtomicNames {
  kv: string
  revision: string
  changes: string
  channel: string
}

/** The statement texts, parameters numbered as each documents. */
export interface AtomicTexts {
  /** $1 group, $2 key, $3 value, $4 expires_at, $5 timestamp. */
  set: string
  /** $1 group, $2 key, $3 value, $4 expires_at, $5 the revision required, $6 now, $7 timestamp. */
  ifRevision: string
  /** $1 group, $2 key, $3 value, $4 expires_at, $5 now, $6 timestamp. */
  ifAbsent: string
  /** $1 group, $2 key, $3 by as text, $4 expires_at, $5 by, $6 now, $7 timestamp. */
  increment: string
  /** $1 group, $2 key, $3 now (also the timestamp). */
  delete: string
  /** $1 group, $2 key, $3 now (also the timestamp), $4 the revision required. */
  deleteIf: string
}

/**
 * The texts for a store's tables; `log` says whether changes go to the
 * change log. `ts` is the timestamp parameter's number.
 */
export function atomicTexts(n: AtomicNames, log: boolean): AtomicTexts {
  const next = `r AS (SELECT latest + 1 AS revision FROM ${n.revision})`
  /**
   * The counter and the log follow the row written (none: nothing); `value`
   * and `type`, the change logged. Without the log the timestamp is still
   * bound, as the callers bind the same values either way: it is named in a
   * part that nothing reads (so never runs), as PostgreSQL takes the number
   * and types of a statement's parameters from where they appear.
   */
  const tail = (ts: number, value = 'w.value', type = "'set'"): string =>
    `, c AS (UPDATE ${n.revision} AS n SET latest = w.revision FROM w)` +
    (log
      ? `, l AS (INSERT INTO ${n.changes} (revision, type, grp, key, value, ts) ` +
        `SELECT w.revision, ${type}, $1::text, $2::text, ${value}, $${ts}::bigint FROM w)`
      : `, l AS (SELECT $${ts}::bigint)`)
  const notify = log ? `, (SELECT count(*) FROM (SELECT pg_notify('${n.channel}', '') FROM w) AS x)` : ''
  const replace = 'value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, revision = EXCLUDED.revision'
  const insert = `INSERT INTO ${n.kv} AS t (grp, key, value, expires_at, revision) SELECT $1::text, $2::text, $3::text, $4::bigint, r.revision FROM r`
  const expired = (now: number): string => `(t.expires_at IS NOT NULL AND t.expires_at <= $${now}::bigint)`
  const sum = '(t.value::numeric + $5::bigint)'
  /*
   * The stored values the sum is taken of: integers of at most 17 digits after
   * any zeros in front, which numeric always holds (it stops at 131,072
   * digits). One of 18 or more is at least 1e17 from 0, so adding a safe
   * integer cannot bring it into the safe range: it is refused as out of
   * range without being read as a number, as any other sum past it is.
   */
  const summable = "'^-?0*[0-9]{1,17}$'"
  /** A removal takes a revision only when it removed a row: `delete`, or `expire` for a row expired at $3. */
  const remove = (condition: string): string =>
    `WITH d AS (DELETE FROM ${n.kv} AS t WHERE t.grp = $1::text AND t.key = $2::text${condition} RETURNING t.value, t.expires_at), ` +
    `w AS (SELECT n.latest + 1 AS revision, d.value, d.expires_at FROM d, ${n.revision} AS n)` +
    tail(3, 'NULL', "CASE WHEN w.expires_at IS NULL OR w.expires_at > $3::bigint THEN 'delete' ELSE 'expire' END") +
    ` SELECT w.revision, w.value, w.expires_at${notify} FROM w`
  return {
    set:
      `WITH ${next}, w AS (${insert} ON CONFLICT (grp, key) DO UPDATE SET ${replace} RETURNING t.revision)` +
      `${tail(5, '$3::text')} SELECT w.revision${notify} FROM w`,
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
      `WHERE ${expired(6)} OR CASE WHEN t.value ~ ${summable} THEN abs(${sum}) <= 9007199254740991 ELSE false END ` +
      'RETURNING t.revision, t.value)' +
      `${tail(7)} SELECT w.revision, w.value${notify}, cur.value, cur.expires_at, cur.revision ` +
      'FROM (SELECT 1) AS one LEFT JOIN w ON true LEFT JOIN cur ON true',
    delete: remove(''),
    deleteIf: remove(' AND t.revision = $4::bigint'),
  }
}

/**
 * What a function of {@link atomicFunction} runs once it holds the lock:
 * PL/pgSQL statements that end by returning its answer.
 */
export interface FunctionBody {
  /** Its answer: one bigint, or (`columns` given) rows of these columns. */
  readonly columns?: string
  /** Variables the statements use (`name type;` each). */
  readonly declare?: string
  readonly statements: string
}

/** A body that answers the rows of one statement of {@link atomicTexts}. */
export function queryBody(text: string, columns: string): FunctionBody {
  return { columns, statements: `RETURN QUERY ${text};` }
}

/**
 * The bodies of the plain set and the removals: the same writes as their
 * statements of {@link atomicTexts}, but as a statement each, which costs
 * the server less than one statement of several parts (a set, measured
 * with pgbench: 5–8 % less). Parameters as there; a set answers its
 * revision, a removal the columns of {@link atomicTexts}' removal without
 * the notify count.
 */
export function functionBodies(n: AtomicNames, log: boolean): { set: FunctionBody; delete: FunctionBody; deleteIf: FunctionBody } {
  const logged = (type: string, value: string, ts: number): string =>
    log
      ? `  INSERT INTO ${n.changes} (revision, type, grp, key, value, ts) VALUES (revision_, ${type}, $1, $2, ${value}, $${ts});\n` +
        `  PERFORM pg_notify('${n.channel}', '');\n`
      : ''
  const next = `  UPDATE ${n.revision} SET latest = latest + 1 RETURNING latest INTO revision_;\n`
  const remove = (condition: string): FunctionBody => ({
    columns: 'revision bigint, value text, expires_at bigint',
    declare: 'revision_ bigint; value_ text; expires_ bigint;',
    statements:
      `DELETE FROM ${n.kv} WHERE grp = $1 AND key = $2${condition} RETURNING value, expires_at INTO value_, expires_;\n` +
      '  IF NOT FOUND THEN RETURN; END IF;\n' +
      next +
      logged("CASE WHEN expires_ IS NULL OR expires_ > $3 THEN 'delete' ELSE 'expire' END", 'NULL', 3) +
      '  RETURN QUERY SELECT revision_, value_, expires_;',
  })
  return {
    set: {
      declare: 'revision_ bigint;',
      statements:
        next.trimStart() +
        `  INSERT INTO ${n.kv} (grp, key, value, expires_at, revision) VALUES ($1, $2, $3, $4, revision_) ` +
        'ON CONFLICT (grp, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, revision = EXCLUDED.revision;\n' +
        logged("'set'", '$3', 5) +
        '  RETURN revision_;',
    },
    delete: remove(''),
    deleteIf: remove(' AND revision = $4'),
  }
}

/** A write of {@link atomicTexts} as a server-side function (see {@link atomicFunction}). */
export interface AtomicFunction {
  /** The function's name, unquoted, in the store's schema. */
  readonly name: string
  /** `CREATE OR REPLACE FUNCTION …`. */
  readonly create: string
  /**
   * The call, a `SELECT` taking the statement's parameters, then the lock
   * timeout (text) and whether to commit without waiting for the disk.
   */
  readonly call: string
}

/**
 * The function that runs a write as a transaction of its own: it sets the
 * lock timeout (and `synchronous_commit = off` when asked), takes the
 * store's write lock (`lock`), then runs `body`, whose statements each take
 * a fresh snapshot that sees every write committed before the lock was
 * granted. Called alone with the extended protocol, it is one round trip
 * whose plans PL/pgSQL keeps for the session, where a statement sent as
 * literals was parsed and planned by the server at every call. The name
 * ends with a hash of the definition, so a changed definition gets a
 * function of its own. `types` are the write's parameter types.
 */
export function atomicFunction(
  schema: string,
  table: string,
  body: FunctionBody,
  types: readonly string[],
  lock: readonly [number, number],
): AtomicFunction {
  const n = types.length
  const args = [...types, 'text', 'boolean'].join(', ')
  const definition =
    `(${args}) RETURNS ${body.columns === undefined ? 'bigint' : 'SETOF record'} LANGUAGE plpgsql AS $fn$\n` +
    (body.declare === undefined ? '' : `DECLARE ${body.declare}\n`) +
    'BEGIN\n' +
    `  PERFORM set_config('lock_timeout', $${n + 1}, true);\n` +
    `  IF $${n + 2} THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;\n` +
    `  PERFORM pg_advisory_xact_lock(${lock[0]}, ${lock[1]});\n` +
    `  ${body.statements}\nEND\n$fn$`
  const name = `${table}_gs_${createHash('sha1').update(definition).digest('hex').slice(0, 10)}`
  const qualified = `"${schema}"."${name}"`
  const params = Array.from({ length: n + 2 }, (_, i) => `$${i + 1}`).join(', ')
  return {
    name,
    create: `CREATE OR REPLACE FUNCTION ${qualified}${definition}`,
    call: body.columns === undefined ? `SELECT ${qualified}(${params})` : `SELECT * FROM ${qualified}(${params}) AS r(${body.columns})`,
  }
}
