// Any storable string round-trips exactly; lone surrogates are refused;
// prefixes are literal.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clock, collect, openStore } from './helpers.js'

const LONG = 'k'.repeat(10_000)

/** Strings that must round-trip exactly as groups, keys and values. */
export const ADVERSARIAL = {
  'empty string': '',
  'NUL bytes': 'a\u0000b\u0000',
  'only a NUL byte': '\u0000',
  emoji: 'héllo 🚀 👩‍👩‍👧',
  'astral characters': '𝄞𐍈😀\u{10ffff}',
  'accented, CJK and Arabic text': 'café 日本語 مرحبا',
  '__proto__': '__proto__',
  constructor: 'constructor',
  '10,000 characters': LONG,
  'SQL text': "'; DROP TABLE kv; --",
  'SQL wildcards': "%_\\*'\"[]^$",
  'control characters': '\t\n\r\u0001\u001f\u007f',
  'leading and trailing spaces': '  x  ',
  'a colon, as scopes use': 'a:b',
  'a star, as watchers use': '*',
  'noncharacters': '\ufffe\uffff',
  'BOM': '\ufeffx',
  'JSON text': '{"a":[1,2]}',
  'a number': '42',
}

/** @param {import('./index.js').Factory} factory */
export default function strings(factory) {
  describe('strings', () => {
    for (const [name, s] of Object.entries(ADVERSARIAL)) {
      it(`${name} round-trips as group, key and value`, async (t) => {
        const store = await openStore(t, factory)
        await store.set(s, s, s)
        await store.set(s, 'other', s)
        await store.set('plain', s, s)
        assert.equal(await store.get(s, s), s)
        assert.equal(await store.has(s, s), true)
        assert.equal(await store.get('plain', s), s)
        assert.equal(await store.count(s), 2)
        assert.deepEqual((await store.groups()).sort(), [s, 'plain'].sort())
        assert.equal(await store.countAll(s), s === '' ? 3 : 2 + ('plain'.startsWith(s) ? 1 : 0))
        const all = await store.getAll(s)
        assert.equal(Object.getOwnPropertyDescriptor(all, s)?.value, s)
        assert.equal(Object.getOwnPropertyDescriptor(all, 'other')?.value, s)
        const page = await store.page(s)
        assert.ok(page.entries.some(([k, v]) => k === s && v === s))
        assert.deepEqual((await collect(store.entries('plain'))), [[s, s]])
        assert.deepEqual((await store.page('plain', { prefix: s })).entries, [[s, s]])
        assert.equal(await store.delete(s, s), true)
        assert.equal(await store.get(s, s), undefined)
        assert.equal(await store.deleteGroup(s), 1)
      })
    }

    it('a value of 1 MB round-trips', async (t) => {
      const store = await openStore(t, factory)
      const big = 'x'.repeat(1 << 20) + '🚀'
      await store.set('g', 'k', big)
      assert.equal(await store.get('g', 'k'), big)
    })

    it('strings differing only by a trailing NUL or by normalisation are different keys', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'a', '1')
      await store.set('g', 'a\u0000', '2')
      await store.set('g', 'é', 'nfc')
      await store.set('g', 'e\u0301', 'nfd')
      assert.equal(await store.get('g', 'a'), '1')
      assert.equal(await store.get('g', 'a\u0000'), '2')
      assert.equal(await store.get('g', 'é'), 'nfc')
      assert.equal(await store.get('g', 'e\u0301'), 'nfd')
      assert.equal(await store.count('g'), 4)
    })

    it('countAll counts a prefix holding a NUL before its only colon, inside a transaction too', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      // A transaction that counts a namespace-like prefix first, as a quota check does.
      assert.equal(await store.transaction((tx) => tx.countAll('a\u0000b:')), 0)
      await store.set('a\u0000b:x', 'k1', 'v')
      await store.set('a\u0000b:x', 'k2', 'v')
      await store.set('a\u0000b:', 'k', 'v')
      await store.set('a\u0000b:\u0000:', 'k', 'v')
      await store.set('a\u0000b:x', 'gone', 'v', { ttl: 5 })
      await store.set('a', 'k', 'v')
      await store.set('a\u0000b', 'k', 'v')
      now.advance(5)
      assert.equal(await store.countAll('a\u0000b:'), 4)
      assert.equal(await store.transaction((tx) => tx.countAll('a\u0000b:')), 4)
      assert.equal(await store.countAll('\u0000:'), 0)
    })

    it('keys differing only by case are different keys', async (t) => {
      const store = await openStore(t, factory)
      await store.set('G', 'K', 'upper')
      await store.set('g', 'k', 'lower')
      assert.equal(await store.get('G', 'K'), 'upper')
      assert.equal(await store.get('g', 'k'), 'lower')
      assert.deepEqual(await store.groups(), ['G', 'g'])
    })

    describe('lone surrogates', () => {
      const lone = { 'a lone high surrogate': 'a\ud83d', 'a lone low surrogate': '\ude80b', 'reversed pair': '\ude80\ud83d' }
      for (const [name, bad] of Object.entries(lone)) {
        it(`${name} is rejected with TypeError as group, key or value, and nothing is written`, async (t) => {
          const store = await openStore(t, factory)
          await store.set('g', 'k', 'old')
          const calls = {
            'set group': () => store.set(bad, 'k', 'v'),
            'set key': () => store.set('g', bad, 'v'),
            'set value': () => store.set('g', 'k', bad),
            'get group': () => store.get(bad, 'k'),
            'get key': () => store.get('g', bad),
            'has key': () => store.has('g', bad),
            'ttl key': () => store.ttl('g', bad),
            'delete key': () => store.delete('g', bad),
            'deleteGroup group': () => store.deleteGroup(bad),
            'deletePrefix prefix': () => store.deletePrefix(bad),
            'count group': () => store.count(bad),
            'countAll prefix': () => store.countAll(bad),
            'groups prefix': () => store.groups(bad),
            'getAll group': () => store.getAll(bad),
            'page group': () => store.page(bad),
            'page after': () => store.page('g', { after: bad }),
            'page prefix': () => store.page('g', { prefix: bad }),
            'entries group': () => collect(store.entries(bad)),
            'entries prefix': () => collect(store.entries('g', { prefix: bad })),
            'render template': () => store.render(bad, 'g'),
            'render group': () => store.render('x', bad),
          }
          for (const [what, call] of Object.entries(calls)) {
            const [method, arg] = what.split(' ')
            await assert.rejects(call(), (err) => {
              assert.ok(err instanceof TypeError, `${what}: got ${err}`)
              assert.ok(err.message.startsWith(`store.${method}: `), `${what}: ${err.message}`)
              assert.ok(err.message.includes(arg), `${what}: ${err.message} does not name ${arg}`)
              return true
            })
          }
          assert.equal(await store.get('g', 'k'), 'old')
          assert.deepEqual(await store.groups(), ['g'])
          assert.equal(await store.countAll(), 1)
        })
      }

      it('a well-formed surrogate pair is accepted', async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', '\ud83d\ude80', '\ud83d\ude80')
        assert.equal(await store.get('g', '🚀'), '🚀')
      })
    })

    describe('literal prefixes', () => {
      const groups = ['a%b', 'a%c', 'axb', 'a_b', 'a_c', 'ayb', 'a\\b', 'a\\c', 'a*b', 'a*c', 'a', 'a%', 'b%']
      async function seeded(t) {
        const store = await openStore(t, factory)
        for (const g of groups) await store.set(g, 'k', g)
        return store
      }
      const cases = {
        'a%': ['a%', 'a%b', 'a%c'],
        'a_': ['a_b', 'a_c'],
        'a\\': ['a\\b', 'a\\c'],
        'a*': ['a*b', 'a*c'],
        '%': [],
        '_': [],
        '*': [],
        '\\': [],
        'a%b': ['a%b'],
      }
      for (const [prefix, expected] of Object.entries(cases)) {
        it(`${JSON.stringify(prefix)} matches only itself in groups, countAll and deletePrefix`, async (t) => {
          const store = await seeded(t)
          assert.deepEqual(await store.groups(prefix), expected)
          assert.equal(await store.countAll(prefix), expected.length)
          assert.equal(await store.deletePrefix(prefix), expected.length)
          assert.deepEqual(await store.groups(), groups.filter((g) => !expected.includes(g)).sort())
        })
      }

      it('page and entries prefixes are literal too', async (t) => {
        const store = await openStore(t, factory)
        for (const k of ['a%b', 'axb', 'a_b', 'ayb', 'a\\b', 'a*b', 'ab']) await store.set('g', k, k)
        for (const [prefix, expected] of [['a%', ['a%b']], ['a_', ['a_b']], ['a\\', ['a\\b']], ['a*', ['a*b']]]) {
          assert.deepEqual((await store.page('g', { prefix })).entries.map(([k]) => k), expected, prefix)
          assert.deepEqual((await collect(store.entries('g', { prefix }))).map(([k]) => k), expected, prefix)
        }
      })

      it('a prefix ending in the highest code point, or in astral characters, still matches exactly', async (t) => {
        const store = await openStore(t, factory)
        const top = '\u{10ffff}'
        for (const g of [`x${top}`, `x${top}a`, `x${top}${top}`, 'y', 'x😀', 'x😀a', 'x😁', 'x\uffff', 'x\uffffz']) {
          await store.set(g, 'k', 'v')
        }
        assert.deepEqual(await store.groups(`x${top}`), [`x${top}`, `x${top}a`, `x${top}${top}`])
        assert.deepEqual(await store.groups('x😀'), ['x😀', 'x😀a'])
        assert.deepEqual(await store.groups('x\uffff'), ['x\uffff', 'x\uffffz'])
        assert.equal(await store.countAll(top), 0)
        assert.equal(await store.deletePrefix(`x${top}`), 3)
        assert.equal(await store.countAll('x'), 5)
      })

      it('case matters in prefixes', async (t) => {
        const store = await openStore(t, factory)
        await store.set('Abc', 'k', 'v')
        await store.set('abc', 'k', 'v')
        assert.deepEqual(await store.groups('a'), ['abc'])
        assert.deepEqual(await store.groups('A'), ['Abc'])
        assert.equal(await store.countAll('A'), 1)
      })
    })
  })
}
