// TTL: invisibility from the expiry millisecond on every read, ttl(), clearing,
// lazy removal, purgeExpired and its events, argument checks.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { brief, clock, collect, nextEvent, openStore, record, T0 } from './helpers.js'

/** @param {import('./index.js').Factory} factory */
export default function ttl(factory) {
  describe('ttl', () => {
    /** A store whose clock the test moves, purge off, with key g/k expiring at T0 + 1000. */
    async function expiring(t) {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 1000 })
      await store.set('g', 'stay', 's')
      return { store, now }
    }

    it('a key is live one millisecond before expiry on every read', async (t) => {
      const { store, now } = await expiring(t)
      now.set(T0 + 999)
      assert.equal(await store.get('g', 'k'), 'v')
      assert.equal(await store.has('g', 'k'), true)
      assert.equal(await store.ttl('g', 'k'), 1)
      assert.equal(await store.count('g'), 2)
      assert.equal(await store.countAll(), 2)
      assert.equal((await store.getAll('g')).k, 'v')
      assert.equal((await store.page('g')).entries.length, 2)
      assert.equal((await collect(store.entries('g'))).length, 2)
      assert.equal(await store.render('{{ k }}', 'g'), 'v')
    })

    it('a key is invisible to every read from the exact millisecond it expires', async (t) => {
      const { store, now } = await expiring(t)
      await store.set('only-ttl', 'k', 'v', { ttl: 1000 })
      now.set(T0 + 1000)
      assert.equal(await store.count('g'), 1)
      assert.equal(await store.countAll(), 1)
      assert.equal(await store.countAll('g'), 1)
      assert.deepEqual(await store.groups(), ['g'])
      assert.deepEqual(await store.groups('only'), [])
      assert.deepEqual({ ...(await store.getAll('g')) }, { stay: 's' })
      assert.deepEqual(await store.page('g'), { entries: [['stay', 's']] })
      assert.deepEqual(await store.page('g', { limit: 1 }), { entries: [['stay', 's']] })
      assert.deepEqual(await collect(store.entries('g')), [['stay', 's']])
      assert.equal(await store.render('[{{ k }}]', 'g'), '[]')
      assert.equal(await store.ttl('g', 'k'), undefined)
      assert.equal(await store.has('g', 'k'), false)
      assert.equal(await store.get('g', 'k'), undefined)
    })

    it('an expired key counts as missing for delete, deleteGroup and deletePrefix', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('a', 'k', 'v', { ttl: 10 })
      await store.set('b', 'k', 'v', { ttl: 10 })
      await store.set('b', 'live', 'v')
      await store.set('c:1', 'k', 'v', { ttl: 10 })
      await store.set('c:2', 'k', 'v')
      now.advance(10)
      assert.equal(await store.delete('a', 'k'), false)
      assert.equal(await store.deleteGroup('b'), 1)
      assert.equal(await store.deletePrefix('c:'), 1)
      assert.equal(await store.countAll(), 0)
    })

    it('ttl() answers the remaining ms, null without expiry, undefined without a live key', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 5000 })
      await store.set('g', 'forever', 'v')
      assert.equal(await store.ttl('g', 'k'), 5000)
      now.advance(1234)
      assert.equal(await store.ttl('g', 'k'), 3766)
      assert.equal(await store.ttl('g', 'forever'), null)
      assert.equal(await store.ttl('g', 'missing'), undefined)
      assert.equal(await store.ttl('missing', 'k'), undefined)
    })

    it('a key set with a TTL stays readable until then', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 60 * 60_000 })
      now.advance(30 * 60_000)
      assert.equal(await store.get('g', 'k'), 'v')
    })

    it('set without ttl clears an existing TTL', async (t) => {
      const { store, now } = await expiring(t)
      await store.set('g', 'k', 'v2')
      assert.equal(await store.ttl('g', 'k'), null)
      now.advance(10_000)
      assert.equal(await store.get('g', 'k'), 'v2')
      assert.equal(await store.purgeExpired(), 0)
    })

    it('set with a ttl on an existing key replaces its expiry (both ways)', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 100 })
      await store.set('g', 'k', 'v2', { ttl: 5000 })
      assert.equal(await store.ttl('g', 'k'), 5000)
      await store.set('g', 'k', 'v3', { ttl: 10 })
      assert.equal(await store.ttl('g', 'k'), 10)
      await store.set('g', 'plain', 'p')
      await store.set('g', 'plain', 'p', { ttl: 20 })
      now.advance(20)
      assert.equal(await store.get('g', 'plain'), undefined)
      assert.equal(await store.get('g', 'k'), undefined)
    })

    it('set with { ttl: undefined } is a set without ttl', async (t) => {
      const { store } = await expiring(t)
      await store.set('g', 'k', 'v', { ttl: undefined })
      assert.equal(await store.ttl('g', 'k'), null)
    })

    it('setting an expired key again makes it live', async (t) => {
      const { store, now } = await expiring(t)
      now.advance(5000)
      await store.set('g', 'k', 'again')
      assert.equal(await store.get('g', 'k'), 'again')
      assert.equal(await store.count('g'), 2)
    })

    it('a fractional ttl never expires early', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 0.5 })
      assert.equal(await store.get('g', 'k'), 'v')
      now.advance(1)
      assert.equal(await store.get('g', 'k'), undefined)
    })

    for (const bad of [0, -1, -0.5, NaN, Infinity, -Infinity]) {
      it(`ttl ${bad} rejects with RangeError naming the method and ttl, and writes nothing`, async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', 'k', 'old')
        await assert.rejects(store.set('g', 'k', 'new', { ttl: bad }), (err) => {
          assert.ok(err instanceof RangeError, `got ${err}`)
          assert.match(err.message, /^store\.set: .*ttl/)
          return true
        })
        await assert.rejects(store.set('g', 'fresh', 'new', { ttl: bad }), RangeError)
        assert.equal(await store.get('g', 'k'), 'old')
        assert.equal(await store.ttl('g', 'k'), null)
        assert.equal(await store.has('g', 'fresh'), false)
      })
    }

    for (const bad of ['100', null, true, 10n, {}]) {
      it(`ttl of type ${bad === null ? 'null' : typeof bad} rejects with TypeError`, async (t) => {
        const store = await openStore(t, factory)
        await assert.rejects(store.set('g', 'k', 'v', { ttl: bad }), (err) => {
          assert.ok(err instanceof TypeError, `got ${err}`)
          assert.match(err.message, /^store\.set: .*ttl/)
          return true
        })
        assert.equal(await store.has('g', 'k'), false)
      })
    }

    it('any finite ttl above 0 is taken: one past the largest date expires at it, a tiny one lives 1 ms', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const largest = 8.64e15
      for (const [key, ttl] of [['safe', Number.MAX_SAFE_INTEGER], ['huge', Number.MAX_VALUE], ['edge', largest - T0]]) {
        await store.set('g', key, 'v', { ttl })
        assert.equal(await store.get('g', key), 'v', key)
        assert.equal((await store.getEntry('g', key)).expiresAt, largest, key)
        assert.equal(await store.ttl('g', key), largest - T0, key)
        assert.equal(new Date((await store.getEntry('g', key)).expiresAt).getTime(), largest, key)
      }
      assert.equal(await store.increment('g', 'n', 1, { ttl: Number.MAX_VALUE }), 1)
      assert.equal((await store.getEntry('g', 'n')).expiresAt, largest)
      await store.setMany('g', { m: 'v' }, { ttl: 1e300 })
      assert.equal((await store.getEntry('g', 'm')).expiresAt, largest)
      await store.set('g', 'tiny', 'v', { ttl: Number.MIN_VALUE })
      assert.equal((await store.getEntry('g', 'tiny')).expiresAt, T0 + 1)
      assert.equal(await store.get('g', 'tiny'), 'v')
      now.advance(1)
      assert.equal(await store.get('g', 'tiny'), undefined)
    })

    it('get, has and ttl remove an expired key lazily and emit expire', async (t) => {
      for (const read of ['get', 'has', 'ttl']) {
        const now = clock()
        const store = await openStore(t, factory, { now, purgeInterval: 0 })
        await store.set('g', 'k', 'v', { ttl: 10 })
        const watcher = store.watch('g', 'k')
        now.advance(10)
        await store[read]('g', 'k')
        const e = await nextEvent(watcher, `expire after ${read}`)
        assert.deepEqual(brief([e]), ['expire g/k'], read)
        assert.equal(e.timestamp.getTime(), T0 + 10)
        assert.equal(e.value, undefined)
        // removed physically: nothing is left for the purge
        assert.equal(await store.purgeExpired(), 0, read)
        watcher.close()
      }
    })

    it('a read that removes an expired key has run the onChange callbacks of its expire by the time it resolves', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const scope = store.scope('ns')
      const { events } = record(store)
      const reads = {
        get: (g) => store.get(g, 'k'),
        has: (g) => store.has(g, 'k'),
        ttl: (g) => store.ttl(g, 'k'),
        getEntry: (g) => store.getEntry(g, 'k'),
        'scope.get': (g) => scope.get(g.slice('ns:'.length), 'k'),
        'scope.getEntry': (g) => scope.getEntry(g.slice('ns:'.length), 'k'),
      }
      for (const [name, read] of Object.entries(reads)) {
        const g = name.startsWith('scope.') ? `ns:${name}` : name
        await store.set(g, 'k', 'v', { ttl: 10 })
        now.advance(10)
        events.length = 0
        const answer = await read(g)
        assert.ok(answer === undefined || answer === false, `${name} answered ${answer}`)
        assert.deepEqual(brief(events), [`expire ${g}/k`], name)
        assert.equal(events[0].revision, await store.revision(), name)
      }
      // In a transaction the removal is part of it: its expire has run when the transaction resolves.
      await store.set('tx', 'k', 'v', { ttl: 10 })
      now.advance(10)
      events.length = 0
      assert.equal(await store.transaction((tx) => tx.get('tx', 'k')), undefined)
      assert.deepEqual(brief(events), ['expire tx/k'])
    })

    it('an expired key is removed only once: later reads emit nothing more', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 10 })
      const watcher = store.watch('g', '*')
      now.advance(10)
      await Promise.all([store.get('g', 'k'), store.get('g', 'k'), store.has('g', 'k')])
      assert.deepEqual(brief([await nextEvent(watcher)]), ['expire g/k'])
      await store.get('g', 'k')
      await store.set('g', 'marker', 'm')
      assert.deepEqual(brief([await nextEvent(watcher)]), ['set g/marker=m'])
    })

    it('purgeExpired removes expired keys, answers how many, and emits expire for each', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('a', 'k1', 'v', { ttl: 10 })
      await store.set('a', 'k2', 'v', { ttl: 10 })
      await store.set('b', 'k', 'v', { ttl: 10 })
      await store.set('b', 'later', 'v', { ttl: 1000 })
      await store.set('b', 'forever', 'v')
      assert.equal(await store.purgeExpired(), 0)
      now.advance(10)
      const { events } = record(store)
      assert.equal(await store.purgeExpired(), 3)
      assert.deepEqual(brief(events).sort(), ['expire a/k1', 'expire a/k2', 'expire b/k'])
      for (const e of events) assert.equal(e.timestamp.getTime(), T0 + 10)
      assert.equal(await store.purgeExpired(), 0)
      assert.equal(await store.countAll(), 2)
      now.advance(990)
      assert.equal(await store.purgeExpired(), 1)
    })

    it('the background purge removes expired keys on its own', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 5 })
      await store.set('g', 'k', 'v', { ttl: 10 })
      await store.set('g', 'stay', 'v')
      const watcher = store.watch('g', '*')
      now.advance(10)
      const e = await nextEvent(watcher, 'expire from the background purge')
      assert.deepEqual(brief([e]), ['expire g/k'])
      assert.equal(await store.purgeExpired(), 0)
      assert.equal(await store.get('g', 'stay'), 'v')
    })

    it('purgeInterval 0 turns the background purge off', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'k', 'v', { ttl: 10 })
      now.advance(10)
      await new Promise((resolve) => setTimeout(resolve, 30))
      assert.equal(await store.purgeExpired(), 1)
    })

    it('TTL works under concurrent writers and readers', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const work = []
      for (let w = 0; w < 10; w++) {
        for (let i = 0; i < 10; i++) {
          work.push(store.set('g', `k${w}-${i}`, 'v', { ttl: i % 2 === 0 ? 100 : 200 }))
          work.push(store.get('g', `k${w}-${i}`))
        }
      }
      await Promise.all(work)
      now.advance(100)
      const reads = []
      for (let w = 0; w < 10; w++) for (let i = 0; i < 10; i++) reads.push(store.has('g', `k${w}-${i}`))
      const live = await Promise.all(reads)
      assert.equal(live.filter(Boolean).length, 50)
      assert.equal(await store.count('g'), 50)
    })
  })
}
