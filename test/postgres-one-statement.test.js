// A conditional set or an increment queued alone on PostgreSQL: one call of
// a server-side function that takes the store's write lock and runs the
// statement as a transaction of its own; literals between BEGIN and COMMIT
// when the role may not create the functions.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Store } from 'groupstore'
import { admin, unavailable, unique, url } from './postgres/server.js'

const pgSkip = await unavailable()

async function withSchema(t) {
  const schema = unique('groupstore_one')
  t.after(async () => {
    const client = await admin()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })
  return schema
}

/** Records the text of every query pg sends while `fn` runs. */
async function sent(fn) {
  const pg = (await import('pg')).default
  const query = pg.Client.prototype.query
  const texts = []
  pg.Client.prototype.query = function (config, ...rest) {
    texts.push(typeof config === 'string' ? config : config.text)
    return query.call(this, config, ...rest)
  }
  try {
    return { result: await fn(), texts }
  } finally {
    pg.Client.prototype.query = query
  }
}

describe('one-statement writes on PostgreSQL', { skip: pgSkip }, () => {
  it('call a function of the schema, once, with no BEGIN or COMMIT of their own', async (t) => {
    const schema = await withSchema(t)
    const store = await Store.open(url, { schema, purgeInterval: 0 })
    t.after(() => store.close())
    await store.set('warm', 'k', 'v')
    const { result, texts } = await sent(() => store.set('g', 'k', 'v', { ifAbsent: true }))
    assert.equal(typeof result, 'number')
    assert.equal(texts.length, 1)
    assert.match(texts[0], new RegExp(`^SELECT \\* FROM "${schema}"\\."kv_gs_[0-9a-f]{10}"\\(`))
    const client = await admin()
    const r = await client.query('SELECT count(*)::int AS n FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = $1 AND p.proname LIKE $2', [schema, 'kv\\_gs\\_%'])
    await client.end()
    assert.equal(r.rows[0].n, 3)
  })

  it('wait for a transaction of another store holding the write lock, and see its write', async (t) => {
    const schema = await withSchema(t)
    const a = await Store.open(url, { schema, purgeInterval: 0 })
    const b = await Store.open(url, { schema, purgeInterval: 0 })
    t.after(() => Promise.all([a.close(), b.close()]))
    await b.set('g', 'warm', 'v')
    let release
    const held = new Promise((resolve) => {
      release = resolve
    })
    let entered
    const inside = new Promise((resolve) => {
      entered = resolve
    })
    const tx = a.transaction(async (t) => {
      await t.set('g', 'n', '41')
      entered()
      await held
    })
    await inside
    const counted = b.increment('g', 'n')
    const absent = b.set('g', 'n', 'x', { ifAbsent: true })
    await new Promise((resolve) => setTimeout(resolve, 50))
    release()
    await tx
    assert.equal(await counted, 42)
    assert.equal(await absent, false)
    const entry = await b.getEntry('g', 'n')
    assert.equal(entry.value, '42')
    assert.equal(entry.revision, await b.revision())
  })

  it('go as literals between BEGIN and COMMIT when the role may not create functions', async (t) => {
    const schema = await withSchema(t)
    const role = unique('gs_role')
    const client = await admin()
    t.after(async () => {
      const c = await admin()
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await c.query(`DROP ROLE IF EXISTS "${role}"`)
      await c.end()
    })
    // Tables made by an owner with a version that had no such functions.
    await (await Store.open(url, { schema, purgeInterval: 0 })).close()
    const fns = await client.query("SELECT p.oid::regprocedure::text AS f FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = $1 AND p.proname LIKE 'kv\\_gs\\_%'", [schema])
    for (const { f } of fns.rows) await client.query(`DROP FUNCTION ${f}`)
    await client.query(`CREATE ROLE "${role}" LOGIN`)
    await client.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`)
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${role}"`)
    await client.end()
    const location = new URL(url)
    location.username = role
    const store = await Store.open(location.toString(), { schema, purgeInterval: 0 })
    t.after(() => store.close())
    await store.set('warm', 'k', 'v')
    const { result, texts } = await sent(() => store.increment('g', 'n', 3))
    assert.equal(result, 3)
    assert.equal(texts.length, 1)
    assert.match(texts[0], /^BEGIN; .*; COMMIT$/s)
    assert.equal(await store.set('g', 'n', 'x', { ifAbsent: true }), false)
  })
})
