// Quotas of scoped stores: maxKeys, maxGroups, what counts, rejections that
// change nothing, and exactness under concurrent writers.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { QuotaExceededError, StoreError } from 'groupstore'
import { clock, openStore, record } from './helpers.js'

/** Asserts a QuotaExceededError of `namespace` for `limit`. */
function quotaError(namespace, limit, method = 'scope.set') {
  return (err) => {
    assert.ok(err instanceof QuotaExceededError, `got ${err}`)
    assert.ok(err instanceof StoreError)
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'QuotaExceededError')
    assert.equal(err.code, 'ERR_QUOTA_EXCEEDED')
    assert.equal(err.namespace, namespace)
    assert.equal(err.limit, limit)
    assert.ok(err.message.startsWith(`${method}: `), err.message)
    return true
  }
}

/** @param {import('./index.js').Factory} factory */
export default function quotas(factory) {
  describe('quotas', () => {
    it('maxKeys bounds live keys across the namespace', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 3 } })
      await s.set('a', 'k1', 'v')
      await s.set('a', 'k2', 'v')
      await s.set('b', 'k1', 'v')
      await assert.rejects(s.set('c', 'k', 'v'), quotaError('t', 'maxKeys'))
      await assert.rejects(s.set('a', 'k3', 'v'), quotaError('t', 'maxKeys'))
      assert.equal(await s.countAll(), 3)
    })

    it('overwriting a live key never counts', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 1, maxGroups: 1 } })
      await s.set('g', 'k', '1')
      await s.set('g', 'k', '2')
      await s.set('g', 'k', '3', { ttl: 1000 })
      assert.equal(await s.get('g', 'k'), '3')
    })

    it('a rejected write changes nothing and emits nothing', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 1 } })
      await s.set('g', 'k', 'v')
      const { events } = record(store)
      await assert.rejects(s.set('g', 'other', 'x'), QuotaExceededError)
      await assert.rejects(s.set('h', 'other', 'x', { ttl: 5 }), QuotaExceededError)
      assert.deepEqual(events, [])
      assert.deepEqual(await s.groups(), ['g'])
      assert.equal(await s.has('g', 'other'), false)
      assert.deepEqual({ ...(await s.getAll('g')) }, { k: 'v' })
    })

    it('delete then re-insert stays within the quota', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 2 } })
      await s.set('g', 'a', 'v')
      await s.set('g', 'b', 'v')
      await s.delete('g', 'a')
      await s.set('g', 'c', 'v')
      await assert.rejects(s.set('g', 'a', 'v'), QuotaExceededError)
      await s.deleteGroup('g')
      await s.set('g', 'a', 'v')
      await s.set('h', 'b', 'v')
      await s.deletePrefix('')
      await s.set('x', 'a', 'v')
      await s.set('y', 'a', 'v')
      assert.equal(await s.countAll(), 2)
    })

    it('maxGroups bounds distinct live groups; more keys in an existing group are fine', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxGroups: 2 } })
      await s.set('g1', 'k', 'v')
      await s.set('g2', 'k', 'v')
      await assert.rejects(s.set('g3', 'k', 'v'), quotaError('t', 'maxGroups'))
      for (let i = 0; i < 20; i++) await s.set('g1', `k${i}`, 'v')
      await s.deleteGroup('g1')
      await s.set('g3', 'k', 'v')
      assert.deepEqual(await s.groups(), ['g2', 'g3'])
    })

    it('maxKeys and maxGroups together: each reports its own limit', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 3, maxGroups: 1 } })
      await s.set('g', 'a', 'v')
      await assert.rejects(s.set('h', 'a', 'v'), quotaError('t', 'maxGroups'))
      await s.set('g', 'b', 'v')
      await s.set('g', 'c', 'v')
      await assert.rejects(s.set('g', 'd', 'v'), quotaError('t', 'maxKeys'))
    })

    it('zero or absent limits mean unlimited', async (t) => {
      const store = await openStore(t, factory)
      for (const quota of [{ maxKeys: 0, maxGroups: 0 }, {}, undefined]) {
        const s = store.scope('t', quota === undefined ? undefined : { quota })
        const writes = []
        for (let i = 0; i < 50; i++) writes.push(s.set(`g${i}`, 'k', 'v'))
        await Promise.all(writes)
        assert.equal(await s.countAll(), 50)
        await s.deletePrefix('')
      }
      const keysOnly = store.scope('u', { quota: { maxKeys: 0, maxGroups: 1 } })
      for (let i = 0; i < 50; i++) await keysOnly.set('g', `k${i}`, 'v')
      const groupsOnly = store.scope('v', { quota: { maxKeys: 100 } })
      for (let i = 0; i < 50; i++) await groupsOnly.set(`g${i}`, 'k', 'v')
    })

    it('expired keys never count, for maxKeys or maxGroups', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const s = store.scope('t', { quota: { maxKeys: 2, maxGroups: 2 } })
      await s.set('a', 'k', 'v', { ttl: 100 })
      await s.set('b', 'k', 'v', { ttl: 100 })
      await assert.rejects(s.set('c', 'k', 'v'), QuotaExceededError)
      now.advance(100)
      await s.set('c', 'k', 'v')
      await s.set('d', 'k', 'v')
      assert.deepEqual(await s.groups(), ['c', 'd'])
      await assert.rejects(s.set('e', 'k', 'v'), QuotaExceededError)
    })

    it('rewriting an expired key counts as a new key', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const s = store.scope('t', { quota: { maxKeys: 1 } })
      await s.set('g', 'old', 'v', { ttl: 10 })
      now.advance(10)
      await s.set('g', 'new', 'v')
      await assert.rejects(s.set('g', 'old', 'v'), QuotaExceededError)
    })

    it('keys outside the namespace, and of other namespaces, do not count', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 1, maxGroups: 1 } })
      await store.set('g', 'k', 'v')
      await store.set('t2:g', 'k', 'v')
      await store.scope('t1').set('g', 'k', 'v')
      await s.set('g', 'k', 'v')
    })

    it('writes through the store itself are not limited by a scope’s quota, but count for it', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 1 } })
      await store.set('t:g', 'a', 'v')
      await store.set('t:g', 'b', 'v')
      await assert.rejects(s.set('g', 'c', 'v'), QuotaExceededError)
      await s.set('g', 'a', 'overwrite')
    })

    it('the quota applies inside a scoped transaction, and a rejection there can be caught', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 2 } })
      await s.transaction(async (tx) => {
        await tx.set('g', 'a', 'v')
        await tx.set('g', 'b', 'v')
        await assert.rejects(tx.set('g', 'c', 'v'), quotaError('t', 'maxKeys', 'tx.set'))
        await tx.delete('g', 'a')
        await tx.set('g', 'c', 'v')
      })
      assert.deepEqual(Object.keys(await s.getAll('g')).sort(), ['b', 'c'])
      await assert.rejects(
        s.transaction(async (tx) => {
          await tx.set('g', 'd', 'v')
        }),
        QuotaExceededError,
      )
      assert.deepEqual(Object.keys(await s.getAll('g')).sort(), ['b', 'c'])
    })

    it('200 concurrent writers against maxKeys 10 leave exactly 10 keys', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 10 } })
      const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => s.set(`g${i % 7}`, `k${i}`, 'v')))
      const ok = results.filter((r) => r.status === 'fulfilled').length
      const rejected = results.filter((r) => r.status === 'rejected')
      assert.equal(ok, 10)
      assert.equal(rejected.length, 190)
      for (const r of rejected) assert.ok(r.reason instanceof QuotaExceededError, String(r.reason))
      assert.equal(await s.countAll(), 10)
      assert.equal(await store.countAll(), 10)
    })

    it('200 concurrent writers through separate scope objects still leave exactly 10', async (t) => {
      const store = await openStore(t, factory)
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) => store.scope('t', { quota: { maxKeys: 10 } }).set('g', `k${i}`, 'v')),
      )
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10)
      assert.equal(await store.countAll('t:'), 10)
    })

    it('concurrent writers against maxGroups 3 leave exactly 3 groups', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxGroups: 3 } })
      const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => s.set(`g${i}`, 'k', 'v')))
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3)
      assert.equal((await s.groups()).length, 3)
    })

    it('concurrent scoped transactions cannot push past the quota together', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('t', { quota: { maxKeys: 5 } })
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          s.transaction(async (tx) => {
            await tx.set('g', `a${i}`, 'v')
            await tx.set('g', `b${i}`, 'v')
          }),
        ),
      )
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2)
      assert.equal(await s.countAll(), 4)
    })
  })
}
