import { createHash } from 'node:crypto'
import type { Pool, PoolClient } from 'pg'
import { StoreError } from '../../errors.js'
import { isConnectionLost, redact } from './postgres-errors.js'
import { PostgresSql } from './postgres-sql.js'
import { upgradeRevisions } from './postgres-revisions.js'

/** What opening and locking need from the store's options. */
export interface SchemaOptions {
  durability: 'full' | 'normal'
  busyTimeout: number
  /** Undefined: the first schema of the connection's search_path. */
  schema: string | undefined
  table: string
  /** Whether changes go to the change log. @default true */
  changeLog?: boolean
}

/** First half of every advisory lock key of this package ('gsto'). */
const LOCK_CLASS = 0x6773746f

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
export function beginSql(sql: PostgresSql, options: SchemaOptions): string {
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
export async function initialise(pool: Pool, options: SchemaOptions, location: string): Promise<PostgresSql> {
  const method = 'Store.open'
  let client: PoolClient
  try {
    client = await pool.connect()
  } catch (err) {
    throw new StoreError(
      `${method}: cannot connect to ${redact(location)}: ${(err as Error).message}`,
      { cause: err },
      isConnectionLost(err) ? 'ERR_STORE_UNAVAILABLE' : 'ERR_STORE',
    )
  }
  let broken = false
  try {
    const encoding = (await client.query('SHOW server_encoding')).rows[0]?.server_encoding as string | undefined
    if (encoding !== 'UTF8') {
      throw new StoreError(
        `${method}: the database at ${redact(location)} uses encoding ${String(encoding)}; groupstore needs UTF8`,
      )
    }
    const sql = new PostgresSql(options.schema ?? (await searchPathSchema(client, location)), options.table, options.changeLog ?? true)
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
    await upgradeRevisions(client, sql, lockKey(sql), options.busyTimeout)
    // Only a write that waits for the lock goes in one round trip (see PostgresBackend).
    if (options.busyTimeout > 0 && (await installFunctions(client, sql, options.busyTimeout))) {
      sql.useFunctions(sql.atomicFunctions(lockKey(sql)), [String(options.busyTimeout), options.durability === 'normal'])
    }
    return sql
  } catch (err) {
    if (isConnectionLost(err)) broken = true
    if (err instanceof StoreError) throw err
    const code = (err as { code?: unknown }).code
    if (code === '55P03') {
      throw new StoreError(
        `${method}: the store is locked by another connection (waited busyTimeout ${options.busyTimeout} ms)`,
        { cause: err },
        'ERR_STORE_BUSY',
      )
    }
    throw new StoreError(
      `${method}: cannot prepare the tables at ${redact(location)}: ${(err as Error).message}`,
      { cause: err },
      isConnectionLost(err) ? 'ERR_STORE_UNAVAILABLE' : 'ERR_STORE',
    )
  } finally {
    client.release(broken)
  }
}

/**
 * Creates, when missing, the functions of the one-statement writes (see
 * postgres-atomic), in one transaction under the table's write lock.
 * Answers false when the role may not create them: the writes then go as
 * literals in a simple-protocol query, one round trip too, but parsed and
 * planned by the server at every call.
 */
async function installFunctions(client: PoolClient, sql: PostgresSql, lockTimeout: number): Promise<boolean> {
  const functions = sql.atomicFunctions(lockKey(sql)).map((f) => f.fn)
  const r = await client.query({
    text:
      'SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace ' +
      'WHERE n.nspname = $1 AND p.proname = ANY($2::text[])',
    values: [sql.schema, functions.map((f) => f.name)],
    rowMode: 'array',
  })
  if (Number((r.rows[0] as unknown[])[0]) === functions.length) return true
  const [a, b] = lockKey(sql)
  await client.query('BEGIN')
  try {
    await client.query(`SET LOCAL lock_timeout = ${lockTimeout}`)
    await client.query(`SELECT pg_advisory_xact_lock(${a}, ${b})`)
    for (const f of functions) await client.query(f.create)
    await client.query('COMMIT')
    return true
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    if ((err as { code?: unknown }).code === '42501') return false
    throw err
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
        undefined,
        'ERR_STORE_CORRUPT',
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
