// Reads and writes: get, has, set, delete, deleteGroup, deletePrefix, count,
// countAll, groups, getAll.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fill, openStore } from './helpers.js'

/** @param {import('./index.js').Factory} factory */
export default function basics(factory) {
  describe('reads and writes', () => {
    it('set then get round-trips a value; set resolves to the revision of the write', async (t) => {
      const store = await openStore(t, factory)
      const revision = await store.set('g', 'k', 'v')
      assert.ok(Number.isSafeInteger(revision) && revision > 0, `revision ${revision}`)
      assert.equal(revision, await store.revision())
      assert.equal(await store.get('g', 'k'), 'v')
    })

    it('get answers undefined for a missing key and for a missing group', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v')
      assert.equal(await store.get('g', 'other'), undefined)
      assert.equal(await store.get('nope', 'k'), undefined)
    })

    it('set overwrites the value of an existing key', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'one')
      await store.set('g', 'k', 'two')
      assert.equal(await store.get('g', 'k'), 'two')
      assert.equal(await store.count('g'), 1)
    })

    it('keys are addressed by (group, key): the same key in two groups is two values', async (t) => {
      const store = await openStore(t, factory)
      await store.set('a', 'k', '1')
      await store.set('b', 'k', '2')
      assert.equal(await store.get('a', 'k'), '1')
      assert.equal(await store.get('b', 'k'), '2')
    })

    it('has answers true for a live key and false otherwise', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', '')
      assert.equal(await store.has('g', 'k'), true)
      assert.equal(await store.has('g', 'x'), false)
      assert.equal(await store.has('x', 'k'), false)
    })

    it('delete answers true when it removed a key, false for a missing one', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v')
      assert.equal(await store.delete('g', 'k'), true)
      assert.equal(await store.get('g', 'k'), undefined)
      assert.equal(await store.delete('g', 'k'), false)
      assert.equal(await store.delete('nope', 'k'), false)
    })

    it('delete removes only its key', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'a', '1')
      await store.set('g', 'b', '2')
      await store.set('h', 'a', '3')
      await store.delete('g', 'a')
      assert.deepEqual({ ...(await store.getAll('g')) }, { b: '2' })
      assert.equal(await store.get('h', 'a'), '3')
    })

    it('deleteGroup removes every key of the group and answers how many', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 5)
      await store.set('other', 'k', 'v')
      assert.equal(await store.deleteGroup('g'), 5)
      assert.equal(await store.count('g'), 0)
      assert.deepEqual({ ...(await store.getAll('g')) }, {})
      assert.equal(await store.get('other', 'k'), 'v')
      assert.equal(await store.deleteGroup('g'), 0)
      assert.equal(await store.deleteGroup('never'), 0)
    })

    it('deletePrefix removes every group starting with the prefix and answers the keys removed', async (t) => {
      const store = await openStore(t, factory)
      await store.set('app:a', 'k1', 'v')
      await store.set('app:a', 'k2', 'v')
      await store.set('app:b', 'k', 'v')
      await store.set('apple', 'k', 'v')
      await store.set('other', 'k', 'v')
      assert.equal(await store.deletePrefix('app:'), 3)
      assert.deepEqual(await store.groups(), ['apple', 'other'])
      assert.equal(await store.deletePrefix('app:'), 0)
    })

    it("deletePrefix('') removes every group", async (t) => {
      const store = await openStore(t, factory)
      await store.set('a', 'k', 'v')
      await store.set('b', 'k', 'v')
      await store.set('', 'k', 'v')
      assert.equal(await store.deletePrefix(''), 3)
      assert.equal(await store.countAll(), 0)
      assert.deepEqual(await store.groups(), [])
    })

    it('deletePrefix with a prefix equal to a whole group name removes that group too', async (t) => {
      const store = await openStore(t, factory)
      await store.set('cfg', 'k', 'v')
      await store.set('cfg2', 'k', 'v')
      await store.set('cf', 'k', 'v')
      assert.equal(await store.deletePrefix('cfg'), 2)
      assert.deepEqual(await store.groups(), ['cf'])
    })

    it('count answers the number of keys in a group', async (t) => {
      const store = await openStore(t, factory)
      assert.equal(await store.count('g'), 0)
      await fill(store, 'g', 500)
      await store.set('h', 'k', 'v')
      assert.equal(await store.count('g'), 500)
      assert.equal(await store.count('h'), 1)
    })

    it('countAll counts keys across groups starting with a prefix', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 't1:a', 3)
      await fill(store, 't1:b', 2)
      await fill(store, 't2:a', 4)
      assert.equal(await store.countAll('t1:'), 5)
      assert.equal(await store.countAll('t2:'), 4)
      assert.equal(await store.countAll('t'), 9)
      assert.equal(await store.countAll('t3:'), 0)
    })

    it("countAll() and countAll('') count every key", async (t) => {
      const store = await openStore(t, factory)
      assert.equal(await store.countAll(), 0)
      await fill(store, 'a', 3)
      await fill(store, 'b', 2)
      await store.set('', 'k', 'v')
      assert.equal(await store.countAll(), 6)
      assert.equal(await store.countAll(''), 6)
    })

    it('groups answers distinct group names in ascending order, filtered by prefix', async (t) => {
      const store = await openStore(t, factory)
      for (const g of ['b', 'a', 'c:2', 'c:1', 'a']) await store.set(g, 'k', 'v')
      await store.set('a', 'k2', 'v')
      assert.deepEqual(await store.groups(), ['a', 'b', 'c:1', 'c:2'])
      assert.deepEqual(await store.groups(''), ['a', 'b', 'c:1', 'c:2'])
      assert.deepEqual(await store.groups('c:'), ['c:1', 'c:2'])
      assert.deepEqual(await store.groups('zzz'), [])
    })

    it('groups are ascending by code point, as page orders keys, including non-ASCII and astral names', async (t) => {
      const store = await openStore(t, factory)
      const names = ['b', 'a', 'B', 'é', 'z', '😀', '\uffff', '日本', 'a\u0000', '', 'a b', 'Z']
      for (const g of names) await store.set(g, 'k', 'v')
      const byCodePoint = [...names].sort((x, y) => {
        const a = Array.from(x, (c) => c.codePointAt(0))
        const b = Array.from(y, (c) => c.codePointAt(0))
        for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i]
        return a.length - b.length
      })
      assert.deepEqual(await store.groups(), byCodePoint)
      assert.deepEqual(await store.groups('a'), ['a', 'a\u0000', 'a b'])
    })

    it('a group exists only while it holds a key', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v')
      assert.deepEqual(await store.groups(), ['g'])
      await store.delete('g', 'k')
      assert.deepEqual(await store.groups(), [])
    })

    it('getAll answers every pair of a group in a null-prototype object', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'b', '2')
      await store.set('g', 'a', '1')
      await store.set('h', 'c', '3')
      const all = await store.getAll('g')
      assert.equal(Object.getPrototypeOf(all), null)
      assert.deepEqual(Object.keys(all).sort(), ['a', 'b'])
      assert.equal(all.a, '1')
      assert.equal(all.b, '2')
    })

    it('getAll lists its keys in ascending key order, whatever order they were written in', async (t) => {
      const store = await openStore(t, factory)
      const keys = ['b', 'a', 'é', 'A', '', 'ab', '_', '😀']
      for (const k of keys) await store.set('g', k, `v${k}`)
      await store.set('g', 'b', 'again')
      const all = await store.getAll('g')
      const ascending = (await store.page('g')).entries.map(([k]) => k)
      assert.deepEqual(ascending, ['', 'A', '_', 'a', 'ab', 'b', 'é', '😀'])
      assert.deepEqual(Object.keys(all), ascending)
      await store.transaction(async (tx) => {
        await tx.set('g', 'aa', 'v')
        assert.deepEqual(Object.keys(await tx.getAll('g')), ['', 'A', '_', 'a', 'aa', 'ab', 'b', 'é', '😀'])
      })
    })

    it('getAll of a missing group is an empty null-prototype object', async (t) => {
      const store = await openStore(t, factory)
      const all = await store.getAll('nope')
      assert.equal(Object.getPrototypeOf(all), null)
      assert.deepEqual(Object.keys(all), [])
    })

    it('getAll keeps keys such as __proto__, constructor and toString as plain entries', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', '__proto__', 'p')
      await store.set('g', 'constructor', 'c')
      await store.set('g', 'toString', 't')
      await store.set('g', 'hasOwnProperty', 'h')
      const all = await store.getAll('g')
      assert.equal(Object.getPrototypeOf(all), null)
      assert.deepEqual(Object.keys(all).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString'])
      assert.equal(all['__proto__'], 'p')
      assert.equal(all.constructor, 'c')
      assert.equal(Object.getOwnPropertyDescriptor(all, '__proto__')?.value, 'p')
      assert.equal(({}).polluted, undefined)
    })

    it('deleteGroup followed by getAll answers an empty object', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 10)
      await store.deleteGroup('g')
      assert.deepEqual(Object.keys(await store.getAll('g')), [])
    })

    it('concurrent writers and readers on the same keys all complete consistently', async (t) => {
      const store = await openStore(t, factory)
      const work = []
      for (let w = 0; w < 10; w++) {
        for (let i = 0; i < 20; i++) {
          work.push(store.set('g', `k${i}`, `w${w}`))
          work.push(store.get('g', `k${i}`))
        }
      }
      const results = await Promise.all(work)
      for (let i = 1; i < results.length; i += 2) {
        assert.ok(results[i] === undefined || /^w\d$/.test(results[i]), `unexpected read ${results[i]}`)
      }
      assert.equal(await store.count('g'), 20)
      for (let i = 0; i < 20; i++) assert.match(await store.get('g', `k${i}`), /^w\d$/)
    })
  })
}
