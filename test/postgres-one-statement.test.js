// A set, a delete, a conditional set or an increment queued alone on
// PostgreSQL: one call of a server-side function that takes the store's
// write lock and runs the statement as a transaction of its own; literals
// between BEGIN and COMMIT when the role may not create the functions.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Store } from 'groupstore'
import { admin, dropSchema, unavailable, unique, url } from './postgres/server.js'

const pgSkip = await unavailable()

async function withSchema(t) {
  const schema = unique('groupstore_one')
  t.after(() => dropSchema(schema))
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

/** Records every query pg sends while `fn` runs: its text and the connection it went on. */
async function calls(fn) {
  const pg = (await import('pg')).default
  const query = pg.Client.prototype.query
  const sent = []
  pg.Client.prototype.query = function (config, ...rest) {
    sent.push({ client: this, text: typeof config === 'string' ? config : config.text })
    return query.call(this, config, ...rest)
  }
  try {
    return { result: await fn(), sent }
  } finally {
    pg.Client.prototype.query = query
  }
}

describe('one-statement writes on PostgreSQL', { skip: pgSkip }, () => {
  it('a set or a delete alone is one call, with the change log and a watcher; writes issued together share a transaction', async (t) => {
    const schema = await withSchema(t)
    // A clock that stands still: no write is due to prune the log (which would take it through a transaction).
    const store = await Store.open(url, { schema, purgeInterval: 0, now: () => 1_700_000_000_000 })
    t.after(() => store.close())
    await store.set('warm', 'k', 'v')
    const watcher = store.watch('g', '*')
    t.after(() => watcher.close())
    const events = watcher[Symbol.asyncIterator]()
    const fn = new RegExp(`^SELECT (\\* FROM )?"${schema}"\\."kv_gs_[0-9a-f]{10}"\\(`)
    /** The queries of a write alone: one call, alone on its connection; other connections only read (the watcher). */
    const oneCall = (label, sent) => {
      const call = sent.filter((c) => fn.test(c.text))
      assert.equal(call.length, 1, label)
      assert.deepEqual(sent.filter((c) => c.client === call[0].client).map((c) => c.text), [call[0].text], label)
      assert.deepEqual(sent.filter((c) => /\b(BEGIN|COMMIT|INSERT|UPDATE|DELETE)\b/.test(c.text)), [], label)
    }
    const alone = [
      ['set', 'a', () => store.set('g', 'a', '1', { ttl: 60_000 })],
      ['set', 'a', () => store.set('g', 'a', '2')],
      ['delete', 'a', () => store.delete('g', 'a')],
      ['set', 'b', () => store.set('g', 'b', '3')],
    ]
    for (const [type, key, write] of alone) {
      const { result, sent } = await calls(write)
      oneCall(`${type} ${key}`, sent)
      const event = (await events.next()).value
      assert.deepEqual([event.type, event.key, event.revision], [type, key, type === 'delete' ? await store.revision() : result])
    }
    const { revision } = await store.getEntry('g', 'b')
    const removed = await calls(() => store.delete('g', 'b', { ifRevision: revision }))
    assert.equal(removed.result, true)
    oneCall('delete with ifRevision', removed.sent)
    assert.equal((await events.next()).value.type, 'delete')
    // Two writes issued together: one transaction, BEGIN with the lock, then both rows and their log entries with COMMIT.
    const together = await calls(() => Promise.all([store.set('g', 'c', '4'), store.set('g', 'd', '5')]))
    const batch = together.sent.filter((c) => /\b(BEGIN|COMMIT)\b/.test(c.text))
    assert.equal(batch.length, 2)
    assert.equal(batch[0].client, batch[1].client)
    assert.match(batch[0].text, /^BEGIN; /)
    assert.match(batch[1].text, /; COMMIT$/)
    assert.deepEqual([(await events.next()).value.key, (await events.next()).value.key], ['c', 'd'])
    const seen = []
    for await (const e of store.watch('g', '*', { since: 1 })) {
      seen.push(`${e.type} ${e.key} ${e.value ?? ''}`)
      if (e.key === 'd') break
    }
    assert.deepEqual(seen, ['set a 1', 'set a 2', 'delete a ', 'set b 3', 'delete b ', 'set c 4', 'set d 5'])
  })


  it('lone writes still prune the change log as they go: the one due to prune runs as a transaction', async (t) => {
    const schema = await withSchema(t)
    let now = 1_700_000_000_000
    const store = await Store.open(url, { schema, purgeInterval: 0, now: () => now, changeRetention: { maxAge: 0, maxCount: 10 } })
    t.after(() => store.close())
    const kinds = { call: 0, transaction: 0 }
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        const { sent } = await calls(() => store.set('g', `k${round}-${i}`, 'v'))
        kinds[sent.some((c) => /^BEGIN\b/.test(c.text)) ? 'transaction' : 'call']++
      }
      now += 1_000 // a second later by the store's clock: the next write prunes
    }
    assert.deepEqual(kinds, { call: 95, transaction: 5 })
    const client = await admin()
    t.after(() => client.end())
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".kv_changes`)
    assert.ok(rows[0].n <= 10 + 19, `the log holds ${rows[0].n} entries`)
  })

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
    assert.equal(r.rows[0].n, 6)
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
    for (const write of [() => store.set('g', 'k', "it's"), () => store.delete('g', 'k')]) {
      const { texts } = await sent(write)
      assert.equal(texts.length, 1)
      assert.match(texts[0], /^BEGIN; .*; COMMIT$/s)
    }
    const events = []
    for await (const e of store.watch('g', '*', { since: 0 })) {
      events.push(`${e.type} ${e.key} ${e.value ?? ''}`)
      if (events.length === 3) break
    }
    assert.deepEqual(events, ['set n 3', "set k it's", 'delete k '])
  })
})
