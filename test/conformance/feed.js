import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { take } from './helpers.js'

/**
 * The change feed: revisions, resume with `since`, slow watchers reading back
 * instead of dropping, rollback leaving no revision, pruned history reported.
 * @param {import('./index.js').Factory} factory
 */
export default function feed({ open, capabilities = {} }) {
  async function fresh(t, options) {
    const store = await open(options)
    t.after(() => store.close())
    return store
  }

  describe('change feed', () => {
    it('gives every event a revision one more than the one before', async (t) => {
      const store = await fresh(t)
      const start = await store.revision()
      const seen = []
      store.onChange((e) => seen.push(e))
      await store.set('g', 'a', '1')
      await store.set('g', 'b', '2')
      await store.delete('g', 'a')
      await store.deleteGroup('g')
      assert.deepEqual(
        seen.map((e) => [e.revision - start, e.type]),
        [[1, 'set'], [2, 'set'], [3, 'delete'], [4, 'delete_group']],
      )
      assert.equal(await store.revision(), start + 4)
    })

    it('revision() counts writes made while nobody listens', async (t) => {
      const store = await fresh(t)
      const start = await store.revision()
      await store.set('g', 'a', '1')
      await store.set('g', 'a', '2')
      assert.equal(await store.revision(), start + 2)
    })

    it('a rolled-back transaction leaves no revision and no event', async (t) => {
      const store = await fresh(t)
      await store.set('g', 'before', '1')
      const start = await store.revision()
      const seen = []
      store.onChange((e) => seen.push(e))
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.set('g', 'x', '1')
          await tx.set('h', 'y', '2')
          throw new Error('abort')
        }),
        /abort/,
      )
      assert.equal(await store.revision(), start)
      assert.deepEqual(seen, [])
      await store.set('g', 'after', '1')
      assert.deepEqual(seen.map((e) => e.revision), [start + 1])
    })

    it('a committed transaction gets consecutive revisions, published after commit', async (t) => {
      const store = await fresh(t)
      const start = await store.revision()
      const seen = []
      store.onChange((e) => seen.push(e))
      await store.transaction(async (tx) => {
        await tx.set('a', '1', 'x')
        await tx.set('b', '2', 'y')
        assert.deepEqual(seen, [], 'no event before commit')
      })
      assert.deepEqual(seen.map((e) => [e.revision - start, e.group]), [[1, 'a'], [2, 'b']])
    })

    it('watch with since replays retained events, then goes live without gap or duplicate', async (t) => {
      const store = await fresh(t)
      await store.set('g', 'old', '0')
      const since = await store.revision()
      await store.set('g', 'a', '1')
      await store.set('g', 'b', '2')
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const replayed = await take(watcher, 2)
      assert.deepEqual(replayed.map((e) => [e.revision - since, e.key]), [[1, 'a'], [2, 'b']])
      await store.set('g', 'c', '3')
      const [live] = await take(watcher, 1)
      assert.deepEqual([live.revision - since, live.key], [3, 'c'])
    })

    it('since with writes racing the replay still yields each revision exactly once', async (t) => {
      const store = await fresh(t)
      const since = await store.revision()
      for (let i = 0; i < 50; i++) await store.set('g', `k${i}`, String(i))
      const watcher = store.watch('g', '*', { since })
      t.after(() => watcher.close())
      const writes = []
      for (let i = 50; i < 100; i++) writes.push(store.set('g', `k${i}`, String(i)))
      const events = await take(watcher, 100)
      await Promise.all(writes)
      assert.deepEqual(
        events.map((e) => e.revision - since),
        Array.from({ length: 100 }, (_, i) => i + 1),
      )
    })

    it('a burst of 10,000 writes reaches a watcher with bufferSize 16 completely and in order', async (t) => {
      const store = await fresh(t)
      const watcher = store.watch('*', '*', { bufferSize: 16 })
      t.after(() => watcher.close())
      const start = await store.revision()
      const writes = []
      for (let i = 0; i < 10_000; i++) writes.push(store.set('burst', `k${i}`, String(i)))
      await Promise.all(writes)
      let expected = start + 1
      let n = 0
      for await (const event of watcher) {
        assert.equal(event.revision, expected++)
        assert.equal(event.key, `k${n}`)
        if (++n === 10_000) break
      }
      assert.equal(n, 10_000)
      assert.equal(watcher.dropped, 0)
    })

    it('a watcher only sees matching events, in revision order', async (t) => {
      const store = await fresh(t)
      const watcher = store.watch('b', '*', { bufferSize: 2 })
      t.after(() => watcher.close())
      for (let i = 0; i < 20; i++) await store.set(i % 2 === 0 ? 'a' : 'b', `k${i}`, 'v')
      const events = await take(watcher, 10)
      assert.ok(events.every((e) => e.group === 'b'))
      const revisions = events.map((e) => e.revision)
      assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y))
      assert.equal(new Set(revisions).size, 10)
    })

    it('scoped watchers resume with since and see relative group names', async (t) => {
      const store = await fresh(t)
      const tenant = store.scope('t1')
      const since = await store.revision()
      await tenant.set('cfg', 'a', '1')
      await store.set('other', 'x', '1')
      const watcher = tenant.watch('*', '*', { since })
      t.after(() => watcher.close())
      await tenant.set('cfg', 'b', '2')
      const events = await take(watcher, 2)
      assert.deepEqual(events.map((e) => [e.group, e.key]), [['cfg', 'a'], ['cfg', 'b']])
    })

    it('rejects a bad since', async (t) => {
      const store = await fresh(t)
      assert.throws(() => store.watch('*', '*', { since: -1 }), RangeError)
      assert.throws(() => store.watch('*', '*', { since: 1.5 }), RangeError)
      // past the safe integers a revision cannot be told from its neighbours
      assert.throws(() => store.watch('*', '*', { since: 2 ** 53 }), /options\.since must be a non-negative safe integer/)
      assert.throws(() => store.watch('*', '*', { since: Infinity }), RangeError)
      assert.throws(() => store.watch('*', '*', { since: '1' }), TypeError)
      assert.throws(() => store.watch('*', '*', { since: null }), TypeError)
    })

    it('reports pruned history instead of hiding it', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      // the store's clock, so that the entries are older than maxAge whatever the real clock does
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, changeRetention: { maxAge: 0, maxCount: 2 } })
      const since = await store.revision()
      for (let i = 0; i < 6; i++) await store.set('g', `k${i}`, String(i))
      now += 1
      await store.purgeExpired() // prunes the log with the purge
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const [first, second] = await take(watcher, 2)
      assert.equal(first.key, 'k4')
      assert.equal(first.missed, 4)
      assert.equal(second.missed, undefined)
      assert.equal(watcher.dropped, 4)
    })

    it('prunes the log past maxCount as writes happen, without a purge, and reports what a resuming watcher missed', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 3 } })
      const since = await store.revision()
      for (let i = 0; i < 10; i++) {
        now += 60_000 // writes a minute apart: each one prunes
        await store.set('g', `k${i}`, String(i))
      }
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const events = await take(watcher, 3)
      assert.deepEqual(events.map((e) => e.key), ['k7', 'k8', 'k9'])
      assert.equal(events[0].missed, 7, 'the pruned revisions are reported, not skipped in silence')
      assert.equal(events[1].missed, undefined)
      assert.equal(watcher.dropped, 7)
    })

    it('prunes entries older than maxAge as writes happen, without a purge', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, purgeInterval: 0, changeRetention: { maxAge: 60_000, maxCount: 1_000_000 } })
      const since = await store.revision()
      for (let i = 0; i < 5; i++) await store.set('g', `old${i}`, String(i))
      now += 30_000
      await store.set('g', 'recent', 'r') // younger than maxAge when the next write prunes
      now += 45_000
      await store.set('g', 'new', 'n')
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const [first, second] = await take(watcher, 2)
      assert.deepEqual([first.key, first.missed], ['recent', 5])
      assert.deepEqual([second.key, second.missed], ['new', undefined])
    })

    it('keeps more history when changeRetention asks for it', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, purgeInterval: 0, changeRetention: { maxAge: 86_400_000, maxCount: 1_000_000 } })
      const since = await store.revision()
      for (let i = 0; i < 5; i++) {
        now += 3_600_000 // an hour apart: past the default retention, within this one
        await store.set('g', `k${i}`, String(i))
      }
      await store.purgeExpired()
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const events = await take(watcher, 5)
      assert.deepEqual(events.map((e) => e.key), ['k0', 'k1', 'k2', 'k3', 'k4'])
      assert.ok(events.every((e) => e.missed === undefined))
    })

    it('by default keeps minutes of history, not a day', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, purgeInterval: 0 })
      const since = await store.revision()
      await store.set('g', 'old', '1')
      now += 3_600_000
      await store.set('g', 'new', '2')
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const [first] = await take(watcher, 1)
      assert.deepEqual([first.key, first.missed], ['new', 1])
    })

    it('by default keeps five minutes of history: an entry goes once it is older', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, purgeInterval: 0 })
      const since = await store.revision()
      await store.set('g', 'a', '1')
      now += 299_999 // a is just younger than five minutes when b's write prunes
      await store.set('g', 'b', '2')
      let watcher = store.watch('*', '*', { since })
      const kept = await take(watcher, 2)
      watcher.close()
      assert.deepEqual(kept.map((e) => [e.key, e.missed]), [['a', undefined], ['b', undefined]])
      now += 2 // a is now older than five minutes
      await store.purgeExpired()
      watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const [first] = await take(watcher, 1)
      assert.deepEqual([first.key, first.missed], ['b', 1])
    })

    it('by default keeps the latest 10,000 entries', { skip: capabilities.changeLog ? false : 'no durable change log' }, async (t) => {
      const store = await fresh(t, { purgeInterval: 0 })
      const since = await store.revision()
      const pairs = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']))
      await store.setMany('g', pairs)
      await store.set('g', 'one-more', 'v')
      await store.purgeExpired()
      const watcher = store.watch('*', '*', { since })
      t.after(() => watcher.close())
      const [first] = await take(watcher, 1)
      assert.deepEqual([first.key, first.revision, first.missed], ['k1', since + 2, 1])
    })

    it('never gives a revision twice, even after a prune asked to keep nothing', async (t) => {
      let now = 1_700_000_000_000
      const store = await fresh(t, { now: () => now, changeRetention: { maxAge: 0, maxCount: 0 } })
      for (let i = 0; i < 3; i++) await store.set('g', `k${i}`, String(i))
      const latest = await store.revision()
      now += 1
      await store.purgeExpired()
      assert.equal(await store.revision(), latest, 'the latest revision survives the prune')
      const watcher = store.watch('*', '*')
      t.after(() => watcher.close())
      await store.set('g', 'after', 'v')
      const [event] = await take(watcher, 1)
      assert.equal(event.revision, latest + 1)
      assert.equal(await store.revision(), latest + 1)
    })
  })
}
