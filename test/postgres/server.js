// Helpers of the PostgreSQL tests: the server under test, its availability,
// an admin connection and a schema per run.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { after } from 'node:test'
import pg from 'pg'

/** The server under test, from the environment. */
export const url = process.env.GROUPSTORE_TEST_PG

/** The location with any password hidden, for messages. */
function shown(location) {
  try {
    const u = new URL(location)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(an unparsable URL)'
  }
}

/** Why the PostgreSQL tests cannot run, or false when they can. */
export async function unavailable() {
  if (url === undefined || url === '') {
    return 'GROUPSTORE_TEST_PG is not set (e.g. postgres://postgres@127.0.0.1:5432/test): PostgreSQL tests skipped'
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return false
  } catch (err) {
    return `PostgreSQL at ${shown(url)} (GROUPSTORE_TEST_PG) is unreachable: ${err.message}: PostgreSQL tests skipped`
  } finally {
    await client.end().catch(() => {})
  }
}

/** A connected client for inspecting and disturbing the server; end it when done. */
export async function admin() {
  const client = new pg.Client({ connectionString: url, application_name: 'groupstore-test-admin' })
  client.on('error', () => {})
  await client.connect()
  return client
}

/** A name unique to this run, usable as a schema, table or application name. */
export function unique(prefix) {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

/**
 * A schema of the calling test file's own on the server under test (a
 * unique name from `prefix`), dropped with everything in it when the file's
 * tests end. Call it at the top level of a test file, only when the server
 * is available.
 */
export function testSchema(prefix) {
  const schema = unique(prefix)
  after(() => dropSchema(schema))
  return schema
}

/** Drops `schema` and everything in it, if it exists. */
export async function dropSchema(schema) {
  const client = await admin()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** `url` with an application_name, to find a store's connections in pg_stat_activity. */
export function withApplicationName(location, name) {
  const u = new URL(location)
  u.searchParams.set('application_name', name)
  return u.toString()
}

/** `url` whose connections put `schema` first on the search_path, so that a store opened without options uses it. */
export function withSearchPath(location, schema) {
  const u = new URL(location)
  u.searchParams.set('options', `-c search_path=${schema}`)
  return u.toString()
}

/**
 * Polls `probe` until it answers a truthy value, which it returns. Used to
 * wait for the server to reach a state (a backend waiting on a lock, a
 * connection gone), never to wait for time to pass.
 */
export async function until(what, probe, attempts = 500) {
  for (let i = 0; i < attempts; i++) {
    const value = await probe()
    if (value) return value
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Backend pids of the connections opened under an application name, optionally filtered by state. */
export async function backends(client, applicationName, where = 'true') {
  const r = await client.query(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND ${where} ORDER BY pid`,
    [applicationName],
  )
  return r.rows.map((row) => row.pid)
}

/** Terminates the connections of an application name; answers how many. */
export async function terminate(client, applicationName, where = 'true') {
  const pids = await backends(client, applicationName, where)
  for (const pid of pids) await client.query('SELECT pg_terminate_backend($1)', [pid])
  return pids.length
}

/**
 * A TCP proxy in front of the server, to cut every connection at once and
 * refuse new ones (`down`) and to come back on the same port (`up`), as a
 * server restart or a failover looks to a client.
 */
export async function proxy() {
  const target = new URL(url)
  const sockets = new Set()
  let server
  let port = 0
  const up = () =>
    new Promise((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname)
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on('close', () => sockets.delete(s))
          s.on('error', () => {})
        }
        client.pipe(upstream).pipe(client)
      })
      server.listen(port, '127.0.0.1', () => {
        port = server.address().port
        resolve()
      })
    })
  const down = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  await up()
  const location = new URL(url)
  location.hostname = '127.0.0.1'
  location.port = String(port)
  return { url: location.toString(), up, down }
}
