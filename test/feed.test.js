// The change feed across Store objects, processes and restarts on a database file.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { EventHub } from '../dist/events.js'
import { Feed } from '../dist/feed.js'
import { nextEvent, take } from './conformance/helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-feed-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = () => join(dir, `feed-${n++}.db`)
const writer = fileURLToPath(new URL('./helpers/feed-writer.js', import.meta.url))

describe('change feed on a file', () => {
  it('a watcher and onChange on store A see writes committed by store B, and by A, in revision order', async (t) => {
    const path = file()
    const a = await Store.open(path)
    const b = await Store.open(path)
    t.after(() => Promise.all([a.close(), b.close()]))
    const watcher = a.watch('*', '*')
    const callbacks = []
    a.onChange((e) => callbacks.push(e))
    await b.set('g', 'from-b', '1')
    await a.set('g', 'from-a', '2')
    await b.delete('g', 'from-b')
    const events = await take(watcher, 3)
    assert.deepEqual(events.map((e) => [e.type, e.key]), [['set', 'from-b'], ['set', 'from-a'], ['delete', 'from-b']])
    const revisions = events.map((e) => e.revision)
    assert.deepEqual(revisions, [revisions[0], revisions[0] + 1, revisions[0] + 2])
    assert.deepEqual(callbacks.map((e) => e.revision), revisions)
    assert.equal(await a.revision(), revisions[2])
    assert.equal(await b.revision(), revisions[2])
  })

  it('each event reaches a watcher exactly once when both stores write concurrently', async (t) => {
    const path = file()
    const a = await Store.open(path)
    const b = await Store.open(path)
    t.after(() => Promise.all([a.close(), b.close()]))
    const start = await a.revision()
    const watcher = a.watch('*', '*', { bufferSize: 8 })
    const writes = []
    for (let i = 0; i < 200; i++) writes.push((i % 2 ? a : b).set('g', `k${i}`, String(i)))
    await Promise.all(writes)
    const events = await take(watcher, 200)
    assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 200 }, (_, i) => start + i + 1))
    assert.deepEqual(new Set(events.map((e) => e.key)).size, 200)
  })

  it('a parent watches what a child process writes', async (t) => {
    const path = file()
    const store = await Store.open(path)
    t.after(() => store.close())
    const watcher = store.watch('child', '*')
    const child = spawn(process.execPath, [writer, path, '20'], { stdio: 'inherit' })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    const events = await take(watcher, 20)
    assert.equal(await exited, 0)
    assert.deepEqual(events.map((e) => e.key), Array.from({ length: 20 }, (_, i) => `k${i}`))
    assert.ok(events.every((e, i) => e.type === 'set' && e.value === `v${i}`))
  })

  it('resumes from a revision after a restart with nothing missed and nothing twice', async (t) => {
    const path = file()
    let store = await Store.open(path)
    await store.set('g', 'a', '1')
    const since = await store.revision()
    await store.close()
    // Another process writes while the consumer is down.
    const child = spawn(process.execPath, [writer, path, '5'], { stdio: 'inherit' })
    assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0)
    store = await Store.open(path)
    t.after(() => store.close())
    const watcher = store.watch('*', '*', { since })
    const replayed = await take(watcher, 5)
    assert.deepEqual(replayed.map((e) => [e.revision - since, e.key]), [1, 2, 3, 4, 5].map((i) => [i, `k${i - 1}`]))
    await store.set('g', 'b', '2')
    const [live] = await take(watcher, 1)
    assert.deepEqual([live.revision - since, live.key], [6, 'b'])
  })

  it('records every change in kv_changes in the same transaction; a rollback leaves nothing', async (t) => {
    const path = file()
    const store = await Store.open(path)
    t.after(() => store.close())
    await store.set('g', 'k', 'v', { ttl: 60_000 })
    await store.transaction(async (tx) => {
      await tx.set('g', 'k2', 'v2')
      await tx.deleteGroup('g')
    })
    await store.transaction(async (tx) => {
      await tx.set('g', 'never', 'x')
      throw new Error('rollback')
    }).catch(() => {})
    const db = new Database(path, { readonly: true })
    t.after(() => db.close())
    const rows = db.prepare('SELECT revision, type, grp, key, value FROM kv_changes ORDER BY revision').all()
    assert.deepEqual(rows.map((r) => [r.type, r.grp, r.key, r.value]), [
      ['set', 'g', 'k', 'v'],
      ['set', 'g', 'k2', 'v2'],
      ['delete_group', 'g', '', null],
    ])
    assert.deepEqual(rows.map((r) => r.revision), [1, 2, 3])
  })

  it('changeLog: false keeps events in process only and writes no log', async (t) => {
    const path = file()
    const quiet = await Store.open(path, { changeLog: false })
    const other = await Store.open(path)
    t.after(() => Promise.all([quiet.close(), other.close()]))
    const seen = []
    quiet.onChange((e) => seen.push(e.key))
    const revision = await quiet.set('g', 'k', 'v')
    assert.deepEqual(seen, ['k'])
    // The revision is the file's, which every store on it shares; the log holds nothing.
    assert.equal(await other.revision(), revision)
    assert.equal((await other.getEntry('g', 'k')).revision, revision)
    const db = new Database(path, { readonly: true })
    t.after(() => db.close())
    assert.equal(db.prepare('SELECT count(*) FROM kv_changes').pluck().get(), 0)
  })

  it('an idle watcher uses next to no CPU, and sees another connection\'s commit within about 100 ms', async (t) => {
    const path = file()
    const a = await Store.open(path, { purgeInterval: 0 })
    const b = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    t.after(() => Promise.all([a.close(), b.close()]))
    const watcher = a.watch('*', '*')
    t.after(() => watcher.close())
    // Idle: the store only checks whether the file changed (PRAGMA data_version).
    const cpu = process.cpuUsage()
    const wall = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const used = process.cpuUsage(cpu)
    const share = (used.user + used.system) / 1000 / (performance.now() - wall)
    assert.ok(share < 0.05, `an idle watcher used ${(share * 100).toFixed(1)}% of a core`)
    // B's commits reach A's watcher through that check alone.
    const delays = []
    for (let i = 0; i < 7; i++) {
      await new Promise((resolve) => setTimeout(resolve, 120))
      const event = nextEvent(watcher, `the write of k${i}`)
      await b.set('g', `k${i}`, 'v')
      const committed = performance.now()
      assert.equal((await event).key, `k${i}`)
      delays.push(performance.now() - committed)
    }
    const median = delays.sort((x, y) => x - y)[3]
    assert.ok(median < 150, `median delay ${median.toFixed(0)} ms (all: ${delays.map((d) => d.toFixed(0)).join(', ')})`)
  })
})

describe('a watcher whose live feed skips revisions', () => {
  // The feed starts again from the log's head when somebody listens after
  // nobody did; a watcher resumed with `since` must not lose what lies
  // between (found by the PostgreSQL fault runs: watchers resumed while the
  // head was being read saw revisions go missing, without `missed`).
  const event = (revision) => ({ type: 'set', group: 'g', key: `k${revision}`, value: 'v', timestamp: new Date(0), revision })
  const source = (log) => ({
    delivered: 0,
    read: async (after, limit) => ({ events: log.filter((e) => e.revision > after).slice(0, limit), oldest: log[0]?.revision }),
  })

  it('reads the skipped revisions back from the log, in order, before the live event', { timeout: 10_000 }, async () => {
    const log = [1, 2, 3, 4, 5, 6].map(event)
    const src = source(log.slice(0, 3))
    src.delivered = 3
    const hub = new EventHub()
    const watcher = hub.watch(src, (e) => e, { bufferSize: 16, signal: undefined, since: 0 })
    assert.deepEqual((await take(watcher, 3)).map((e) => e.revision), [1, 2, 3])
    // The log gains 4..6; the live feed publishes 6 only.
    src.read = source(log).read
    src.delivered = 6
    hub.publish(log[5])
    const rest = await take(watcher, 3)
    assert.deepEqual(rest.map((e) => e.revision), [4, 5, 6])
    assert.equal(rest.some((e) => e.missed !== undefined), false)
    assert.equal(watcher.dropped, 0)
    watcher.close()
  })

  it('wakes a consumer already waiting, with the first skipped revision', { timeout: 10_000 }, async () => {
    const log = [1, 2, 3, 4, 5].map(event)
    const src = source(log)
    src.delivered = 1
    const hub = new EventHub()
    const watcher = hub.watch(src, (e) => e, { bufferSize: 16, signal: undefined, since: 0 })
    assert.equal((await watcher.next()).value.revision, 1)
    const pending = watcher.next()
    src.delivered = 5
    hub.publish(log[4])
    assert.equal((await pending).value.revision, 2)
    assert.deepEqual((await take(watcher, 3)).map((e) => e.revision), [3, 4, 5])
    watcher.close()
  })

  it('reports what the log no longer holds as missed', { timeout: 10_000 }, async () => {
    const src = source([event(1)])
    src.delivered = 1
    const hub = new EventHub()
    const watcher = hub.watch(src, (e) => e, { bufferSize: 16, signal: undefined, since: 0 })
    assert.equal((await watcher.next()).value.revision, 1)
    // 2..4 were committed and pruned before the live feed published 5.
    src.read = source([event(5)]).read
    src.delivered = 5
    hub.publish(event(5))
    const next = (await watcher.next()).value
    assert.equal(next.revision, 5)
    assert.equal(next.missed, 3)
    assert.equal(watcher.dropped, 3)
    watcher.close()
  })
})

describe('catching up with other connections’ commits', () => {
  /** A backend whose log holds `records` and whose reads of it fail `failures` times first. */
  function backend(records, failures) {
    const b = {
      changeLog: true,
      failures,
      reads: 0,
      wake: undefined,
      read(_method, fn) {
        try {
          return Promise.resolve(fn(b.queries))
        } catch (err) {
          return Promise.reject(err)
        }
      },
      subscribe(wake) {
        b.wake = wake
        return () => {
          b.wake = undefined
        }
      },
      head: undefined,
      queries: {
        revisionRange: () => (b.head === undefined ? { latest: 0, oldest: undefined } : b.head()),
        readChanges(after, limit) {
          b.reads++
          if (b.failures > 0) {
            b.failures--
            throw new Error('the connection was cut')
          }
          return records.filter((r) => r.revision > after).slice(0, limit)
        },
      },
    }
    return b
  }
  const change = (revision) => ({ revision, type: 'set', group: 'g', key: `k${revision}`, value: 'v', timestamp: 0 })

  it('a catch-up whose read fails is tried again, without waiting for another commit’s wake-up', async () => {
    const b = backend([change(1), change(2)], 2)
    const feed = await Feed.open(b, true, { maxAge: 0, maxCount: 1000 })
    const seen = []
    const stop = feed.hub.onChange((e) => e, (e) => seen.push(e.revision))
    await new Promise((resolve) => setImmediate(resolve))
    b.wake()
    const deadline = Date.now() + 5000
    while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.deepEqual(seen, [1, 2], 'the committed changes arrive once the read succeeds')
    assert.equal(b.reads, 3, 'two failed reads, then one that succeeded')
    stop()
    feed.close()
  })

  it('a watcher that resumes while the first subscriber’s read of the log’s head is slow still gets every change', async () => {
    // The log holds 1 to 3 until 4 and 5 commit, just before the feed's read of the log's
    // head (made when the watcher subscribed) answers, with 5.
    const records = [change(1), change(2), change(3)]
    const b = backend(records, 0)
    const feed = await Feed.open(b, true, { maxAge: 0, maxCount: 1000 })
    let answerHead
    b.head = () => new Promise((resolve) => (answerHead = resolve))
    const watcher = feed.hub.watch(feed, (e) => e, { bufferSize: 100, signal: undefined, since: 0 })
    b.head = undefined
    const seen = []
    const reading = (async () => {
      for await (const e of watcher) {
        seen.push(e.revision)
        if (e.revision === 5) break
      }
    })()
    // Time for the watcher to read the log back (it holds 1 to 3), were it to read before the head's answer.
    await new Promise((resolve) => setTimeout(resolve, 20))
    records.push(change(4), change(5))
    answerHead({ latest: 5, oldest: undefined })
    await new Promise((resolve) => setTimeout(resolve, 10))
    // The notification of 4 and 5 (none if the watcher has them all and left).
    b.wake?.()
    const deadline = Date.now() + 3000
    while (seen.length < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    watcher.close()
    await reading
    assert.deepEqual(seen, [1, 2, 3, 4, 5])
    feed.close()
  })

  it('stops trying once nobody listens', async () => {
    const b = backend([change(1)], 1)
    const feed = await Feed.open(b, true, { maxAge: 0, maxCount: 1000 })
    const stop = feed.hub.onChange((e) => e, () => {})
    await new Promise((resolve) => setImmediate(resolve))
    b.wake()
    await new Promise((resolve) => setImmediate(resolve))
    stop()
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(b.reads, 1, 'no read after the last subscriber left')
    feed.close()
  })
})
