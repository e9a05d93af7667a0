// page() with cursors and entries() fetched in pages.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { collect, fill, openStore } from './helpers.js'

/** @param {import('./index.js').Factory} factory */
export default function paging(factory) {
  describe('page', () => {
    it('answers entries in ascending key order, at most 100 by default', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 150)
      const first = await store.page('g')
      assert.equal(first.entries.length, 100)
      assert.deepEqual(first.entries[0], ['k0000', 'v0000'])
      assert.deepEqual(first.entries[99], ['k0099', 'v0099'])
      assert.equal(first.next, 'k0099')
    })

    it('walks a group with next passed back as after, without gaps or repeats', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 25)
      await store.set('other', 'k', 'v')
      const seen = []
      let after
      let pages = 0
      do {
        const page = await store.page('g', { after, limit: 10 })
        seen.push(...page.entries)
        after = page.next
        pages++
      } while (after !== undefined)
      assert.equal(pages, 3)
      assert.equal(seen.length, 25)
      assert.deepEqual(seen.map(([k]) => k), [...seen.map(([k]) => k)].sort())
      assert.deepEqual(seen[24], ['k0024', 'v0024'])
    })

    it('sets next only when more entries follow', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 20)
      const exact = await store.page('g', { limit: 20 })
      assert.equal(exact.entries.length, 20)
      assert.equal('next' in exact && exact.next !== undefined, false, 'a full last page must not set next')
      const partial = await store.page('g', { limit: 10 })
      assert.equal(partial.next, 'k0009')
      const last = await store.page('g', { limit: 10, after: partial.next })
      assert.equal(last.entries.length, 10)
      assert.equal(last.next, undefined)
      const small = await store.page('g', { limit: 100 })
      assert.equal(small.next, undefined)
    })

    it('answers an empty page for a missing group or past the last key', async (t) => {
      const store = await openStore(t, factory)
      assert.deepEqual(await store.page('none'), { entries: [] })
      await fill(store, 'g', 3)
      const past = await store.page('g', { after: 'k0002' })
      assert.deepEqual(past.entries, [])
      assert.equal(past.next, undefined)
    })

    it('after is exclusive and need not be an existing key', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 5)
      assert.deepEqual((await store.page('g', { after: 'k0001' })).entries.map(([k]) => k), ['k0002', 'k0003', 'k0004'])
      assert.deepEqual((await store.page('g', { after: 'k00015' })).entries.map(([k]) => k), ['k0002', 'k0003', 'k0004'])
      assert.deepEqual((await store.page('g', { after: '' })).entries.length, 5)
    })

    it('limit 1 walks one entry per page', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 3)
      const a = await store.page('g', { limit: 1 })
      const b = await store.page('g', { limit: 1, after: a.next })
      const c = await store.page('g', { limit: 1, after: b.next })
      assert.deepEqual([a, b, c].map((p) => p.entries[0]?.[0]), ['k0000', 'k0001', 'k0002'])
      assert.deepEqual([a.next, b.next, c.next], ['k0000', 'k0001', undefined])
    })

    it('prefix keeps only keys starting with it, with cursors inside the prefix', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 5, 'a:')
      await fill(store, 'g', 5, 'b:')
      await store.set('g', 'a', 'bare')
      await store.set('g', 'a;', 'after the colon')
      const first = await store.page('g', { prefix: 'a:', limit: 3 })
      assert.deepEqual(first.entries.map(([k]) => k), ['a:0000', 'a:0001', 'a:0002'])
      assert.equal(first.next, 'a:0002')
      const rest = await store.page('g', { prefix: 'a:', limit: 3, after: first.next })
      assert.deepEqual(rest.entries.map(([k]) => k), ['a:0003', 'a:0004'])
      assert.equal(rest.next, undefined)
    })

    it('orders keys by code point, including non-ASCII and astral characters', async (t) => {
      const store = await openStore(t, factory)
      const keys = ['b', 'a', 'B', 'é', 'z', '😀', '\uffff', '日本', 'a\u0000', '']
      for (const k of keys) await store.set('g', k, k)
      const byCodePoint = [...keys].sort((x, y) => {
        const a = Array.from(x, (c) => c.codePointAt(0))
        const b = Array.from(y, (c) => c.codePointAt(0))
        for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i]
        return a.length - b.length
      })
      assert.deepEqual((await store.page('g')).entries.map(([k]) => k), byCodePoint)
      assert.deepEqual((await collect(store.entries('g'))).map(([k]) => k), byCodePoint)
    })
  })

  describe('entries', () => {
    it('iterates the whole group in ascending key order', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 600)
      await store.set('h', 'k', 'v')
      const all = await collect(store.entries('g'))
      assert.equal(all.length, 600)
      for (let i = 0; i < 600; i++) {
        const id = String(i).padStart(4, '0')
        assert.deepEqual(all[i], [`k${id}`, `v${id}`])
      }
    })

    it('can stop early in a group larger than a page', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 600)
      const it = store.entries('g')
      const seen = []
      for await (const [k] of it) {
        seen.push(k)
        if (seen.length === 3) break
      }
      assert.deepEqual(seen, ['k0000', 'k0001', 'k0002'])
      assert.deepEqual(await it.next(), { done: true, value: undefined })
      // the store is still usable for writes after an abandoned iteration
      await store.set('g', 'after', 'v')
      assert.equal(await store.get('g', 'after'), 'v')
    })

    it('fetches lazily: a key added while iterating, beyond the pages already read, is seen', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 600)
      const seen = []
      for await (const [k] of store.entries('g')) {
        if (seen.length === 0) await store.set('g', 'zz-late', 'v')
        seen.push(k)
      }
      assert.equal(seen.length, 601)
      assert.equal(seen[600], 'zz-late')
    })

    it('lets writes run between its items (it holds no lock while suspended)', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 300)
      let n = 0
      for await (const [k] of store.entries('g')) {
        if (n++ % 100 === 0) await store.set('log', k, 'seen')
      }
      assert.equal(n, 300)
      assert.equal(await store.count('log'), 3)
    })

    it('keeps only keys starting with prefix', async (t) => {
      const store = await openStore(t, factory)
      await fill(store, 'g', 300, 'a:')
      await fill(store, 'g', 5, 'b:')
      await store.set('g', 'a', 'bare')
      const a = await collect(store.entries('g', { prefix: 'a:' }))
      assert.equal(a.length, 300)
      assert.ok(a.every(([k]) => k.startsWith('a:')))
      assert.deepEqual(await collect(store.entries('g', { prefix: 'b:' })), [
        ['b:0000', 'v0000'], ['b:0001', 'v0001'], ['b:0002', 'v0002'], ['b:0003', 'v0003'], ['b:0004', 'v0004'],
      ])
      assert.deepEqual(await collect(store.entries('g', { prefix: 'c' })), [])
    })

    it('of a missing group yields nothing', async (t) => {
      const store = await openStore(t, factory)
      assert.deepEqual(await collect(store.entries('none')), [])
    })

    it('is an async iterable iterator', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v')
      const it = store.entries('g')
      assert.equal(typeof it.next, 'function')
      assert.equal(it[Symbol.asyncIterator](), it)
      assert.deepEqual(await it.next(), { done: false, value: ['k', 'v'] })
      assert.deepEqual(await it.next(), { done: true, value: undefined })
    })
  })
}
