// Revisions, conditional writes, counters and batches: getEntry, set's revision,
// set with ifRevision / ifAbsent, delete with ifRevision, increment, getMany,
// setMany and deleteMany on the store, a scope and a transaction.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { QuotaExceededError, StoreError } from 'groupstore'
import { SET_REPORTING } from '../../dist/operations.js'
import { brief, clock, openStore, record, rejectsWith } from './helpers.js'

/** The faces of the API, each given a fresh store (transactions are tested below). */
const faces = [
  ['store', (store) => store],
  ['scope', (store) => store.scope('tenant')],
]

export default function atomic(factory) {
  describe('revisions, conditional writes, counters and batches', () => {
    for (const [face, view] of faces) {
      describe(`on a ${face}`, () => {
        it("the server's reporting set tells a created key from a replaced one, and emits and counts as set does", async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now, purgeInterval: 0 })
          const s = face === 'scope' ? store.scope('tenant', { quota: { maxKeys: 2 } }) : view(store)
          const { events } = record(s)
          const [created, r1] = await s[SET_REPORTING]('g', 'k', 'v1', { ttl: 10 })
          assert.equal(created, true)
          const [again, r2] = await s[SET_REPORTING]('g', 'k', 'v2', { ttl: 10 })
          assert.equal(again, false)
          assert.ok(r2 > r1)
          assert.deepEqual(await s.getEntry('g', 'k'), { value: 'v2', revision: r2, expiresAt: now() + 10 })
          now.advance(10) // expired, still stored: writing it creates it
          const [revived, r3] = await s[SET_REPORTING]('g', 'k', 'v3')
          assert.equal(revived, true)
          assert.deepEqual(await s.getEntry('g', 'k'), { value: 'v3', revision: r3, expiresAt: null })
          assert.deepEqual(brief(events.filter((e) => e.type === 'set')), ['set g/k=v1', 'set g/k=v2', 'set g/k=v3'])
          assert.deepEqual(events.filter((e) => e.type === 'set').map((e) => e.revision), [r1, r2, r3])
          if (face === 'scope') {
            await s.set('g', 'other', 'x') // the quota of 2 is full
            assert.deepEqual((await s[SET_REPORTING]('g', 'k', 'v4')).slice(0, 1), [false], 'a replacement uses no quota')
            await assert.rejects(s[SET_REPORTING]('g', 'new', 'v'), QuotaExceededError)
            assert.equal(await s.has('g', 'new'), false)
          }
        })

        it('set resolves to the revision that the set event and getEntry report', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          const { events } = record(s)
          const r1 = await s.set('g', 'k', 'v')
          const r2 = await s.set('g', 'other', 'w', { ttl: 60_000 })
          assert.ok(r2 > r1)
          assert.deepEqual(events.map((e) => e.revision), [r1, r2])
          const entry = await s.getEntry('g', 'k')
          assert.deepEqual(entry, { value: 'v', revision: r1, expiresAt: null })
          const withTtl = await s.getEntry('g', 'other')
          assert.equal(withTtl.revision, r2)
          assert.equal(typeof withTtl.expiresAt, 'number')
          assert.equal(await s.getEntry('g', 'missing'), undefined)
          assert.equal(await store.revision(), r2)
        })

        it('getEntry: expiresAt is the Unix ms of the expiry; an expired key is undefined', async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now })
          const s = view(store)
          await s.set('g', 'k', 'v', { ttl: 1000 })
          assert.equal((await s.getEntry('g', 'k')).expiresAt, now() + 1000)
          now.advance(999)
          assert.equal((await s.getEntry('g', 'k')).value, 'v')
          now.advance(1)
          assert.equal(await s.getEntry('g', 'k'), undefined)
        })

        it('ifRevision writes only over exactly that revision', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          const r1 = await s.set('g', 'k', 'v1')
          const { events } = record(s)
          assert.equal(await s.set('g', 'k', 'nope', { ifRevision: r1 + 1000 }), false)
          assert.equal(await s.get('g', 'k'), 'v1')
          const r2 = await s.set('g', 'k', 'v2', { ifRevision: r1 })
          assert.ok(r2 > r1)
          assert.equal(await s.set('g', 'k', 'stale', { ifRevision: r1 }), false)
          assert.equal(await s.set('g', 'missing', 'x', { ifRevision: r1 }), false)
          assert.deepEqual(brief(events), [`set g/k=v2`])
          assert.equal(events[0].revision, r2)
          assert.equal((await s.getEntry('g', 'k')).revision, r2)
        })

        it('ifRevision takes a ttl, and fails on a key that has expired', async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now })
          const s = view(store)
          const r1 = await s.set('g', 'k', 'v1')
          const r2 = await s.set('g', 'k', 'v2', { ifRevision: r1, ttl: 1000 })
          assert.deepEqual(await s.getEntry('g', 'k'), { value: 'v2', revision: r2, expiresAt: now() + 1000 })
          now.advance(1000)
          assert.equal(await s.set('g', 'k', 'v3', { ifRevision: r2 }), false, 'an expired key is not live')
          assert.equal(await s.get('g', 'k'), undefined)
          const r3 = await s.set('g', 'd', 'v', { ttl: 10 })
          now.advance(10)
          assert.equal(await s.delete('g', 'd', { ifRevision: r3 }), false)
        })

        it('ifAbsent writes only when there is no live key; an expired key counts as absent', async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now })
          const s = view(store)
          const r1 = await s.set('locks', 'job', 'a', { ifAbsent: true, ttl: 1000 })
          assert.equal(typeof r1, 'number')
          const { events, off } = record(s)
          assert.equal(await s.set('locks', 'job', 'b', { ifAbsent: true }), false)
          off()
          assert.deepEqual(events, [], 'no set event for a condition that did not hold')
          assert.deepEqual(await s.getEntry('locks', 'job'), { value: 'a', revision: r1, expiresAt: now() + 1000 })
          now.advance(1000)
          const r2 = await s.set('locks', 'job', 'b', { ifAbsent: true })
          assert.ok(r2 > r1)
          assert.deepEqual(await s.getEntry('locks', 'job'), { value: 'b', revision: r2, expiresAt: null })
          assert.equal(typeof (await s.set('locks', 'job', 'c', { ifAbsent: false })), 'number')
        })

        it('delete with ifRevision removes only that revision', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          const lease = await s.set('locks', 'job', 'me')
          const { events } = record(s)
          assert.equal(await s.delete('locks', 'job', { ifRevision: lease + 1 }), false)
          assert.equal(await s.get('locks', 'job'), 'me')
          assert.equal(await s.delete('locks', 'job', { ifRevision: lease }), true)
          assert.equal(await s.delete('locks', 'job', { ifRevision: lease }), false)
          assert.deepEqual(brief(events), ['delete locks/job'])
        })

        it('increment counts from 0, by any safe integer, keeping the TTL it was created with', async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now })
          const s = view(store)
          const { events } = record(s)
          assert.equal(await s.increment('c', 'n'), 1)
          assert.equal(await s.increment('c', 'n', 41), 42)
          assert.equal(await s.increment('c', 'n', 0), 42)
          assert.equal(await s.increment('c', 'n', -50), -8)
          assert.equal(await s.get('c', 'n'), '-8')
          assert.deepEqual(brief(events), ['set c/n=1', 'set c/n=42', 'set c/n=42', 'set c/n=-8'])
          assert.equal((await s.getEntry('c', 'n')).revision, events[3].revision)
          assert.equal(await s.increment('c', 'window', 1, { ttl: 1000 }), 1)
          now.advance(500)
          assert.equal(await s.increment('c', 'window', 1, { ttl: 60_000 }), 2)
          assert.equal(await s.ttl('c', 'window'), 500)
          now.advance(500)
          assert.equal(await s.increment('c', 'window', 5), 5, 'an expired counter starts again from 0')
          assert.equal(await s.ttl('c', 'window'), null)
          await s.set('c', 'big', String(Number.MAX_SAFE_INTEGER - 1))
          assert.equal(await s.increment('c', 'big'), Number.MAX_SAFE_INTEGER)
          await s.set('c', 'padded', '007')
          assert.equal(await s.increment('c', 'padded'), 8)
          await s.set('c', 'minus-zero', '-0')
          assert.equal(await s.increment('c', 'minus-zero'), 1)
          // An existing key keeps its expiry, none included; by 0 on a missing key creates "0".
          await s.set('c', 'forever', '1')
          assert.equal(await s.increment('c', 'forever', 1, { ttl: 1000 }), 2)
          assert.equal(await s.ttl('c', 'forever'), null)
          const { events: zero, off } = record(s)
          assert.equal(await s.increment('c', 'zero', 0), 0)
          off()
          assert.deepEqual(brief(zero), ['set c/zero=0'])
          assert.equal(await s.get('c', 'zero'), '0')
        })

        it('increment of a value that is not an integer, or past the safe range, changes nothing', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          for (const bad of ['abc', '1.5', '', ' 1', '1 ', '+1', '1e3', '--1', '٣']) {
            const revision = await s.set('c', 'k', bad)
            const { events, off } = record(s)
            await assert.rejects(s.increment('c', 'k'), (err) => {
              assert.ok(err instanceof StoreError, `${JSON.stringify(bad)}: ${err}`)
              assert.equal(err.code, 'ERR_NOT_INTEGER')
              assert.match(err.message, /increment/)
              // The group as the caller named it: a scope's prefix stays out of the message.
              assert.ok(err.message.includes('"c"/"k"') && !err.message.includes(':c"'), err.message)
              return true
            })
            off()
            assert.deepEqual(events, [])
            assert.deepEqual(await s.getEntry('c', 'k'), { value: bad, revision, expiresAt: null })
          }
          await s.set('c', 'max', String(Number.MAX_SAFE_INTEGER))
          await rejectsWith(s.increment('c', 'max'), RangeError, ['increment'])
          assert.equal(await s.get('c', 'max'), String(Number.MAX_SAFE_INTEGER))
          await s.set('c', 'min', String(Number.MIN_SAFE_INTEGER))
          await rejectsWith(s.increment('c', 'min', -1), RangeError, ['increment'])
          assert.equal(await s.get('c', 'min'), String(Number.MIN_SAFE_INTEGER))
          await s.set('c', 'huge', '99999999999999999999')
          await rejectsWith(s.increment('c', 'huge', 0), RangeError, ['increment'])
          // A stored value beyond the safe range whose sum is within it: the sum is exact, not the double's.
          await s.set('c', 'past', '9007199254740993')
          assert.equal(await s.increment('c', 'past', -2), 9007199254740991)
          assert.equal(await s.get('c', 'past'), '9007199254740991')
          await s.set('c', 'below', '-00000000000000009007199254740994')
          assert.equal(await s.increment('c', 'below', 3), -9007199254740991)
          await s.set('c', 'long', '0000000000000000000042')
          assert.equal(await s.increment('c', 'long', 1), 43)
          // An integer of any length (PostgreSQL's numeric stops at 131,072 digits): past the
          // safe range, a RangeError whose message shows the value shortened; zeros in front
          // of a small one, however many, change nothing.
          const vast = '1' + '0'.repeat(200_000)
          await s.set('c', 'vast', vast)
          await assert.rejects(s.increment('c', 'vast', -1), (err) => {
            assert.ok(err instanceof RangeError, String(err))
            assert.match(err.message, /^(store|scope)\.increment: /)
            assert.ok(err.message.length < 200, `a message of ${err.message.length} characters`)
            return true
          })
          assert.equal(await s.get('c', 'vast'), vast)
          await s.set('c', 'padded-vast', '0'.repeat(200_000) + '41')
          assert.equal(await s.increment('c', 'padded-vast'), 42)
        })

        it('getMany reads the live values in the order asked, undefined where none', async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now })
          const s = view(store)
          await s.set('cfg', 'host', 'db')
          await s.set('cfg', 'port', '5432')
          await s.set('cfg', 'temp', 'x', { ttl: 10 })
          await s.set('cfg', 'nul\u0000key', 'emoji 🚀')
          await s.set('other', 'host', 'elsewhere')
          now.advance(10)
          assert.deepEqual(await s.getMany('cfg', ['port', 'missing', 'host', 'temp', 'host', 'nul\u0000key']), [
            '5432',
            undefined,
            'db',
            undefined,
            'db',
            'emoji 🚀',
          ])
          assert.deepEqual(await s.getMany('cfg', []), [])
        })

        it('setMany writes every pair in order, one event each, and resolves to the last revision', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          const { events } = record(s)
          const last = await s.setMany('g', { b: '1', a: '2' })
          assert.deepEqual(brief(events), ['set g/b=1', 'set g/a=2'])
          assert.equal(last, events[1].revision)
          assert.ok(events[0].revision < events[1].revision)
          const again = await s.setMany('g', [['x', '1'], ['y', '2'], ['x', '3']])
          assert.equal(await s.get('g', 'x'), '3')
          assert.equal(events.length, 5)
          assert.equal(again, events[4].revision)
          assert.equal((await s.getEntry('g', 'x')).revision, again)
          await s.setMany('g', new Map([['m', 'v']]), { ttl: 60_000 })
          assert.equal(typeof (await s.ttl('g', 'm')), 'number')
          assert.equal(await s.setMany('g', {}), await store.revision())
          assert.equal(events.length, 6)
        })

        it('deleteMany removes live keys, counting a repeated key once, one event each', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          await s.setMany('g', { a: '1', b: '2', c: '3' })
          const { events } = record(s)
          assert.equal(await s.deleteMany('g', ['a', 'b', 'a', 'missing']), 2)
          assert.deepEqual(brief(events), ['delete g/a', 'delete g/b'])
          assert.deepEqual(await s.getMany('g', ['a', 'b', 'c']), [undefined, undefined, '3'])
          assert.equal(await s.deleteMany('g', []), 0)
        })

        it('deleteMany counts live keys only: an expired one is not removed by it', async (t) => {
          const now = clock()
          const store = await openStore(t, factory, { now })
          const s = view(store)
          await s.set('g', 'live', '1')
          await s.set('g', 'old', '2', { ttl: 10 })
          now.advance(10)
          assert.equal(await s.deleteMany('g', ['live', 'old']), 1)
          assert.equal(await s.count('g'), 0)
        })

        it('rejects bad arguments naming the method and argument, writing nothing', async (t) => {
          const store = await openStore(t, factory)
          const s = view(store)
          const m = face === 'store' ? 'store' : 'scope'
          await rejectsWith(s.set('g', 'k', 'v', { ifRevision: 1, ifAbsent: true }), TypeError, [`${m}.set`, 'ifRevision', 'ifAbsent'])
          await rejectsWith(s.set('g', 'k', 'v', { ifRevision: 0 }), RangeError, [`${m}.set`, 'ifRevision'])
          await rejectsWith(s.set('g', 'k', 'v', { ifRevision: 1.5 }), RangeError, ['ifRevision'])
          await rejectsWith(s.set('g', 'k', 'v', { ifRevision: 2 ** 53 }), RangeError, ['ifRevision'])
          await rejectsWith(s.set('g', 'k', 'v', { ifRevision: Infinity }), RangeError, ['ifRevision'])
          await rejectsWith(s.set('g', 'k', 'v', { ifRevision: '3' }), TypeError, ['ifRevision'])
          await rejectsWith(s.set('g', 'k', 'v', { ifAbsent: 'yes' }), TypeError, ['ifAbsent'])
          await rejectsWith(s.delete('g', 'k', { ifRevision: -1 }), RangeError, [`${m}.delete`, 'ifRevision'])
          await rejectsWith(s.delete('g', 'k', { nope: 1 }), TypeError, [`${m}.delete`, 'nope'])
          await rejectsWith(s.getEntry('g', 1), TypeError, [`${m}.getEntry`, 'key'])
          await rejectsWith(s.increment('g', 'k', 1.5), RangeError, [`${m}.increment`, 'by'])
          await rejectsWith(s.increment('g', 'k', 2 ** 53), RangeError, ['by'])
          await rejectsWith(s.increment('g', 'k', '1'), TypeError, ['by'])
          await rejectsWith(s.increment('g', 'k', 1, { ttl: 0 }), RangeError, ['ttl'])
          await rejectsWith(s.getMany('g', 'k'), TypeError, [`${m}.getMany`, 'keys'])
          await rejectsWith(s.getMany('g', ['a', 2]), TypeError, ['keys[1]'])
          await rejectsWith(s.getMany('g', Array.from({ length: 10_001 }, (_, i) => `k${i}`)), RangeError, ['10000'])
          await rejectsWith(s.deleteMany('g', Array.from({ length: 10_001 }, (_, i) => `k${i}`)), RangeError, [`${m}.deleteMany`])
          await rejectsWith(s.setMany('g', null), TypeError, [`${m}.setMany`, 'entries'])
          await rejectsWith(s.setMany('g', { a: 1 }), TypeError, ['entries'])
          await rejectsWith(s.setMany('g', [['a', '1'], ['b']]), TypeError, ['entries[1]'])
          await rejectsWith(s.setMany('g', { a: '1' }, { ttl: -1 }), RangeError, ['ttl'])
          const tooMany = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, 'v']))
          await rejectsWith(s.setMany('g', tooMany), RangeError, [`${m}.setMany`])
          assert.equal(await s.count('g'), 0)
          // 10,000 is allowed.
          const full = Array.from({ length: 10_000 }, (_, i) => `k${i}`)
          await s.setMany('g', full.map((k) => [k, 'v']))
          assert.equal((await s.getMany('g', full)).filter((v) => v === 'v').length, 10_000)
          assert.equal(await s.deleteMany('g', full), 10_000)
        })
      })
    }

    it('a key written before it was read keeps its revision across getEntry calls', async (t) => {
      const store = await openStore(t, factory)
      const r = await store.set('g', 'k', 'v')
      assert.equal((await store.getEntry('g', 'k')).revision, r)
      assert.equal((await store.getEntry('g', 'k')).revision, r)
    })

    it('revisions are strictly increasing across groups, scopes and transactions', async (t) => {
      const store = await openStore(t, factory)
      const seen = []
      seen.push(await store.set('a', 'k', 'v'))
      seen.push(await store.scope('t').set('b', 'k', 'v'))
      seen.push(await store.transaction((tx) => tx.set('c', 'k', 'v')))
      await store.increment('d', 'n')
      seen.push((await store.getEntry('d', 'n')).revision)
      seen.push(await store.setMany('e', { k: 'v' }))
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], `${seen}`)
    })

    it('with changeLog: false too, revisions match events and getEntry', async (t) => {
      const store = await openStore(t, factory, { changeLog: false })
      const { events } = record(store)
      const r1 = await store.set('g', 'k', 'v')
      assert.equal(await store.increment('g', 'n'), 1)
      const r2 = (await store.getEntry('g', 'n')).revision
      assert.deepEqual(events.map((e) => e.revision), [r1, r2])
      assert.ok(r2 > r1)
      assert.equal(await store.revision(), r2)
    })

    // Writes issued together share a commit, and a scope's quota check runs in its write, so
    // these take other paths than a lone write; with busyTimeout 0 a lone write takes them too.
    for (const options of [{ changeLog: false }, { changeLog: false, busyTimeout: 0 }]) {
      it(`with ${JSON.stringify(options)}, conditional writes, increments and deletes work issued together, in a scope with a quota and in a transaction`, async (t) => {
        const store = await openStore(t, factory, options)
        const { events } = record(store)
        const r0 = await store.set('g', 'old', 'x')
        const together = await Promise.all([
          store.set('g', 'a', '1'),
          store.set('g', 'lock', 'me', { ifAbsent: true }),
          store.set('g', 'old', 'y', { ifRevision: r0 }),
          store.increment('g', 'n', 2),
          store.delete('g', 'a'),
          store.delete('g', 'old', { ifRevision: r0 }),
          store.set('g', 'b', '2'),
        ])
        assert.equal(together[4], true)
        assert.equal(together[5], false, 'old was written again just before')
        assert.deepEqual({ ...(await store.getAll('g')) }, { b: '2', lock: 'me', n: '2', old: 'y' })
        const tenant = store.scope('t', { quota: { maxKeys: 2 } })
        assert.equal(await tenant.increment('c', 'n'), 1)
        assert.equal(typeof (await tenant.set('c', 'lock', 'me', { ifAbsent: true })), 'number')
        await rejectsWith(tenant.increment('c', 'm'), QuotaExceededError)
        const result = await store.transaction(async (tx) => {
          const r = await tx.set('h', 'k', 'v')
          const cas = await tx.set('h', 'k', 'w', { ifRevision: r })
          const absent = await tx.set('h', 'new', 'x', { ifAbsent: true })
          const n = await tx.increment('h', 'n')
          const gone = await tx.delete('h', 'new', { ifRevision: absent })
          const removed = await tx.delete('h', 'missing')
          return { cas: typeof cas, absent: typeof absent, n, gone, removed }
        })
        assert.deepEqual(result, { cas: 'number', absent: 'number', n: 1, gone: true, removed: false })
        assert.deepEqual({ ...(await store.getAll('h')) }, { k: 'w', n: '1' })
        const revisions = events.map((e) => e.revision)
        for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i] > revisions[i - 1], `${revisions}`)
        assert.equal(events.length, 14)
        assert.equal(await store.revision(), revisions.at(-1))
        assert.equal((await store.getEntry('h', 'n')).revision, events.findLast((e) => e.key === 'n' && e.group === 'h').revision)
      })
    }

    it('200 concurrent ifAbsent sets of one key: exactly one wins', async (t) => {
      const store = await openStore(t, factory)
      const { events } = record(store)
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => store.set('locks', 'one', `w${i}`, { ifAbsent: true })),
      )
      const winners = results.filter((r) => r !== false)
      assert.equal(winners.length, 1)
      assert.equal(events.length, 1)
      assert.equal((await store.getEntry('locks', 'one')).revision, winners[0])
    })

    it('1,000 concurrent increments leave exactly +1,000', async (t) => {
      const store = await openStore(t, factory)
      await store.set('c', 'n', '5')
      const results = await Promise.all(Array.from({ length: 1000 }, () => store.increment('c', 'n')))
      assert.equal(await store.get('c', 'n'), '1005')
      assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 6))
    })

    it('inside a transaction, conditions see its own writes; a rollback undoes them', async (t) => {
      const store = await openStore(t, factory)
      const result = await store.transaction(async (tx) => {
        const first = await tx.set('g', 'k', 'a', { ifAbsent: true })
        const second = await tx.set('g', 'k', 'b', { ifAbsent: true })
        const cas = await tx.set('g', 'k', 'c', { ifRevision: first })
        const entry = await tx.getEntry('g', 'k')
        const n = await tx.increment('g', 'n', 2)
        const many = await tx.getMany('g', ['k', 'n'])
        return { first, second, cas, entry, n, many }
      })
      assert.equal(typeof result.first, 'number')
      assert.equal(result.second, false)
      assert.ok(result.cas > result.first)
      assert.deepEqual(result.entry, { value: 'c', revision: result.cas, expiresAt: null })
      assert.equal(result.n, 2)
      assert.deepEqual(result.many, ['c', '2'])
      const before = await store.revision()
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.setMany('g', { k: 'x', other: 'y' })
          await tx.increment('g', 'n')
          throw new Error('abort')
        }),
        /abort/,
      )
      assert.deepEqual(await store.getMany('g', ['k', 'n', 'other']), ['c', '2', undefined])
      assert.equal(await store.revision(), before)
    })

    it('inside a transaction, delete with ifRevision and deleteMany see its own writes', async (t) => {
      const store = await openStore(t, factory)
      const before = await store.set('g', 'a', '1')
      const { events } = record(store)
      const result = await store.transaction(async (tx) => {
        const stale = await tx.delete('g', 'a', { ifRevision: before + 1000 })
        const rewritten = await tx.set('g', 'a', '2')
        const old = await tx.delete('g', 'a', { ifRevision: before })
        const current = await tx.delete('g', 'a', { ifRevision: rewritten })
        await tx.setMany('g', { b: '1', c: '2' })
        const many = await tx.deleteMany('g', ['b', 'c', 'b', 'a'])
        return { stale, old, current, many }
      })
      assert.deepEqual(result, { stale: false, old: false, current: true, many: 2 })
      assert.equal(await store.count('g'), 0)
      assert.deepEqual(brief(events), ['set g/a=2', 'delete g/a', 'set g/b=1', 'set g/c=2', 'delete g/b', 'delete g/c'])
    })

    describe('quotas', () => {
      it('a failed condition uses no quota; an increment or setMany that creates keys counts', async (t) => {
        const store = await openStore(t, factory)
        const tenant = store.scope('t', { quota: { maxKeys: 2 } })
        const r = await tenant.set('g', 'a', '1')
        assert.equal(await tenant.set('g', 'a', 'x', { ifAbsent: true }), false)
        assert.equal(await tenant.set('g', 'a', 'x', { ifRevision: r + 99 }), false)
        assert.equal(await tenant.increment('g', 'n'), 1)
        await rejectsWith(tenant.increment('g', 'm'), QuotaExceededError, ['scope.increment'])
        await rejectsWith(tenant.set('g', 'b', '1', { ifAbsent: true }), QuotaExceededError)
        assert.equal(await tenant.increment('g', 'n'), 2, 'an existing counter never counts')
        assert.equal(typeof (await tenant.set('g', 'a', 'y', { ifRevision: r })), 'number')
        await rejectsWith(tenant.setMany('g', { a: '1', z: '2' }), QuotaExceededError, ['scope.setMany'])
        assert.equal(await tenant.get('g', 'a'), 'y', 'setMany wrote nothing')
        await tenant.setMany('g', { a: '3', n: '4' })
        assert.equal(await tenant.deleteMany('g', ['a']), 1)
        await tenant.setMany('g', [['b', '1'], ['b', '2']])
        assert.equal(await tenant.count('g'), 2)
      })

      it('maxGroups counts a group that setMany or increment creates', async (t) => {
        const store = await openStore(t, factory)
        const tenant = store.scope('t', { quota: { maxGroups: 1 } })
        await tenant.increment('one', 'n')
        await rejectsWith(tenant.increment('two', 'n'), QuotaExceededError)
        await rejectsWith(tenant.setMany('two', { a: '1' }), QuotaExceededError)
        await tenant.setMany('one', { a: '1' })
        assert.deepEqual(await tenant.groups(), ['one'])
      })

      it('concurrent ifAbsent sets and increments never pass the quota', async (t) => {
        const store = await openStore(t, factory)
        const tenant = store.scope('t', { quota: { maxKeys: 5 } })
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? tenant.increment('g', `c${i}`) : tenant.set('g', `k${i}`, 'v', { ifAbsent: true }))),
        )
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 5)
        assert.equal(await tenant.countAll(), 5)
      })
    })
  })
}
