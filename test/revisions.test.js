// Revisions on a file and on PostgreSQL beyond the conformance suite: kept
// across restarts with or without the change log, renewed by writes made
// outside the package (raw SQL, go-store's statements, the sqlite3 shell),
// given to rows of older files, and conditional writes and counters that stay
// atomic across processes, and quotas they never push past.
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { runTogether } from './helpers/processes.js'
import { fixtureCopy, tempDir } from './helpers/sqlite.js'
import { admin, dropSchema, unavailable, unique, url } from './postgres/server.js'

const worker = fileURLToPath(new URL('./helpers/atomic-worker.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../', import.meta.url))

async function open(t, location, options) {
  const store = await Store.open(location, { purgeInterval: 0, ...options })
  t.after(() => store.close())
  return store
}

/** The sqlite3 shell, when installed. */
function sqliteShell() {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Checks that 4 processes racing on `location` get one ifAbsent winner and exact increments. */
async function raceProcesses(location, options) {
  const base = { location, options }
  const locks = await runTogether(worker, [0, 1, 2, 3].map((id) => ({ ...base, id, kind: 'ifAbsent', count: 50 })))
  for (const o of locks) assert.deepEqual(o.errors, [])
  const winners = locks.flatMap((o) => o.won)
  assert.equal(winners.length, 1, `winners: ${winners}`)
  assert.equal(locks.reduce((n, o) => n + o.lost, 0), 199)
  const counts = await runTogether(worker, [0, 1, 2, 3].map((id) => ({ ...base, id, kind: 'increment', count: 250 })))
  for (const o of counts) assert.deepEqual(o.errors, [])
  const values = counts.flatMap((o) => o.values).sort((a, b) => a - b)
  assert.deepEqual(values, Array.from({ length: 1000 }, (_, i) => i + 1), 'every increment saw a distinct value')
  const store = await Store.open(location, { purgeInterval: 0, ...options })
  try {
    assert.equal(await store.get('counters', 'n'), '1000')
    assert.equal((await store.getEntry('locks', 'one')).revision, winners[0])
    const revision = await store.set('locks', 'rev', 'base')
    const sets = await runTogether(worker, [0, 1, 2, 3].map((id) => ({ ...base, id, kind: 'ifRevision', revision, count: 25 })))
    for (const o of sets) assert.deepEqual(o.errors, [])
    const setWinners = sets.flatMap((o) => o.won)
    assert.equal(setWinners.length, 1, `ifRevision winners: ${setWinners}`)
    assert.equal((await store.getEntry('locks', 'rev')).revision, setWinners[0])
    // Every kind of write that adds a key, 4 x 30 of them racing for 25 places.
    const quota = await runTogether(worker, [0, 1, 2, 3].map((id) => ({ ...base, id, kind: 'quota', maxKeys: 25, count: 30 })))
    for (const o of quota) assert.deepEqual(o.errors, [])
    assert.equal(quota.reduce((n, o) => n + o.won.length, 0), 25)
    assert.equal(quota.reduce((n, o) => n + o.refused, 0), 120 - 25)
    assert.equal(await store.scope('quota').countAll(), 25)
  } finally {
    await store.close()
  }
}

describe('revisions on a file', () => {
  for (const changeLog of [true, false]) {
    it(`are kept across restarts and shared by every store on the file (changeLog: ${changeLog})`, async (t) => {
      const path = join(tempDir(t), 'restart.db')
      const first = await Store.open(path, { changeLog })
      const r1 = await first.set('g', 'k', 'v')
      const r2 = await first.increment('g', 'n')
      await first.close()
      const second = await open(t, path, { changeLog })
      const other = await open(t, path, { changeLog: !changeLog })
      assert.equal((await second.getEntry('g', 'k')).revision, r1)
      assert.equal(r2, 1)
      const r3 = await second.set('g', 'k', 'w', { ifRevision: r1 })
      assert.ok(r3 > r1)
      const r4 = await other.set('g', 'x', 'y')
      assert.ok(r4 > r3, 'a store without the other log setting continues the same revisions')
      const r5 = await second.set('g', 'z', '1')
      assert.ok(r5 > r4)
      assert.equal(await second.revision(), r5)
    })
  }

  it('a watcher reads past revisions the log does not hold (a store without the log, a write outside the package), dropping nothing', async (t) => {
    const path = join(tempDir(t), 'holes.db')
    const logged = await open(t, path)
    const quiet = await open(t, path, { changeLog: false })
    const since = await logged.revision()
    const r1 = await logged.set('g', 'a', '1')
    const hole = await quiet.set('g', 'quiet', 'x')
    const raw = new Database(path)
    t.after(() => raw.close())
    raw.prepare("INSERT INTO kv (grp, key, value) VALUES ('g', 'raw', 'y')").run()
    const r2 = await logged.set('g', 'b', '2')
    assert.ok(r1 < hole && hole < r2 - 1, `${r1} ${hole} ${r2}`)
    const watcher = logged.watch('g', '*', { since })
    const seen = []
    for await (const e of watcher) {
      seen.push([e.key, e.revision, e.missed])
      if (e.key === 'b') break
    }
    assert.deepEqual(seen, [['a', r1, undefined], ['b', r2, undefined]])
    assert.equal(watcher.dropped, 0)
  })

  it('a watcher that has read everything the log holds, with unlogged revisions after it, waits for the next logged write', async (t) => {
    // Run in a child: a watcher that kept reading the log in a loop of
    // promises would starve the event loop, timers included.
    const path = join(tempDir(t), 'head-holes.db')
    const script = `
      import { Store } from 'groupstore'
      const path = process.argv[1]
      const logged = await Store.open(path, { purgeInterval: 0 })
      const quiet = await Store.open(path, { purgeInterval: 0, changeLog: false })
      const since = await logged.revision()
      await logged.set('g', 'a', '1')
      await quiet.set('g', 'quiet', 'x')
      await quiet.set('g', 'quiet', 'y')
      const watcher = logged.watch('g', '*', { since })
      const seen = [(await watcher.next()).value.key]
      const pending = watcher.next()
      let ticked = false
      await new Promise((resolve) => setTimeout(() => { ticked = true; resolve() }, 20))
      await logged.set('g', 'b', '2')
      seen.push((await pending).value.key)
      process.stdout.write(JSON.stringify({ seen, ticked, dropped: watcher.dropped }))
      watcher.close()
      await Promise.all([logged.close(), quiet.close()])`
    const out = await new Promise((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script, path], { cwd: ROOT, timeout: 10_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
        resolve({ err, stdout, stderr }),
      )
    })
    assert.equal(out.err?.killed ?? false, false, 'the watcher spun: the child never ended')
    assert.equal(out.err, null, out.stderr)
    assert.deepEqual(JSON.parse(out.stdout), { seen: ['a', 'b'], ticked: true, dropped: 0 })
  })

  it('a write made outside the package gives the key a new revision, so a pending ifRevision fails', async (t) => {
    const path = join(tempDir(t), 'outside.db')
    const store = await open(t, path)
    const mine = await store.set('config', 'limits', 'a')
    const raw = new Database(path)
    t.after(() => raw.close())
    raw.prepare("UPDATE kv SET value = 'by hand' WHERE grp = 'config' AND key = 'limits'").run()
    raw.prepare("INSERT INTO kv (grp, key, value, expires_at) VALUES ('config', 'fresh', 'raw', NULL)").run()
    // go-store's Set.
    raw
      .prepare(
        'INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT(grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
      )
      .run('config', 'go', 'from go', null)
    assert.equal(await store.set('config', 'limits', 'mine', { ifRevision: mine }), false)
    assert.equal(await store.get('config', 'limits'), 'by hand')
    const hand = await store.getEntry('config', 'limits')
    const fresh = await store.getEntry('config', 'fresh')
    const go = await store.getEntry('config', 'go')
    assert.ok(hand.revision > mine)
    assert.ok(fresh.revision > hand.revision && go.revision > fresh.revision)
    const next = await store.set('config', 'other', 'x')
    assert.ok(next > go.revision, 'the package continues after the revisions given outside it')
    assert.equal(typeof (await store.set('config', 'limits', 'mine', { ifRevision: hand.revision })), 'number')
    // go-store's upsert over a key the package wrote renews it too.
    raw
      .prepare('INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(grp, key) DO UPDATE SET value = excluded.value')
      .run('config', 'other', 'go again', null)
    assert.equal(await store.delete('config', 'other', { ifRevision: next }), false)
  })

  it('a logged write leaves the counter table alone; writes without the log and outside the package continue above the log', async (t) => {
    const path = join(tempDir(t), 'counter.db')
    const logged = await open(t, path)
    const raw = new Database(path)
    t.after(() => raw.close())
    const counter = () => raw.prepare('SELECT latest FROM kv_revision').pluck().get()
    const before = counter()
    const r1 = await logged.set('g', 'a', '1')
    await logged.increment('g', 'n')
    const r2 = (await logged.getEntry('g', 'n')).revision
    assert.equal(counter(), before, 'the log’s newest entry holds the latest revision')
    assert.equal(await logged.revision(), r2)
    raw.prepare("INSERT INTO kv (grp, key, value) VALUES ('g', 'raw', 'x')").run()
    const outside = (await logged.getEntry('g', 'raw')).revision
    assert.ok(outside > r2 && r2 > r1, `${r1} ${r2} ${outside}`)
    assert.equal(counter(), outside, 'a trigger writes the revision it gave to the counter')
    const quiet = await open(t, path, { changeLog: false })
    const r3 = await quiet.set('g', 'b', '2')
    assert.ok(r3 > outside)
    assert.equal(counter(), r3, 'a write the log does not hold is written to the counter')
    const r4 = await logged.set('g', 'c', '3')
    assert.ok(r4 > r3)
    assert.equal(await quiet.revision(), r4)
    await logged.close()
    await quiet.close()
    const again = await open(t, path, { changeLog: false })
    assert.ok((await again.set('g', 'd', '4')) > r4, 'after a restart, without the log')
  })

  it('a file with the triggers of an earlier version gets ones that count above the log too', async (t) => {
    const path = join(tempDir(t), 'old-triggers.db')
    const first = await Store.open(path, { purgeInterval: 0 })
    const r1 = await first.set('g', 'a', '1')
    await first.close()
    const raw = new Database(path)
    t.after(() => raw.close())
    const old = 'BEGIN UPDATE kv_revision SET latest = latest + 1; UPDATE kv SET revision = (SELECT latest FROM kv_revision) WHERE rowid = new.rowid; END'
    raw.exec(`DROP TRIGGER kv_revision_insert; DROP TRIGGER kv_revision_update;
      CREATE TRIGGER kv_revision_insert AFTER INSERT ON kv WHEN new.revision IS NULL ${old};
      CREATE TRIGGER kv_revision_update AFTER UPDATE ON kv WHEN new.revision IS old.revision ${old};
      UPDATE kv_revision SET latest = 0;`)
    const store = await open(t, path)
    const r2 = await store.set('g', 'b', '2')
    assert.ok(r2 > r1)
    raw.prepare("UPDATE kv SET value = 'by hand' WHERE grp = 'g' AND key = 'a'").run()
    const hand = (await store.getEntry('g', 'a')).revision
    assert.ok(hand > r2, `${r2} ${hand}`)
  })

  it('a write from the sqlite3 shell renews the revision', { skip: sqliteShell() ? false : 'the sqlite3 shell is not installed' }, async (t) => {
    const path = join(tempDir(t), 'shell.db')
    const store = await open(t, path)
    const mine = await store.set('g', 'k', 'v')
    execFileSync('sqlite3', [path, "UPDATE kv SET value = 'shell' WHERE grp = 'g' AND key = 'k';"])
    assert.equal(await store.set('g', 'k', 'mine', { ifRevision: mine }), false)
    const entry = await store.getEntry('g', 'k')
    assert.equal(entry.value, 'shell')
    assert.ok(entry.revision > mine)
  })

  it('rows of a go-store file get a revision when first read, and keep it', async (t) => {
    const path = fixtureCopy(t, 'go-store.db')
    const store = await open(t, path)
    const first = await store.getEntry('config', 'plain')
    assert.equal(first.value, 'hello')
    assert.ok(first.revision > 0)
    assert.deepEqual(await store.getEntry('config', 'plain'), first)
    const other = await store.getEntry('bin', 'emoji')
    assert.ok(other.revision > first.revision)
    assert.equal(await store.set('config', 'plain', 'x', { ifRevision: first.revision + 100 }), false)
    assert.ok((await store.set('config', 'plain', 'x', { ifRevision: first.revision })) > other.revision)
    await store.close()
    const again = await open(t, path)
    assert.equal((await again.getEntry('bin', 'emoji')).revision, other.revision)
  })

  it('a pre-TTL go-store file is upgraded and counts from its rows', async (t) => {
    const path = fixtureCopy(t, 'go-store-pre-ttl.db')
    const store = await open(t, path)
    assert.equal(await store.increment('config', 'visits'), 1)
    assert.ok((await store.getEntry('config', 'theme')).revision > 0)
  })

  it('4 processes on one file: one ifAbsent and one ifRevision winner, increments exact, a quota never passed', async (t) => {
    await raceProcesses(join(tempDir(t), 'race.db'), { durability: 'normal' })
  })
})

const pgSkip = await unavailable()

describe('revisions on PostgreSQL', { skip: pgSkip }, () => {
  const schema = unique('groupstore_rev')
  let client
  let tables = 0
  const table = () => `r${tables++}`
  after(async () => {
    if (client === undefined) return
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })
  const sql = async (text, values) => {
    client ??= await admin()
    return client.query(text, values)
  }

  it('are kept across restarts with changeLog: false, and shared with a store that logs', async (t) => {
    const options = { schema, table: table() }
    const first = await Store.open(url, { ...options, changeLog: false })
    const r1 = await first.set('g', 'k', 'v')
    await first.close()
    const second = await open(t, url, { ...options, changeLog: false })
    const logged = await open(t, url, options)
    assert.equal((await second.getEntry('g', 'k')).revision, r1)
    const r2 = await second.increment('g', 'n')
    assert.equal(r2, 1)
    const r3 = await logged.set('g', 'k', 'w', { ifRevision: r1 })
    assert.ok(r3 > r1)
    assert.equal(await second.revision(), r3)
  })

  it('a write made with raw SQL gives the key a new revision, so a pending ifRevision fails', async (t) => {
    const options = { schema, table: table() }
    const store = await open(t, url, options)
    const mine = await store.set('config', 'limits', 'a')
    const kv = `"${schema}"."${options.table}"`
    await sql(`UPDATE ${kv} SET value = 'by hand' WHERE grp = 'config' AND key = 'limits'`)
    await sql(`INSERT INTO ${kv} (grp, key, value, expires_at) VALUES ('config', 'fresh', 'raw', NULL)`)
    assert.equal(await store.set('config', 'limits', 'mine', { ifRevision: mine }), false)
    const hand = await store.getEntry('config', 'limits')
    const fresh = await store.getEntry('config', 'fresh')
    assert.equal(hand.value, 'by hand')
    assert.ok(hand.revision > mine && fresh.revision > hand.revision)
    const next = await store.set('config', 'other', 'x')
    assert.ok(next > fresh.revision)
    assert.equal(typeof (await store.set('config', 'limits', 'mine', { ifRevision: hand.revision })), 'number')
  })

  it('a table made before revisions is upgraded, and its rows get one when first read', async (t) => {
    const name = table()
    const kv = `"${schema}"."${name}"`
    const first = await Store.open(url, { schema, table: name })
    await first.close()
    // As an earlier version left it: no revision column, no triggers.
    await sql(`DROP TRIGGER "${name}_revise_insert" ON ${kv}; DROP TRIGGER "${name}_revise_update" ON ${kv}`)
    await sql(`ALTER TABLE ${kv} DROP COLUMN revision`)
    await sql(`INSERT INTO ${kv} (grp, key, value) VALUES ('old', 'k', 'v')`)
    const store = await open(t, url, { schema, table: name })
    const entry = await store.getEntry('old', 'k')
    assert.equal(entry.value, 'v')
    assert.ok(entry.revision > 0)
    assert.deepEqual(await store.getEntry('old', 'k'), entry)
    assert.ok((await store.set('old', 'k', 'w', { ifRevision: entry.revision })) > entry.revision)
  })

  it('4 processes: one ifAbsent and one ifRevision winner, increments exact, a quota never passed', async () => {
    const name = table()
    await (await Store.open(url, { schema, table: name })).close()
    await raceProcesses(url, { schema, table: name, poolSize: 4 })
  })
})

describe('round trips on PostgreSQL', { skip: pgSkip }, () => {
  // Every call of pg's Client#query is one round trip to the server: a simple
  // query with several statements is sent and answered as one, an extended one
  // (parse, bind, execute, sync) is pipelined.
  it('a set, a conditional set or an increment with nothing else queued is one round trip', async (t) => {
    const pg = (await import('pg')).default
    const schema = unique('groupstore_trips')
    const store = await open(t, url, { schema })
    t.after(() => dropSchema(schema))
    const query = pg.Client.prototype.query
    let trips = 0
    pg.Client.prototype.query = function (...args) {
      trips++
      return query.apply(this, args)
    }
    t.after(() => {
      pg.Client.prototype.query = query
    })
    const count = async (what) => {
      trips = 0
      const result = await what()
      return { trips, result }
    }
    await store.set('warm', 'k', 'v') // opens a pooled connection
    const plain = await count(() => store.set('g', 'k', 'v'))
    assert.equal(plain.trips, 1, 'a plain set: one call that takes the lock, writes and commits')
    const absent = await count(() => store.set('g', 'lock', 'me', { ifAbsent: true, ttl: 60_000 }))
    assert.equal(absent.trips, 1)
    assert.equal(typeof absent.result, 'number')
    const taken = await count(() => store.set('g', 'lock', 'you', { ifAbsent: true }))
    assert.deepEqual(taken, { trips: 1, result: false })
    const cas = await count(() => store.set('g', 'k', 'w', { ifRevision: plain.result }))
    assert.equal(cas.trips, 1)
    assert.ok(cas.result > absent.result)
    const counter = await count(() => store.increment('g', 'n', 5))
    assert.deepEqual(counter, { trips: 1, result: 5 })
    const many = await count(() => store.getMany('g', ['k', 'n', 'lock']))
    assert.deepEqual(many, { trips: 1, result: ['w', '5', 'me'] })
    // The revisions are the ones the log and getEntry hold.
    const entry = await store.getEntry('g', 'n')
    const seen = []
    for await (const e of store.watch('g', '*', { since: plain.result - 1 })) {
      seen.push([e.key, e.revision])
      if (e.key === 'n') break
    }
    assert.deepEqual(seen, [['k', plain.result], ['lock', absent.result], ['k', cas.result], ['n', entry.revision]])
  })
})
