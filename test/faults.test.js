// Faults of a real deployment, short versions (`npm run faults` runs the long
// ones and prints the figures of docs/reliability.md): PostgreSQL connections
// cut and the server restarted under 4 writer and 2 watcher processes,
// `groupstore serve` killed under HTTP load, a disk that fills while writes
// stream in. The PostgreSQL cases start a throwaway server of their own
// (initdb on a free port), never the one GROUPSTORE_TEST_PG names, and are
// skipped, with the reason, where PostgreSQL's server programs are missing
// or cannot run; the disk case needs root to mount a tmpfs.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventEmitter } from 'node:events'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Store } from 'groupstore'
import { OneShot } from '../dist/backend/postgres/postgres-session.js'
import { EventStreams } from '../dist/server/sse.js'
import { diskFill, mountTmpfs } from './reliability/disk-fill.js'
import { checkFaultRun } from './reliability/pg-fault-check.js'
import { pgFaults } from './reliability/pg-fault-run.js'
import { startInstance } from './reliability/pg-instance.js'
import { serveKillRounds } from './reliability/serve-kill.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-faults-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** The promises every PostgreSQL fault run must keep. */
function assertPgRun(r) {
  assert.deepEqual(r.failures, [])
  assert.equal(r.stats.lost, 0)
  assert.equal(r.stats.duplicated, 0)
  assert.equal(r.stats.appliedThoughRefused, 0)
  assert.equal(r.stats.hangs, 0)
  assert.equal(r.stats.escaped, 0)
  assert.ok(r.faults > 0, 'faults were injected')
  assert.ok(r.stats.acknowledged > 0, 'writes were acknowledged')
  assert.ok(r.stats.watcherEvents > 0, 'watchers saw events')
}

describe('PostgreSQL faults under 4 writer and 2 watcher processes (a throwaway server)', () => {
  let instance
  let unavailable
  before(async () => {
    try {
      instance = await startInstance()
    } catch (err) {
      unavailable = `cannot start a throwaway PostgreSQL server: ${err.message}`
    }
  })
  after(() => instance?.destroy())

  it('connections ended with pg_terminate_backend: nothing acknowledged lost, failures coded, watchers complete', async (t) => {
    if (unavailable) return t.skip(unavailable)
    const r = await pgFaults(instance, { mode: 'terminate', durationMs: 2500, seed: 3 })
    assertPgRun(r)
  })

  it('the server stopped and started again: the same promises, and the stores recover without reopening', async (t) => {
    if (unavailable) return t.skip(unavailable)
    const r = await pgFaults(instance, { mode: 'restart', restarts: 1, downMs: 1000, gapMs: 800, seed: 5 })
    assertPgRun(r)
    assert.ok((r.stats.byOutcome.ERR_STORE_UNAVAILABLE ?? 0) > 0, 'writes during the outage failed with ERR_STORE_UNAVAILABLE')
  })
})

/**
 * A TCP proxy in front of `url` that, once armed, cuts the next message
 * holding COMMIT: `'deliver'` passes it to the server and then cuts the
 * client off (the transaction commits, its answer is lost); `'drop'` cuts
 * both sides without passing it (the transaction aborts).
 */
async function commitCutter(url) {
  const target = new URL(url)
  let armed
  let refusing = false
  const sockets = new Set()
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy()
      return
    }
    const upstream = net.connect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    upstream.pipe(client)
    client.on('data', (chunk) => {
      if (armed !== undefined && chunk.includes('COMMIT')) {
        const how = armed
        armed = undefined
        if (how === 'deliver') upstream.end(chunk)
        else upstream.destroy()
        client.destroy()
        // While refusing, the cut is a partition: the pool's idle connections go too, so none can ask.
        if (refusing) for (const s of sockets) if (s !== upstream) s.destroy()
        return
      }
      upstream.write(chunk)
    })
    client.on('end', () => upstream.end())
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const location = new URL(url)
  location.port = String(server.address().port)
  return {
    url: location.toString(),
    arm: (how) => {
      armed = how
    },
    get armed() {
      return armed
    },
    /** While true, new connections are cut at once, and a cut COMMIT takes every other connection with it: the server cannot be asked anything. */
    refuse: (on) => {
      refusing = on
    },
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('PostgreSQL: a connection lost during COMMIT (a throwaway server behind a proxy)', () => {
  let instance
  let unavailable
  let proxy
  let store
  before(async () => {
    try {
      instance = await startInstance()
    } catch (err) {
      unavailable = `cannot start a throwaway PostgreSQL server: ${err.message}`
      return
    }
    proxy = await commitCutter(instance.url)
    store = await Store.open(proxy.url, { schema: 'cut', purgeInterval: 0 })
  })
  after(async () => {
    await store?.close()
    await proxy?.close()
    instance?.destroy()
  })

  // The server is asked (txid_status) whether the transaction committed: the
  // caller learns the outcome instead of ERR_COMMIT_UNKNOWN. A write alone in
  // its commit group is one call with no COMMIT of its own: these write two
  // keys, so that they run as a transaction.
  it('a write whose COMMIT reached the server resolves, applied once', async (t) => {
    if (unavailable) return t.skip(unavailable)
    proxy.arm('deliver')
    await store.setMany('g', { delivered: 'v', other: 'v' })
    assert.equal(proxy.armed, undefined, 'the COMMIT was cut')
    assert.equal(await store.get('g', 'delivered'), 'v')
    const events = []
    for await (const e of store.watch('g', '*', { since: 0 })) {
      events.push(e)
      if (e.revision === (await store.revision())) break
    }
    assert.deepEqual(events.map((e) => e.key), ['delivered', 'other'])
  })

  it('a write whose COMMIT never arrived runs again and resolves, applied once', async (t) => {
    if (unavailable) return t.skip(unavailable)
    proxy.arm('drop')
    await store.setMany('g', { dropped: 'v', other: 'w' })
    assert.equal(proxy.armed, undefined, 'the COMMIT was cut')
    assert.equal(await store.get('g', 'dropped'), 'v')
  })

  it('a write whose COMMIT was cut while the server cannot be asked rejects with ERR_COMMIT_UNKNOWN', async (t) => {
    if (unavailable) return t.skip(unavailable)
    proxy.arm('deliver')
    proxy.refuse(true)
    try {
      await assert.rejects(store.setMany('g', { unknown: 'v', other: 'x' }), (err) => {
        assert.equal(err.code, 'ERR_COMMIT_UNKNOWN')
        assert.match(err.message, /^store\.setMany: lost the connection to PostgreSQL while committing, so the write may or may not have been applied/)
        return true
      })
    } finally {
      proxy.refuse(false)
    }
    assert.equal(await store.get('g', 'unknown'), 'v', 'it had committed')
  })

  it('a transaction whose COMMIT reached the server resolves with its result', async (t) => {
    if (unavailable) return t.skip(unavailable)
    proxy.arm('deliver')
    const result = await store.transaction(async (tx) => {
      await tx.set('tx', 'a', '1')
      await tx.set('tx', 'b', '2')
      return 'done'
    })
    assert.equal(proxy.armed, undefined, 'the COMMIT was cut')
    assert.equal(result, 'done')
    assert.deepEqual({ ...(await store.getAll('tx')) }, { a: '1', b: '2' })
  })

  it('a transaction whose COMMIT never arrived rejects with ERR_STORE_UNAVAILABLE and left nothing', async (t) => {
    if (unavailable) return t.skip(unavailable)
    proxy.arm('drop')
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.set('tx', 'c', '3')
      }),
      (err) => err.code === 'ERR_STORE_UNAVAILABLE' && /^store\.transaction: lost the connection/.test(err.message),
    )
    assert.equal(proxy.armed, undefined, 'the COMMIT was cut')
    assert.equal(await store.get('tx', 'c'), undefined)
  })
})

describe('groupstore serve killed under HTTP load', () => {
  it('every PUT answered 2xx survives SIGKILL; the event stream resumes with Last-Event-ID missing nothing', async () => {
    const r = await serveKillRounds({ dir: mkdtempSync(join(dir, 'serve-')), rounds: 5, seed: 2, maxDelay: 300 })
    assert.deepEqual(r.failures, [])
    assert.equal(r.stats.rounds, 5)
    assert.equal(r.stats.lost, 0)
    assert.equal(r.stats.duplicated, 0)
    assert.equal(r.stats.streamGaps, 0)
    assert.equal(r.stats.streamDuplicates, 0)
    assert.ok(r.stats.puts > 0)
    assert.equal(r.stats.streamEvents, r.stats.revisions)
  })
})

describe('an event stream that resumes while writes commit', () => {
  // Found by the kill rounds: a stream resuming with Last-Event-ID left its
  // replay at the first live event, and live events committed after that one
  // during the replay were never sent (revisions 52 to 56 skipped).
  it('carries every revision once, in order', async (t) => {
    const store = await Store.open(':memory:')
    t.after(() => store.close())
    for (let i = 1; i <= 3; i++) await store.set('g', `k${i}`, 'v')
    const streams = new EventStreams(store, { flushDelay: 1 })
    const written = []
    const res = Object.assign(new EventEmitter(), {
      writableNeedDrain: false,
      socket: { setNoDelay() {} },
      writeHead() {},
      write(chunk) {
        written.push(String(chunk))
        return true
      },
      end() {},
      destroy() {},
    })
    streams.open(res, {}, { target: store, namespace: undefined, group: '*', key: '*', since: 0 }, () => {})
    // Three writes commit while the stream replays revisions 1 to 3.
    await Promise.all([store.set('g', 'k4', 'v'), store.set('g', 'k5', 'v'), store.set('g', 'k6', 'v')])
    const ids = () => [...written.join('').matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
    for (let i = 0; i < 200 && !ids().includes(6); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    await store.set('g', 'k7', 'v')
    for (let i = 0; i < 200 && !ids().includes(7); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.deepEqual(ids(), [1, 2, 3, 4, 5, 6, 7])
    streams.closeAll()
  })
})

describe('a disk that fills under load', () => {
  it('writes fail with a StoreError saying so, reads go on, nothing acknowledged is lost, writes resume once space is freed', async (t) => {
    const mount = mountTmpfs('2m')
    if (typeof mount === 'string') return t.skip(mount)
    try {
      const r = await diskFill({ dir: mount.dir, fillerBytes: 1024 * 1024 })
      assert.deepEqual(r.failures, [])
      assert.ok(r.stats.writeFailures > 0, 'the disk filled')
      assert.deepEqual(Object.keys(r.stats.codes), ['ERR_STORE'])
      assert.match(r.stats.message, /^store\.(set|increment): cannot write '.*fill\.db': the disk is full/)
      assert.equal(r.stats.readFailures, 0)
      assert.ok(r.stats.reads > 0)
      assert.equal(r.stats.writesAfterFreeing, 20)
      assert.equal(r.stats.lost, 0)
      assert.equal(r.stats.hangs, 0)
    } finally {
      mount.unmount()
    }
  })
})

describe('the PostgreSQL fault checker', () => {
  // Keeps the harness honest: the same checks on a run made up to break each promise.
  const change = (revision, grp, key, value) => ({ revision, type: 'set', grp, key, value })
  const writer = (ops) => ({ id: 0, ops, slowestMs: 1, hangs: [], escaped: [], recoveryErrors: [] })

  it('passes a run that kept every promise', () => {
    const changes = [change(1, 'bank', 'a', '1000'), change(2, 'bank', 'b', '1000'), change(3, 'p0', 's0', 'v'), change(4, 'counters', 'w0', '1')]
    const rows = changes.map((c) => ({ grp: c.grp, key: c.key, value: c.value }))
    const ops = [
      { op: 'set', g: 'p0', k: 's0', v: 'v', outcome: 'ack' },
      { op: 'set', g: 'p0', k: 's1', v: 'w', outcome: 'ERR_STORE_UNAVAILABLE' },
      { op: 'incr', g: 'counters', k: 'w0', outcome: 'ack', result: 1 },
      { op: 'incr', g: 'counters', k: 'w0', outcome: 'ERR_COMMIT_UNKNOWN' },
    ]
    const watcher = { id: 0, since: 0, events: changes.map((c) => [c.revision, 'set', c.grp, c.key, c.value]), errors: [], resumes: 0, missed: 0, escaped: [], hang: false }
    const r = checkFaultRun({ rows, changes, latest: 4, writerReports: [writer(ops)], watcherReports: [watcher] })
    assert.deepEqual(r.failures, [])
  })

  it('notices a lost write, a write applied after a refusal, a counter past its bounds, a wrong code and a watcher gap', () => {
    const changes = [change(1, 'bank', 'a', '1000'), change(2, 'bank', 'b', '1000'), change(3, 'p0', 's1', 'w'), change(4, 'counters', 'w0', '3')]
    const rows = changes.map((c) => ({ grp: c.grp, key: c.key, value: c.value }))
    const ops = [
      { op: 'set', g: 'p0', k: 's0', v: 'v', outcome: 'ack' },
      { op: 'set', g: 'p0', k: 's1', v: 'w', outcome: 'ERR_STORE_UNAVAILABLE' },
      { op: 'set', g: 'p0', k: 's2', v: 'x', outcome: 'ERR_STORE', message: 'store.set: something else' },
      { op: 'incr', g: 'counters', k: 'w0', outcome: 'ack', result: 1 },
    ]
    const watcher = { id: 0, since: 0, events: [1, 2, 4].map((n) => [n, 'set', changes[n - 1].grp, changes[n - 1].key, changes[n - 1].value]), errors: [], resumes: 0, missed: 0, escaped: [], hang: false }
    const r = checkFaultRun({ rows, changes, latest: 4, writerReports: [writer(ops)], watcherReports: [watcher] })
    assert.equal(r.stats.lost, 1)
    assert.equal(r.stats.appliedThoughRefused, 1)
    assert.equal(r.stats.duplicated, 2)
    assert.ok(r.failures.some((f) => f.includes('p0/s0: acknowledged but missing')))
    assert.ok(r.failures.some((f) => f.includes('p0/s1: rejected with ERR_STORE_UNAVAILABLE (nothing applied) but present')))
    assert.ok(r.failures.some((f) => f.includes('p0/s2 failed with ERR_STORE')))
    assert.ok(r.failures.some((f) => f.includes('counter 3 above 1 acknowledged + 0 unknown')))
    assert.ok(r.failures.some((f) => f.includes('watcher 0: saw revision 4 where 3 was due')))
  })
})

describe('a PostgreSQL connection that drops between the queries of a one-statement write', () => {
  // Found by the connection-cutting run: the driver emits 'error' on a
  // checked-out client that has no query running; unheard, it ended the
  // writer process with an uncaught exception.
  it('is heard, and the connection is closed instead of going back to the pool', () => {
    const client = new EventEmitter()
    const released = []
    client.release = (broken) => released.push(broken)
    const runner = new OneShot(client, {}, 'BEGIN', new WeakSet())
    client.emit('error', new Error('terminating connection due to administrator command'))
    runner.release(false)
    assert.deepEqual(released, [true])
    assert.equal(client.listenerCount('error'), 0)
  })
})
