// Query shapes chosen for speed that must answer exactly what the plain
// queries would: pages with a cursor and a prefix (one lower bound), and the
// misuse check of transactions, whose async context is on only while a
// transaction is open.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Store, StoreError } from 'groupstore'

async function open(t) {
  const store = await Store.open(':memory:', { purgeInterval: 0 })
  t.after(() => store.close())
  return store
}

/** Every page of `group` with `prefix`, starting after `after`, `limit` at a time. */
async function walk(store, group, options) {
  const out = []
  let after = options.after
  for (;;) {
    const page = await store.page(group, { ...options, after })
    out.push(...page.entries.map(([k]) => k))
    if (page.next === undefined) return out
    after = page.next
  }
}

describe('sqlite pages with a cursor and a prefix', () => {
  // In code-point order (SQLite's): 'b' < 'b\u{e000}' < 'b\u{ffff}' < 'b\u{10000}' < 'c'
  const keys = ['a', 'a\u{10000}', 'b', 'b\u{e000}', 'b\u{ffff}', 'b\u{10000}', 'b\u{10000}x', 'ba', 'c', 'c\u{e000}']

  it('answer the keys past the cursor that start with the prefix, wherever the cursor is', async (t) => {
    const store = await open(t)
    for (const k of keys) await store.set('g', k, 'v')
    const sorted = [...keys].sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y))))
    for (const prefix of ['', 'b', 'b\u{10000}', 'c', 'z']) {
      for (const after of [undefined, '', 'a', 'a\u{10000}', 'b', 'b\u{ffff}', 'b\u{10000}', 'ba', 'c\u{e000}', 'zz']) {
        for (const limit of [1, 2, 100]) {
          const expected = sorted.filter((k) => k.startsWith(prefix) && (after === undefined || Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0))
          assert.deepEqual(await walk(store, 'g', { prefix, after, limit }), expected, `prefix ${JSON.stringify(prefix)} after ${JSON.stringify(after)} limit ${limit}`)
        }
      }
      const all = []
      for await (const [k] of store.entries('g', { prefix })) all.push(k)
      assert.deepEqual(all, sorted.filter((k) => k.startsWith(prefix)))
    }
  })

  it('entries walks a large group in order, every key once', async (t) => {
    const store = await open(t)
    const n = 3000
    await store.transaction(async (tx) => {
      for (let i = 0; i < n; i++) await tx.set('big', `k${String(i).padStart(5, '0')}`, String(i))
    })
    let i = 0
    for await (const [k, v] of store.entries('big')) {
      assert.equal(k, `k${String(i).padStart(5, '0')}`)
      assert.equal(v, String(i))
      i++
    }
    assert.equal(i, n)
  })
})

describe('sqlite getAll', () => {
  it('leaves out expired keys whether or not the group holds any, and keeps every string exact', async (t) => {
    let now = 1_000_000
    const store = await Store.open(':memory:', { purgeInterval: 0, now: () => now })
    t.after(() => store.close())
    const odd = ['a\u0000b', '__proto__', 'constructor', '', '🚀', '"quoted"\n']
    for (const k of odd) await store.set('g', k, `v:${k}`)
    await store.set('g', 'soon', 'gone', { ttl: 10 })
    await store.set('other', 'soon', 'gone', { ttl: 10 })
    await store.set('other', 'stays', 'v')
    const expected = Object.assign(Object.create(null), Object.fromEntries(odd.map((k) => [k, `v:${k}`])))
    assert.deepEqual(await store.getAll('g'), Object.assign(Object.create(null), expected, { soon: 'gone' }))
    now += 100
    // 'g' now holds an expired row; 'third' holds none while other groups do.
    await store.set('third', 'k', 'v')
    const all = await store.getAll('g')
    assert.deepEqual(all, expected)
    assert.equal(Object.getPrototypeOf(all), null)
    assert.equal(all.__proto__, 'v:__proto__')
    assert.deepEqual(await store.getAll('third'), Object.assign(Object.create(null), { k: 'v' }))
    assert.deepEqual(await store.getAll('other'), Object.assign(Object.create(null), { stays: 'v' }))
    assert.deepEqual(await store.getAll('missing'), Object.create(null))
    assert.equal(await store.render('{{ k }}', 'third'), 'v')
  })
})

describe('transaction misuse check across transactions', () => {
  it('still refuses a call on the store inside a later transaction, and in two stores at once', async (t) => {
    const a = await open(t)
    const b = await open(t)
    const misuse = (store) => (err) => {
      assert.ok(err instanceof StoreError)
      assert.match(err.message, /inside one of its own transactions/)
      return true
    }
    await a.transaction((tx) => tx.set('g', 'k', '1'))
    // A second transaction, after the first closed: the check works again.
    await a.transaction(async (tx) => {
      await assert.rejects(a.get('g', 'k'), misuse(a))
      await tx.set('g', 'k', '2')
    })
    // Overlapping transactions in two stores: closing one keeps the other's check.
    let release
    const held = new Promise((resolve) => {
      release = resolve
    })
    const outer = b.transaction(async (tx) => {
      await held
      await assert.rejects(b.get('g', 'k'), misuse(b))
      await tx.set('g', 'k', 'b')
    })
    await a.transaction(async (tx) => {
      await tx.set('g', 'k', '3')
    })
    release()
    await outer
    // Outside any transaction the store answers.
    assert.equal(await a.get('g', 'k'), '3')
    assert.equal(await b.get('g', 'k'), 'b')
  })
})
