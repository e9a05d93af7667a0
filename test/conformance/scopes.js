// Scoped stores: relative names everywhere, namespace validation, isolation,
// events seen from the store and from the scope, scoped transactions.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ScopedStore, StoreError } from 'groupstore'
import { assertNothingBefore, brief, clock, collect, nextEvent, openStore, plain, record, throwsWith } from './helpers.js'

/** @param {import('./index.js').Factory} factory */
export default function scopes(factory) {
  describe('scopes', () => {
    it('stores groups as <namespace>:<group>', async (t) => {
      const store = await openStore(t, factory)
      const tenant = store.scope('tenant-42')
      assert.ok(tenant instanceof ScopedStore)
      assert.equal(tenant.namespace, 'tenant-42')
      await tenant.set('config', 'theme', 'dark')
      assert.equal(await store.get('tenant-42:config', 'theme'), 'dark')
      assert.deepEqual(await store.groups(), ['tenant-42:config'])
      await store.set('tenant-42:config', 'lang', 'en-GB')
      assert.equal(await tenant.get('config', 'lang'), 'en-GB')
    })

    it('answers relative names from every read', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const s = store.scope('t1')
      await s.set('config', 'a', '1')
      await s.set('config', 'b', '2', { ttl: 1000 })
      await s.set('cache:x', 'k', 'v')
      await s.set('cache:y', 'k', 'v')
      await store.set('config', 'outside', 'o')
      await store.set('t10:config', 'k', 'other tenant')
      assert.equal(await s.get('config', 'a'), '1')
      assert.equal(await s.has('config', 'b'), true)
      assert.equal(await s.ttl('config', 'b'), 1000)
      assert.equal(await s.count('config'), 2)
      assert.equal(await s.countAll(), 4)
      assert.equal(await s.countAll('cache:'), 2)
      assert.deepEqual(await s.groups(), ['cache:x', 'cache:y', 'config'])
      assert.deepEqual(await s.groups('cache:'), ['cache:x', 'cache:y'])
      assert.deepEqual({ ...(await s.getAll('config')) }, { a: '1', b: '2' })
      assert.deepEqual(await s.page('config', { limit: 1 }), { entries: [['a', '1']], next: 'a' })
      assert.deepEqual(await collect(s.entries('config')), [['a', '1'], ['b', '2']])
      assert.equal(await s.render('{{ a }}{{ b }}{{ outside }}', 'config'), '12')
    })

    it('writes and deletes stay inside the namespace', async (t) => {
      const store = await openStore(t, factory)
      const a = store.scope('a')
      const b = store.scope('b')
      await a.set('g', 'k', 'A')
      await b.set('g', 'k', 'B')
      await store.set('g', 'k', 'root')
      assert.equal(await a.get('g', 'k'), 'A')
      assert.equal(await b.get('g', 'k'), 'B')
      assert.equal(await a.delete('g', 'k'), true)
      assert.equal(await b.get('g', 'k'), 'B')
      await a.set('g', 'k', 'A')
      assert.equal(await a.deleteGroup('g'), 1)
      assert.equal(await b.count('g'), 1)
      await a.set('g1', 'k', 'A')
      await a.set('g2', 'k', 'A')
      assert.equal(await a.deletePrefix(''), 2)
      assert.deepEqual(await store.groups(), ['b:g', 'g'])
      await a.set('x:1', 'k', 'A')
      await a.set('y', 'k', 'A')
      assert.equal(await a.deletePrefix('x:'), 1)
      assert.deepEqual(await a.groups(), ['y'])
    })

    it('a namespace that is a prefix of another does not see it', async (t) => {
      const store = await openStore(t, factory)
      const t1 = store.scope('t1')
      const t10 = store.scope('t10')
      await t10.set('g', 'k', 'v')
      assert.deepEqual(await t1.groups(), [])
      assert.equal(await t1.countAll(), 0)
      assert.equal(await t1.deletePrefix(''), 0)
      assert.equal(await t10.countAll(), 1)
    })

    it('getAll is a null-prototype object in a scope too', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('ns')
      await s.set('g', '__proto__', 'p')
      const all = await s.getAll('g')
      assert.equal(Object.getPrototypeOf(all), null)
      assert.equal(Object.getOwnPropertyDescriptor(all, '__proto__')?.value, 'p')
    })

    it('the empty group is valid in a scope', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('ns')
      await s.set('', '', '')
      assert.equal(await s.get('', ''), '')
      assert.deepEqual(await s.groups(), [''])
      assert.deepEqual(await store.groups(), ['ns:'])
    })

    it('two scope objects of one namespace share its data', async (t) => {
      const store = await openStore(t, factory)
      await store.scope('ns').set('g', 'k', 'v')
      assert.equal(await store.scope('ns').get('g', 'k'), 'v')
    })

    for (const bad of ['', 'a:b', 'a b', 'a_b', 'a.b', 'ä', 'a/b', 'tenant*', '*', 'a\nb', '\u0000', 'x'.repeat(3) + ':']) {
      it(`scope(${JSON.stringify(bad)}) throws a TypeError`, async (t) => {
        const store = await openStore(t, factory)
        throwsWith(() => store.scope(bad), TypeError, ['store.scope: ', 'namespace'])
      })
    }

    it('namespaces of letters, digits and hyphens are accepted', async (t) => {
      const store = await openStore(t, factory)
      for (const ok of ['a', 'Z', '0', '-', 'tenant-42', 'ABC-def-123', 'x'.repeat(200)]) {
        assert.equal(store.scope(ok).namespace, ok)
      }
    })

    it('a scope has every read/write method, transaction, watch and onChange, but cannot close, purge or scope the store', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('ns')
      for (const method of [
        'get', 'has', 'set', 'delete', 'deleteGroup', 'deletePrefix', 'count', 'countAll', 'groups', 'getAll', 'page',
        'entries', 'ttl', 'render', 'getEntry', 'increment', 'getMany', 'setMany', 'deleteMany', 'transaction', 'watch', 'onChange',
      ]) {
        assert.equal(typeof s[method], 'function', method)
      }
      for (const method of ['close', 'purgeExpired', 'scope']) assert.equal(s[method], undefined, method)
      assert.equal(s[Symbol.asyncDispose], undefined)
      await s.set('g', 'k', 'v')
      assert.equal(await store.get('ns:g', 'k'), 'v')
    })

    it('error messages of a scope name the scope method', async (t) => {
      const store = await openStore(t, factory)
      await assert.rejects(store.scope('ns').get(1, 'k'), /^TypeError: scope\.get: .*group/)
    })

    describe('events', () => {
      it('store-level watchers and callbacks see scoped writes under the full name', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('ns:g', 'k')
        const { events } = record(store)
        const s = store.scope('ns')
        await s.set('g', 'k', 'v')
        await s.delete('g', 'k')
        await s.set('g', 'k', 'v')
        await s.deleteGroup('g')
        assert.deepEqual(brief(events), ['set ns:g/k=v', 'delete ns:g/k', 'set ns:g/k=v', 'delete_group ns:g/'])
        assert.deepEqual(brief([await nextEvent(watcher), await nextEvent(watcher)]), ['set ns:g/k=v', 'delete ns:g/k'])
      })

      it('a scope’s watch and onChange see only its namespace, with relative names', async (t) => {
        const now = clock()
        const store = await openStore(t, factory, { now, purgeInterval: 0 })
        const s = store.scope('ns')
        const other = store.scope('ns2')
        const all = s.watch('*', '*')
        const group = s.watch('g', '*')
        const key = s.watch('g', 'k')
        const { events } = record(s)
        await store.set('g', 'k', 'root')
        await other.set('g', 'k', 'other')
        await store.set('ns2:g', 'k', 'other')
        await store.set('ns', 'k', 'no colon')
        await s.set('g', 'k', '1')
        await s.set('h', 'k', '2')
        await store.set('ns:g', 'x', 'via store')
        await s.set('g', 't', 'ttl', { ttl: 1 })
        now.advance(1)
        await store.purgeExpired()
        await s.deletePrefix('')
        const seen = brief(events)
        assert.deepEqual(seen.slice(0, 5), ['set g/k=1', 'set h/k=2', 'set g/x=via store', 'set g/t=ttl', 'expire g/t'])
        assert.deepEqual(seen.slice(5).sort(), ['delete_group g/', 'delete_group h/'])
        await store.close()
        assert.deepEqual(brief(await collect(all)), seen)
        assert.deepEqual(brief(await collect(group)), ['set g/k=1', 'set g/x=via store', 'set g/t=ttl', 'expire g/t', 'delete_group g/'])
        assert.deepEqual(brief(await collect(key)), ['set g/k=1', 'delete_group g/'])
      })

      it('scoped events carry the timestamp and value unchanged', async (t) => {
        const now = clock()
        const store = await openStore(t, factory, { now })
        const { events } = record(store.scope('ns'))
        await store.scope('ns').set('g', 'k', 'v')
        assert.deepEqual(events.map(plain), [{ type: 'set', group: 'g', key: 'k', value: 'v', timestamp: new Date(now()) }])
      })

      it('a scope’s onChange unsubscribe is idempotent', async (t) => {
        const store = await openStore(t, factory)
        const s = store.scope('ns')
        const seen = []
        const off = s.onChange((e) => seen.push(e.key))
        await s.set('g', 'a', '1')
        off()
        off()
        await s.set('g', 'b', '2')
        assert.deepEqual(seen, ['a'])
      })

      it('a scope watcher ignores writes outside its namespace entirely', async (t) => {
        const store = await openStore(t, factory)
        const s = store.scope('ns')
        const watcher = s.watch('*', '*', { bufferSize: 1 })
        for (let i = 0; i < 5; i++) await store.set('g', `k${i}`, 'v')
        assert.equal(watcher.dropped, 0)
        await assertNothingBefore(watcher, () => s.set('m', 'k', 'v'), 'set m/k=v')
      })
    })

    describe('transactions', () => {
      it('a scoped transaction works in the namespace, with relative names', async (t) => {
        const store = await openStore(t, factory)
        const s = store.scope('ns')
        await s.set('a', 'k', '1')
        const { events } = record(s)
        const seen = await s.transaction(async (tx) => {
          await tx.set('b', 'k', '2')
          await tx.delete('a', 'k')
          return tx.groups()
        })
        assert.deepEqual(seen, ['b'])
        assert.deepEqual(await store.groups(), ['ns:b'])
        assert.deepEqual(brief(events), ['set b/k=2', 'delete a/k'])
      })

      it('a scoped transaction sees and changes only its namespace', async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', 'k', 'root')
        await store.set('ns2:g', 'k', 'other tenant')
        await store.set('ns', 'k', 'no colon')
        await store.scope('ns').set('g', 'k', 'mine')
        const seen = await store.scope('ns').transaction(async (tx) => {
          const before = { groups: await tx.groups(), countAll: await tx.countAll(), get: await tx.get('g', 'k') }
          const removed = await tx.deletePrefix('')
          return { ...before, removed, after: await tx.groups() }
        })
        assert.deepEqual(seen, { groups: ['g'], countAll: 1, get: 'mine', removed: 1, after: [] })
        assert.deepEqual(await store.groups(), ['g', 'ns', 'ns2:g'])
      })

      it('a scoped transaction rolls back on a throw', async (t) => {
        const store = await openStore(t, factory)
        const s = store.scope('ns')
        await assert.rejects(
          s.transaction(async (tx) => {
            await tx.set('g', 'k', 'v')
            throw new Error('no')
          }),
          /no/,
        )
        assert.equal(await store.countAll(), 0)
      })

      it('calling the scope inside its own transaction rejects with StoreError', async (t) => {
        const store = await openStore(t, factory)
        const s = store.scope('ns')
        await s.transaction(async () => {
          await assert.rejects(s.get('g', 'k'), StoreError)
        })
      })
    })
  })
}
