// Runs the conformance suite on PostgreSQL (GROUPSTORE_TEST_PG), each store in
// its own table of a schema made for this run and dropped after it, then the
// tests only PostgreSQL has: many processes, pools, connections.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { QuotaExceededError, Store, StoreError } from 'groupstore'
import { PostgresQueries, PostgresSql } from '../dist/backend/postgres/postgres-queries.js'
import { conformance } from './conformance/index.js'
import { runTogether } from './helpers/processes.js'
import { brief, clock, take } from './conformance/helpers.js'
import { admin, backends, proxy, terminate, testSchema, unavailable, unique, until, url, withApplicationName, withSearchPath } from './postgres/server.js'

const skip = await unavailable()
const schema = skip ? undefined : testSchema('groupstore_test')
let tables = 0

/** Opens a store on a fresh table of this run's schema (options that are not an object, or are an array, go as they are). */
function open(options, location = url) {
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) return Store.open(location, options)
  return Store.open(location, { schema, table: `s${tables++}`, ...options })
}

await conformance('postgres', {
  open: (options) => open(options),
  // For child processes, which pass no options: the run's schema through the search_path, table kv.
  location: () => withSearchPath(url, schema),
  skip,
  capabilities: { changeLog: true },
})

const worker = fileURLToPath(new URL('./postgres/worker.js', import.meta.url))

/** Starts `tasks` in one worker process each, released together; answers their outcomes. */
function runWorkers(tasks) {
  return runTogether(worker, tasks.map((task) => ({ url, ...task })))
}

describe('postgres backend', { skip }, () => {
  let client
  before(async () => {
    client = await admin()
  })
  after(() => client?.end())

  describe('opening', () => {
    it('creates its schema and tables once when four processes open a new store at once', async (t) => {
      const fresh = unique('groupstore_open')
      t.after(() => client.query(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`))
      const outcomes = await runWorkers([0, 1, 2, 3].map((id) => ({ kind: 'open', id, schema: fresh, table: 'kv' })))
      assert.deepEqual(outcomes.map((o) => o.ok), [1, 1, 1, 1])
      const store = await Store.open(url, { schema: fresh })
      t.after(() => store.close())
      assert.deepEqual(Object.keys(await store.getAll('opened')).sort(), ['worker-0', 'worker-1', 'worker-2', 'worker-3'])
    })

    it('opens an existing store without changing it, and many stores share one database', async (t) => {
      const table = unique('shared')
      const a = await Store.open(url, { schema, table })
      t.after(() => a.close())
      await a.set('g', 'k', 'a')
      const again = await Store.open(url, { schema, table })
      t.after(() => again.close())
      assert.equal(await again.get('g', 'k'), 'a')
      const other = await open()
      t.after(() => other.close())
      assert.equal(await other.get('g', 'k'), undefined)
    })

    it('opens a postgresql:// location as the same store as its postgres:// spelling', async (t) => {
      const table = unique('scheme')
      const spelled = url.replace(/^postgres(ql)?:/i, 'postgresql:')
      assert.match(spelled, /^postgresql:\/\//)
      const a = await Store.open(spelled, { schema, table })
      t.after(() => a.close())
      await a.set('g', 'k', 'through postgresql://')
      const b = await Store.open(url.replace(/^postgres(ql)?:/i, 'postgres:'), { schema, table })
      t.after(() => b.close())
      assert.equal(await b.get('g', 'k'), 'through postgresql://')
    })

    it('keeps the kv columns of the SQLite schema, ordered by code point, and a revision per row', async (t) => {
      const table = unique('columns')
      const store = await Store.open(url, { schema, table })
      t.after(() => store.close())
      const r = await client.query(
        `SELECT column_name, data_type, collation_name FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [schema, table],
      )
      assert.deepEqual(
        r.rows.map((c) => [c.column_name, c.data_type, c.collation_name]),
        [
          ['grp', 'text', 'C'],
          ['key', 'text', 'C'],
          ['value', 'text', null],
          ['expires_at', 'bigint', null],
          ['revision', 'bigint', null],
        ],
      )
      await store.set('g', 'k', 'v', { ttl: 1000 })
      const row = await client.query(`SELECT expires_at FROM "${schema}"."${table}"`)
      assert.equal(typeof row.rows[0].expires_at, 'string') // BIGINT milliseconds
      assert.ok(Math.abs(Number(row.rows[0].expires_at) - (Date.now() + 1000)) < 60_000)
    })

    it('refuses a table that is not a groupstore table', async (t) => {
      const table = unique('foreign')
      await client.query(`CREATE TABLE "${schema}"."${table}" (id int)`)
      await client.query(`CREATE TABLE "${schema}"."${table}_changes" (id int)`)
      await client.query(`CREATE TABLE "${schema}"."${table}_revision" (id int)`)
      await assert.rejects(Store.open(url, { schema, table }), (err) => {
        assert.ok(err instanceof StoreError)
        assert.match(err.message, /^Store\.open: .*no column 'grp': not a groupstore table/)
        return true
      })
    })

    it('rejects an unreachable server with a StoreError naming it, without the password', async (t) => {
      await assert.rejects(Store.open('postgres://someone:secret@127.0.0.1:1/none'), (err) => {
        assert.ok(err instanceof StoreError)
        assert.match(err.message, /^Store\.open: cannot connect to postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/none/)
        assert.equal(err.code, 'ERR_STORE_UNAVAILABLE')
        assert.doesNotMatch(err.message, /secret/)
        assert.ok(err.cause)
        return true
      })
    })
  })

  describe('stored text', () => {
    it('stores U+0000 and U+0001 exactly, keeping code-point order and literal prefixes', async (t) => {
      const store = await open()
      t.after(() => store.close())
      const keys = ['', '\0', '\0\0', '\0\u0001', '\u0001', '\u0001\0', '\u0001\u0001', '\u0001\u0002', '\u0002', 'a\0b', 'a', '\uffff', '😀']
      for (const k of keys) await store.set('g\0', k, `v${k}\0`)
      const byCodePoint = (a, b) => {
        const x = Array.from(a, (c) => c.codePointAt(0))
        const y = Array.from(b, (c) => c.codePointAt(0))
        for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i]
        return x.length - y.length
      }
      const page = await store.page('g\0', { limit: 100 })
      assert.deepEqual(page.entries.map(([k]) => k), [...keys].sort(byCodePoint))
      for (const [k, v] of page.entries) assert.equal(v, `v${k}\0`)
      for (const prefix of ['\0', '\u0001', '\u0001\0', 'a', '']) {
        const got = (await store.page('g\0', { prefix, limit: 100 })).entries.map(([k]) => k)
        assert.deepEqual(got, keys.filter((k) => k.startsWith(prefix)).sort(byCodePoint), `prefix ${JSON.stringify(prefix)}`)
      }
      assert.deepEqual(await store.groups(), ['g\0'])
      assert.equal(await store.countAll('g'), keys.length)
      assert.equal(await store.countAll('g\0'), keys.length)
      assert.equal(await store.countAll('g\u0001'), 0)
    })

    it('orders and prefix-matches any strings as JavaScript compares code points', async (t) => {
      const store = await open()
      t.after(() => store.close())
      const text = fc.string({ unit: fc.constantFrom('\0', '\u0001', '\u0002', 'a', 'é', '\uffff', '😀'), maxLength: 4 })
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(text, { minLength: 1, maxLength: 12 }), text, async (keys, prefix) => {
          await store.deleteGroup('p')
          for (const k of keys) await store.set('p', k, k)
          const expected = keys
            .filter((k) => k.startsWith(prefix))
            .sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))))
          const got = []
          for await (const [k, v] of store.entries('p', { prefix })) {
            assert.equal(v, k)
            got.push(k)
          }
          assert.deepEqual(got, expected)
        }),
        { numRuns: 40 },
      )
    })

    it('refuses a group and key too long for the index with a RangeError naming the limit, and nothing of the driver', async (t) => {
      const store = await open()
      t.after(() => store.close())
      const long = Array.from({ length: 4000 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 20000))).join('')
      await assert.rejects(store.set('g', long, 'v'), (err) => {
        assert.ok(err instanceof RangeError)
        assert.match(err.message, /^store\.set: the group and key are too long for PostgreSQL's index/)
        assert.doesNotMatch(err.message, /kv_pkey|btree/)
        assert.equal(err.cause.code, '54000')
        return true
      })
      // Written in one batch with others, it fails alone.
      const batch = await Promise.allSettled([store.set('g', 'a', '1'), store.set('g', long, 'v'), store.set('g', 'b', '2')])
      assert.deepEqual(batch.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
      assert.match(batch[1].reason.message, /^store\.set: the group and key are too long/)
      assert.deepEqual(await store.getAll('g'), Object.assign(Object.create(null), { a: '1', b: '2' }))
      await store.deleteGroup('g')
      // In a transaction the upsert may be sent later; whenever it fails, nothing commits.
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.set('g', 'fine', 'v')
          await tx.set('g', long, 'v')
        }),
        (err) => err instanceof RangeError && /too long for PostgreSQL's index/.test(err.message),
      )
      assert.equal(await store.has('g', 'fine'), false)
      const repeated = 'k'.repeat(10_000)
      await store.set('g', repeated, 'v')
      assert.equal(await store.get('g', repeated), 'v')
    })
  })

  describe('query plans', () => {
    it('serves every ranged and point query from an index, never a table scan', async (t) => {
      const table = unique('plans')
      const store = await Store.open(url, { schema, table, purgeInterval: 0 })
      t.after(() => store.close())
      const writes = []
      for (let g = 0; g < 3; g++) for (let k = 0; k < 300; k++) writes.push(store.set(`app:${g}`, `k${k}`, 'v', k % 4 ? undefined : { ttl: 60_000 }))
      for (let g = 0; g < 300; g++) writes.push(store.set(`other:${g}`, 'k', 'v'), store.set(`ap${g}`, 'k', 'v'))
      await Promise.all(writes)
      await client.query(`ANALYZE "${schema}"."${table}"`)
      // The statements exactly as the backend sends them, recorded instead of run.
      const seen = []
      const record = (statement, values) => {
        seen.push({ text: statement.text, values })
        return Promise.resolve({ rows: [], rowCount: 0 })
      }
      const q = new PostgresQueries(new PostgresSql(schema, table), {
        run: record,
        runAtomic: record,
        upsert: () => {},
        append: () => 1,
      })
      const now = Date.now()
      await q.get('app:1', 'k1')
      await q.delete('app:1', 'k1')
      await q.deleteExpired('app:1', 'k1', now)
      await q.deleteGroup('app:1', now)
      await q.deletePrefix('app:', now)
      await q.count('app:1', now)
      await q.countAll('app:', now)
      await q.groups('app:', now)
      await q.countGroups('app:', now)
      await q.groupExists('app:1', now)
      await q.getAll('app:1', now)
      await q.range('app:1', now, { prefix: 'k1', after: 'k10', limit: 10 })
      await q.range('app:1', now, { limit: 10 })
      await q.purgeExpired(now)
      await q.readChanges(0, 10)
      assert.equal(seen.length, 15)
      // Whether the planner may use an index at all, whatever it would pick on this little data.
      await client.query('BEGIN')
      t.after(() => client.query('ROLLBACK'))
      await client.query('SET LOCAL enable_seqscan = off')
      for (const { text, values } of seen) {
        const [{ 'QUERY PLAN': [plan] }] = (await client.query(`EXPLAIN (FORMAT JSON) ${text}`, values)).rows
        const scans = []
        const walk = (node) => {
          // The revision counter is a table of one row, read whole.
          const relation = node['Relation Name']
          if (relation !== undefined && relation !== `${table}_revision`) scans.push(`${node['Node Type']} ${node['Index Name'] ?? ''}`.trim())
          for (const child of node.Plans ?? []) walk(child)
        }
        walk(plan.Plan)
        assert.ok(scans.length > 0, text)
        for (const scan of scans) assert.doesNotMatch(scan, /Seq Scan/, `${scan} in ${text}`)
      }
    })
  })

  describe('quotas', () => {
    it('stays exact with 4 processes of 50 concurrent writers against one maxKeys', async (t) => {
      const table = unique('quota_keys')
      const quota = { maxKeys: 77 }
      const outcomes = await runWorkers(
        [0, 1, 2, 3].map((id) => ({ kind: 'quota', id, schema, table, quota, writers: 50, sameGroup: true })),
      )
      assert.deepEqual(outcomes.flatMap((o) => o.other), [])
      assert.equal(outcomes.reduce((n, o) => n + o.ok, 0), 77)
      assert.equal(outcomes.reduce((n, o) => n + o.quota, 0), 200 - 77)
      const store = await Store.open(url, { schema, table })
      t.after(() => store.close())
      assert.equal(await store.scope('tenant').countAll(), 77)
    })

    it('stays exact with 4 processes of 50 concurrent writers against one maxGroups', async (t) => {
      const table = unique('quota_groups')
      const quota = { maxGroups: 9 }
      const outcomes = await runWorkers(
        [0, 1, 2, 3].map((id) => ({ kind: 'quota', id, schema, table, quota, writers: 50, sameGroup: false })),
      )
      assert.deepEqual(outcomes.flatMap((o) => o.other), [])
      assert.equal(outcomes.reduce((n, o) => n + o.ok, 0), 9)
      const store = await Store.open(url, { schema, table })
      t.after(() => store.close())
      assert.equal((await store.scope('tenant').groups()).length, 9)
    })

    it('stays exact across two stores on separate pools in one process', async (t) => {
      const table = unique('quota_pools')
      const a = await Store.open(url, { schema, table, poolSize: 3 })
      const b = await Store.open(url, { schema, table, poolSize: 3 })
      t.after(() => Promise.all([a.close(), b.close()]))
      const quota = { maxKeys: 25 }
      const writes = []
      for (let i = 0; i < 40; i++) {
        writes.push(a.scope('t', { quota }).set('g', `a${i}`, 'v'), b.scope('t', { quota }).set('g', `b${i}`, 'v'))
      }
      const results = await Promise.allSettled(writes)
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 25)
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof QuotaExceededError)
      assert.equal(await b.scope('t').count('g'), 25)
    })
  })

  describe('two stores on one table, as two processes would have', () => {
    for (const changeLog of [true, false]) {
      it(`keep revisions, conditions, counters and quotas across them (changeLog: ${changeLog})`, async (t) => {
        const table = unique('two')
        const now = clock()
        const a = await Store.open(url, { schema, table, poolSize: 3, changeLog, now, purgeInterval: 0 })
        const b = await Store.open(url, { schema, table, poolSize: 3, changeLog, now, purgeInterval: 0 })
        t.after(() => Promise.all([a.close(), b.close()]))
        const watcher = changeLog ? a.watch('*', '*') : undefined
        t.after(() => watcher?.close())
        // Revisions: each write its own, whichever store made it; both read the same entry.
        const revisions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).set('g', `k${i % 4}`, String(i))))
        assert.equal(new Set(revisions).size, 40)
        for (const k of ['k0', 'k1', 'k2', 'k3']) assert.deepEqual(await a.getEntry('g', k), await b.getEntry('g', k))
        assert.equal(await a.setMany('g', {}), Math.max(...revisions))
        // A condition read on one store fails once the other has written the key.
        const seen = (await a.getEntry('g', 'k0')).revision
        const written = await b.set('g', 'k0', 'by b', { ifRevision: seen })
        assert.ok(written > seen)
        assert.equal(await a.set('g', 'k0', 'by a', { ifRevision: seen }), false)
        assert.equal(await a.delete('g', 'k0', { ifRevision: seen }), false)
        assert.equal(await a.delete('g', 'k0', { ifRevision: written }), true)
        // Conditions and counters are atomic across them, issued alone or together.
        const locks = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).set('locks', 'one', `w${i}`, { ifAbsent: true })))
        assert.equal(locks.filter((r) => r !== false).length, 1)
        const counts = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).increment('c', 'n')))
        assert.deepEqual(counts.sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i + 1))
        // A quota holds against increments, ifAbsent sets and setMany from both.
        const quota = { maxKeys: 10 }
        const tries = Array.from({ length: 30 }, (_, i) => {
          const tenant = (i % 2 ? a : b).scope('t', { quota })
          if (i % 3 === 0) return tenant.increment('q', `n${i}`).then(() => 1)
          if (i % 3 === 1) return tenant.set('q', `k${i}`, 'v', { ifAbsent: true }).then(() => 1)
          return tenant.setMany('q', { [`m${i}`]: '1', [`x${i}`]: '2' }).then(() => 2)
        })
        const outcomes = await Promise.allSettled(tries)
        for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof QuotaExceededError, String(o.reason))
        const created = outcomes.reduce((n, o) => n + (o.status === 'fulfilled' ? o.value : 0), 0)
        assert.ok(created >= 9 && created <= 10, `${created} keys created`)
        assert.equal(await b.scope('t').countAll(), created)
        // A key one store wrote expires for the other, which removes it once.
        await a.set('ttl', 'k', 'v', { ttl: 1000 })
        now.advance(1000)
        assert.equal(await b.get('ttl', 'k'), undefined)
        assert.equal(await a.has('ttl', 'k'), false)
        const latest = await a.revision()
        assert.equal(await b.revision(), latest)
        if (watcher === undefined) return
        // A's watcher sees both stores' changes once each, in revision order, the expiry included.
        const events = []
        while (events.at(-1)?.revision !== latest) events.push(...(await take(watcher, 1)))
        assert.deepEqual(events.map((e) => e.revision), Array.from({ length: events.length }, (_, i) => events[0].revision + i))
        assert.deepEqual(brief(events.slice(-2)), ['set ttl/k=v', 'expire ttl/k'])
      })
    }
  })

  describe('pools and transactions', () => {
    it('shares data between two stores on separate pools', async (t) => {
      const table = unique('pools')
      const a = await Store.open(url, { schema, table, poolSize: 2 })
      const b = await Store.open(url, { schema, table, poolSize: 2 })
      t.after(() => Promise.all([a.close(), b.close()]))
      await a.set('g', 'k', 'from a')
      assert.equal(await b.get('g', 'k'), 'from a')
      assert.equal(await b.delete('g', 'k'), true)
      assert.equal(await a.has('g', 'k'), false)
    })

    it('opens at most poolSize connections, however many calls run at once', async (t) => {
      for (const poolSize of [1, 3]) {
        const app = unique('gs_pool')
        const store = await open({ poolSize }, withApplicationName(url, app))
        t.after(() => store.close())
        await store.set('g', 'k', 'v')
        let most = 0
        const calls = Array.from({ length: 100 }, (_, i) => (i % 4 === 0 ? store.set('g', `k${i}`, 'v') : store.getAll('g')))
        const sampling = (async () => {
          for (let i = 0; i < 5; i++) most = Math.max(most, (await backends(client, app)).length)
        })()
        await Promise.all([...calls, sampling])
        most = Math.max(most, (await backends(client, app)).length)
        assert.ok(most >= 1 && most <= poolSize, `poolSize ${poolSize}: ${most} connections`)
      }
    })

    it('runs a transaction on one connection while reads outside run on others and see none of it', async (t) => {
      const app = unique('gs_tx')
      const store = await open({ poolSize: 3 }, withApplicationName(url, app))
      t.after(() => store.close())
      await store.set('g', 'k', 'before')
      let entered
      const inside = new Promise((resolve) => (entered = resolve))
      let release
      const gate = new Promise((resolve) => (release = resolve))
      const pids = []
      const done = store.transaction(async (tx) => {
        await tx.set('g', 'k', 'inside')
        pids.push(await backends(client, app, "state = 'idle in transaction'"))
        await tx.set('g', 'other', 'x')
        assert.equal(await tx.get('g', 'k'), 'inside')
        pids.push(await backends(client, app, "state = 'idle in transaction'"))
        entered()
        await gate
        return 'done'
      })
      await inside
      // Outside the callback: answered at once on another connection, without the uncommitted write.
      assert.equal(await store.get('g', 'k'), 'before')
      assert.equal(await store.has('g', 'other'), false)
      release()
      assert.equal(await done, 'done')
      assert.equal(pids[0].length, 1)
      assert.deepEqual(pids[1], pids[0])
      assert.equal(await store.get('g', 'k'), 'inside')
    })

    it('serialises transactions of two stores so no update is lost', async (t) => {
      const table = unique('counter')
      const a = await Store.open(url, { schema, table })
      const b = await Store.open(url, { schema, table })
      t.after(() => Promise.all([a.close(), b.close()]))
      const increment = (store) =>
        store.transaction(async (tx) => {
          const n = Number((await tx.get('c', 'n')) ?? 0)
          await tx.set('c', 'n', String(n + 1))
        })
      await Promise.all(Array.from({ length: 10 }, (_, i) => increment(i % 2 === 0 ? a : b)))
      assert.equal(await a.get('c', 'n'), '10')
    })

    it('waits busyTimeout for another store’s write lock, then rejects with a StoreError', async (t) => {
      const table = unique('busy')
      const holder = await Store.open(url, { schema, table })
      const waiter = await Store.open(url, { schema, table, busyTimeout: 50 })
      const impatient = await Store.open(url, { schema, table, busyTimeout: 0 })
      t.after(() => Promise.all([holder.close(), waiter.close(), impatient.close()]))
      let entered
      const inside = new Promise((resolve) => (entered = resolve))
      let release
      const gate = new Promise((resolve) => (release = resolve))
      const held = holder.transaction(async (tx) => {
        await tx.set('g', 'k', 'held')
        entered()
        await gate
      })
      await inside
      for (const [store, ms] of [[waiter, 50], [impatient, 0]]) {
        await assert.rejects(store.set('g', 'k', 'other'), (err) => {
          assert.ok(err instanceof StoreError)
          assert.equal(err.message, `store.set: the store is locked by another connection (waited busyTimeout ${ms} ms)`)
          assert.equal(err.code, 'ERR_STORE_BUSY')
          assert.equal(err.name, 'StoreError')
          return true
        })
      }
      assert.equal(await waiter.get('g', 'k'), undefined)
      release()
      await held
      await waiter.set('g', 'k', 'after')
      assert.equal(await holder.get('g', 'k'), 'after')
    })
  })

  describe('change feed across connections', () => {
    it('a watcher and onChange on store A see what store B on another pool commits, in revision order', async (t) => {
      const table = unique('feed_pools')
      const a = await Store.open(url, { schema, table })
      const b = await Store.open(url, { schema, table })
      t.after(() => Promise.all([a.close(), b.close()]))
      const watcher = a.watch('*', '*', { bufferSize: 4 })
      t.after(() => watcher.close())
      const callbacks = []
      a.onChange((e) => callbacks.push(e))
      await b.set('g', 'from-b', 'nul\0')
      await a.set('g', 'from-a', '2')
      await b.transaction(async (tx) => {
        await tx.delete('g', 'from-b')
        await tx.set('h', 'in-tx', '3')
      })
      const writes = []
      for (let i = 0; i < 40; i++) writes.push((i % 2 ? a : b).set('c', `k${i}`, String(i)))
      await Promise.all(writes)
      const events = await take(watcher, 44)
      assert.deepEqual(events.slice(0, 4).map((e) => [e.type, e.group, e.key, e.value]), [
        ['set', 'g', 'from-b', 'nul\0'],
        ['set', 'g', 'from-a', '2'],
        ['delete', 'g', 'from-b', undefined],
        ['set', 'h', 'in-tx', '3'],
      ])
      const first = events[0].revision
      assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 44 }, (_, i) => first + i))
      assert.equal(new Set(events.slice(4).map((e) => e.key)).size, 40)
      await until('callbacks to see every revision', () => callbacks.length === 44)
      assert.deepEqual(callbacks.map((e) => e.revision), events.map((e) => e.revision))
      assert.equal(await b.revision(), first + 43)
    })

    it('a parent watches what a child process writes', async (t) => {
      const table = unique('feed_child')
      const store = await Store.open(url, { schema, table })
      t.after(() => store.close())
      const watcher = store.watch('child', '*')
      t.after(() => watcher.close())
      const [outcome] = await runWorkers([{ kind: 'write', schema, table, count: 20 }])
      assert.equal(outcome.ok, 20)
      const events = await take(watcher, 20)
      assert.deepEqual(events.map((e) => [e.key, e.value]), Array.from({ length: 20 }, (_, i) => [`k${i}`, `v${i}\0`]))
    })

    it('catches up from its last revision after its LISTEN connection drops', async (t) => {
      const app = unique('gs_listen')
      const table = unique('feed_drop')
      const watching = await Store.open(withApplicationName(url, app), { schema, table })
      const writer = await Store.open(url, { schema, table })
      t.after(() => Promise.all([watching.close(), writer.close()]))
      const watcher = watching.watch('*', '*')
      t.after(() => watcher.close())
      const listening = "query LIKE 'LISTEN %'"
      await until('the LISTEN connection', () => backends(client, app, listening).then((p) => p.length === 1))
      await writer.set('g', 'before', '1')
      assert.equal((await take(watcher, 1))[0].key, 'before')
      assert.equal(await terminate(client, app, listening), 1)
      // Written while nobody listens: only the catch-up after reconnecting can deliver these.
      await writer.set('g', 'during', '2')
      await writer.set('g', 'during', '3')
      await until('a new LISTEN connection', () => backends(client, app, listening).then((p) => p.length === 1))
      await writer.set('g', 'after', '4')
      const events = await take(watcher, 3)
      assert.deepEqual(events.map((e) => [e.key, e.value]), [['during', '2'], ['during', '3'], ['after', '4']])
    })
  })

  describe('dropped connections', () => {
    it('replaces pooled connections the server terminated, for reads and writes', async (t) => {
      const app = unique('gs_idle')
      const store = await open({ poolSize: 4 }, withApplicationName(url, app))
      t.after(() => store.close())
      await Promise.all([store.set('g', 'k', 'v'), store.get('g', 'k'), store.count('g'), store.groups()])
      assert.ok((await terminate(client, app)) > 0)
      await until('the connections to close', async () => (await backends(client, app)).length === 0)
      assert.deepEqual(await Promise.all([store.get('g', 'k'), store.count('g'), store.has('g', 'k')]), ['v', 1, true])
      await store.set('g', 'k2', 'v2')
      assert.equal(await store.get('g', 'k2'), 'v2')
    })

    /** A store on its own table whose row ('g', 'k') = 'old' is locked by another connection. */
    async function lockedRow(t) {
      const app = unique('gs_drop')
      const table = unique('drop')
      const store = await Store.open(withApplicationName(url, app), { schema, table })
      t.after(() => store.close())
      await store.set('g', 'k', 'old')
      const locker = await admin()
      t.after(() => locker.end())
      await locker.query('BEGIN')
      // A row lock without a write: a write outside the package would also take the store's write lock.
      await locker.query(`SELECT 1 FROM "${schema}"."${table}" WHERE grp = 'g' AND key = 'k' FOR UPDATE`)
      const waiting = () => backends(client, app, "wait_event_type = 'Lock'")
      return { store, locker, waiting }
    }

    // A write alone in its commit group is one call that commits as it answers
    // (see test/postgres-one-statement.test.js); these write two keys, so that
    // they run as a transaction with a BEGIN and a COMMIT of its own.
    it('retries a write whose connection dropped before it committed', async (t) => {
      const { store, locker, waiting } = await lockedRow(t)
      const write = store.deleteMany('g', ['k', 'other']) // its DELETE waits for the row lock
      const [first] = await until('the write to wait for the row lock', () => waiting().then((p) => p.length === 1 && p))
      await client.query('SELECT pg_terminate_backend($1)', [first])
      await until('the write to wait again on a new connection', () =>
        waiting().then((p) => p.length === 1 && p[0] !== first),
      )
      await locker.query('COMMIT')
      assert.equal(await write, 1)
      assert.equal(await store.get('g', 'k'), undefined)
    })

    it('asks the server whether a write whose connection dropped while committing was applied, and runs it again when not', async (t) => {
      const { store, locker, waiting } = await lockedRow(t)
      const write = store.setMany('g', { k: 'mine', other: 'mine' }) // the upserts are sent with the COMMIT, which waits for the row lock
      const [first] = await until('the write to wait for the row lock', () => waiting().then((p) => p.length === 1 && p))
      await client.query('SELECT pg_terminate_backend($1)', [first])
      // The server answers that the transaction aborted (txid_status): nothing was applied, so it runs again.
      await until('the write to wait again on a new connection', () =>
        waiting().then((p) => p.length === 1 && p[0] !== first),
      )
      await locker.query('ROLLBACK')
      assert.equal(typeof (await write), 'number')
      assert.equal(await store.get('g', 'k'), 'mine')
    })

    it('rejects with a StoreError while the server is away, and works again when it is back', async (t) => {
      const server = await proxy()
      t.after(() => server.down())
      const store = await Store.open(server.url, { schema, table: unique('away') })
      t.after(() => store.close())
      await store.set('g', 'k', 'v')
      await server.down()
      // The transaction first: a lone set sent on a pooled connection that the
      // server has dropped could not tell whether it was applied.
      for (const attempt of [store.setMany('g', { k: 'w' }), store.get('g', 'k'), store.set('g', 'k', 'w')]) {
        await assert.rejects(attempt, (err) => {
          assert.ok(err instanceof StoreError)
          assert.match(err.message, /^store\.(setMany|get|set): (cannot reach|lost the connection to) PostgreSQL/)
          assert.equal(err.code, 'ERR_STORE_UNAVAILABLE')
          assert.ok(err.cause)
          return true
        })
      }
      await server.up()
      assert.equal(await store.get('g', 'k'), 'v')
      await store.set('g', 'k', 'back')
      assert.equal(await store.get('g', 'k'), 'back')
    })

    it('fails a transaction whose connection dropped with a StoreError, committing nothing', async (t) => {
      const app = unique('gs_txdrop')
      const store = await open({}, withApplicationName(url, app))
      t.after(() => store.close())
      for (const swallow of [false, true]) {
        const result = store.transaction(async (tx) => {
          await tx.set('g', 'k', 'uncommitted')
          assert.equal(await terminate(client, app, "state = 'idle in transaction'"), 1)
          let caught
          try {
            await tx.get('g', 'k2')
          } catch (err) {
            caught = err
          }
          assert.ok(caught instanceof StoreError)
          assert.match(caught.message, /^tx\.get: lost the connection to PostgreSQL/)
          assert.equal(caught.code, 'ERR_STORE_UNAVAILABLE')
          if (!swallow) throw caught
        })
        await assert.rejects(result, (err) => {
          assert.ok(err instanceof StoreError)
          assert.ok(err.cause)
          assert.match(err.message, /lost the connection to PostgreSQL/)
          assert.equal(err.code, 'ERR_STORE_UNAVAILABLE')
          return true
        })
        assert.equal(await store.get('g', 'k'), undefined)
        assert.equal(await store.get('g', 'k2'), undefined)
      }
      await store.set('g', 'k', 'later')
      assert.equal(await store.get('g', 'k'), 'later')
    })
  })
})

describe('postgres options', () => {
  it('refuses PostgreSQL-only options for SQLite locations', async (t) => {
    for (const options of [{ poolSize: 2 }, { schema: 's' }, { table: 't' }]) {
      await assert.rejects(Store.open(':memory:', options), (err) => {
        assert.ok(err instanceof TypeError)
        assert.match(err.message, /^Store\.open: options\.\w+ applies only to postgres:\/\/ locations$/)
        return true
      })
    }
  })

  it('validates poolSize, schema and table before connecting', async (t) => {
    const nowhere = 'postgres://nobody@127.0.0.1:1/none'
    await assert.rejects(Store.open(nowhere, { poolSize: 0 }), RangeError)
    await assert.rejects(Store.open(nowhere, { poolSize: 1.5 }), TypeError)
    await assert.rejects(Store.open(nowhere, { table: 'a-b' }), /options\.table must be a letter or '_'/)
    await assert.rejects(Store.open(nowhere, { table: 'x'.repeat(41) }), TypeError)
    await assert.rejects(Store.open(nowhere, { schema: '"; DROP' }), TypeError)
    await assert.rejects(Store.open(nowhere, { schema: 1 }), TypeError)
  })

  it('tells the user to install pg when it is missing', async (t) => {
    const script = [
      "import { register } from 'node:module'",
      "register('data:text/javascript,' + encodeURIComponent(`export async function resolve(s, c, next) { if (s === 'pg') { const e = new Error(\"Cannot find package 'pg'\"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e } return next(s, c) }`))",
      "const { Store } = await import('groupstore')",
      "try { await Store.open('postgres://nobody@127.0.0.1:1/none'); console.log('opened') }",
      'catch (err) { console.log(JSON.stringify({ name: err.name, message: err.message })) }',
    ].join('\n')
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    await new Promise((resolve) => child.once('exit', resolve))
    const err = JSON.parse(out)
    assert.equal(err.name, 'StoreError')
    assert.match(err.message, /^Store\.open: postgres:\/\/ locations need the 'pg' package.*npm install pg/)
  })
})
