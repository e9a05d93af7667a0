// Wrong argument types and values: TypeError / RangeError naming the method
// and the argument, on the store, a scope and a transaction; nothing written.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clock, collect, openStore, throwsWith } from './helpers.js'

const NOT_STRINGS = [1, null, {}, ['a'], true, Symbol('s'), 1n, () => 'a', new String('a')]
const label = (v) => (typeof v === 'symbol' ? 'a symbol' : typeof v === 'bigint' ? 'a bigint' : typeof v === 'function' ? 'a function' : JSON.stringify(v) ?? String(v))

/**
 * Every read/write method with its string arguments: [method, argument names, call(obj, args)].
 * `call` gets valid arguments and must return a promise.
 */
const METHODS = [
  ['get', ['group', 'key'], (o, a) => o.get(...a)],
  ['has', ['group', 'key'], (o, a) => o.has(...a)],
  ['ttl', ['group', 'key'], (o, a) => o.ttl(...a)],
  ['set', ['group', 'key', 'value'], (o, a) => o.set(...a)],
  ['delete', ['group', 'key'], (o, a) => o.delete(...a)],
  ['deleteGroup', ['group'], (o, a) => o.deleteGroup(...a)],
  ['deletePrefix', ['prefix'], (o, a) => o.deletePrefix(...a)],
  ['count', ['group'], (o, a) => o.count(...a)],
  ['countAll', ['prefix'], (o, a) => o.countAll(...a)],
  ['groups', ['prefix'], (o, a) => o.groups(...a)],
  ['getAll', ['group'], (o, a) => o.getAll(...a)],
  ['page', ['group'], (o, a) => o.page(...a)],
  ['entries', ['group'], (o, a) => collect(o.entries(...a))],
  ['render', ['template', 'group'], (o, a) => o.render(...a)],
]

/** Invalid options per method: [method, call(obj), error type, words the message must hold]. */
const BAD_OPTIONS = [
  ['set', (o) => o.set('g', 'k', 'v', 'ttl'), TypeError, ['options']],
  ['set', (o) => o.set('g', 'k', 'v', null), TypeError, ['options']],
  ['set', (o) => o.set('g', 'k', 'v', []), TypeError, ['options']],
  ['increment', (o) => o.increment('g', 'k', 1, [1]), TypeError, ['options']],
  ['set', (o) => o.set('g', 'k', 'v', { tll: 5 }), TypeError, ['tll']],
  ['set', (o) => o.set('g', 'k', 'v', { ttl: '5' }), TypeError, ['ttl']],
  ['set', (o) => o.set('g', 'k', 'v', { ttl: 0 }), RangeError, ['ttl']],
  ['page', (o) => o.page('g', 5), TypeError, ['options']],
  ['page', (o) => o.page('g', { limt: 5 }), TypeError, ['limt']],
  ['page', (o) => o.page('g', { limit: '5' }), TypeError, ['limit']],
  ['page', (o) => o.page('g', { limit: 0 }), RangeError, ['limit']],
  ['page', (o) => o.page('g', { limit: -1 }), RangeError, ['limit']],
  ['page', (o) => o.page('g', { limit: 1.5 }), RangeError, ['limit']],
  ['page', (o) => o.page('g', { limit: NaN }), RangeError, ['limit']],
  ['page', (o) => o.page('g', { limit: Infinity }), RangeError, ['limit']],
  ['page', (o) => o.page('g', { after: 5 }), TypeError, ['after']],
  ['page', (o) => o.page('g', { prefix: null }), TypeError, ['prefix']],
  ['entries', (o) => collect(o.entries('g', 5)), TypeError, ['options']],
  ['entries', (o) => collect(o.entries('g', { prefix: 5 })), TypeError, ['prefix']],
  ['entries', (o) => collect(o.entries('g', { after: 'x' })), TypeError, ['after']],
  ['render', (o) => o.render('x', 'g', 'strict'), TypeError, ['options']],
  ['render', (o) => o.render('x', 'g', { strict: 'yes' }), TypeError, ['strict']],
  ['render', (o) => o.render('x', 'g', { strikt: true }), TypeError, ['strikt']],
]

/** @param {import('./index.js').Factory} factory */
export default function argumentChecks(factory) {
  describe('argument checks', () => {
    /** The store, a scope and a transaction, each with its method prefix. */
    async function targets(t, run) {
      const store = await openStore(t, factory, { now: clock(), purgeInterval: 0 })
      await store.set('g', 'k', 'old')
      await run(store, 'store')
      await run(store.scope('ns'), 'scope')
      await store.transaction(async (tx) => run(tx, 'tx'))
      assert.deepEqual(await store.groups(), ['g'], 'a rejected call wrote something')
      assert.equal(await store.get('g', 'k'), 'old')
    }

    for (const [method, names, call] of METHODS) {
      it(`${method} rejects a non-string ${names.join(' or ')} with TypeError naming the method and argument`, async (t) => {
        await targets(t, async (target, kind) => {
          for (let i = 0; i < names.length; i++) {
            for (const bad of NOT_STRINGS) {
              const args = names.map((n) => (n === 'template' ? 'x' : n === 'prefix' ? 'g' : n === 'group' ? 'g' : 'k'))
              args[i] = bad
              await assert.rejects(Promise.resolve().then(() => call(target, args)), (err) => {
                assert.ok(err instanceof TypeError, `${kind}.${method} ${names[i]}=${label(bad)}: got ${err}`)
                assert.ok(err.message.startsWith(`${kind}.${method}: `), err.message)
                assert.ok(err.message.includes(names[i]), `${err.message} does not name ${names[i]}`)
                return true
              })
            }
          }
        })
      })
    }

    it('a required string argument that is missing rejects with TypeError', async (t) => {
      await targets(t, async (target, kind) => {
        const calls = [
          ['get', () => target.get('g')],
          ['get', () => target.get()],
          ['has', () => target.has()],
          ['ttl', () => target.ttl('g')],
          ['set', () => target.set('g', 'k')],
          ['delete', () => target.delete('g')],
          ['deleteGroup', () => target.deleteGroup()],
          ['deletePrefix', () => target.deletePrefix()],
          ['count', () => target.count()],
          ['getAll', () => target.getAll()],
          ['page', () => target.page()],
          ['entries', () => collect(target.entries())],
          ['render', () => target.render('x')],
        ]
        for (const [method, call] of calls) {
          await assert.rejects(Promise.resolve().then(call), (err) => {
            assert.ok(err instanceof TypeError, `${kind}.${method}: got ${err}`)
            assert.ok(err.message.startsWith(`${kind}.${method}: `), err.message)
            return true
          })
        }
      })
    })

    it('the methods reject instead of throwing synchronously', async (t) => {
      const store = await openStore(t, factory)
      for (const [method, names, call] of METHODS) {
        if (method === 'entries') continue
        let promise
        assert.doesNotThrow(() => {
          promise = call(store, names.map(() => 1))
        }, method)
        await assert.rejects(promise, TypeError)
      }
    })

    it('entries checks its arguments on the first next()', async (t) => {
      const store = await openStore(t, factory)
      const it = store.entries(1)
      await assert.rejects(it.next(), (err) => err instanceof TypeError && err.message.startsWith('store.entries: '))
    })

    for (const [method, call, type, words] of BAD_OPTIONS) {
      it(`${method}: invalid options reject with ${type.name} (${words.join(', ')})`, async (t) => {
        await targets(t, async (target, kind) => {
          await assert.rejects(Promise.resolve().then(() => call(target)), (err) => {
            assert.ok(err instanceof type, `${kind}.${method}: got ${err}`)
            assert.ok(err.message.startsWith(`${kind}.${method}: `), err.message)
            for (const w of words) assert.ok(err.message.includes(w), `${err.message} does not mention ${w}`)
            return true
          })
        })
      })
    }

    it('page accepts limits from 1 to 10,000', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v')
      assert.equal((await store.page('g', { limit: 1 })).entries.length, 1)
      assert.equal((await store.page('g', { limit: 10_000 })).entries.length, 1)
      await assert.rejects(store.page('g', { limit: 10_001 }), RangeError)
    })

    it('options may be undefined, and undefined option values mean the default', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'k', 'v', undefined)
      await store.set('g', 'k2', 'v', {})
      assert.equal((await store.page('g', undefined)).entries.length, 2)
      assert.equal((await store.page('g', { after: undefined, limit: undefined, prefix: undefined })).entries.length, 2)
      assert.equal((await collect(store.entries('g', { prefix: undefined }))).length, 2)
      assert.equal(await store.render('{{ k }}', 'g', { strict: undefined }), 'v')
      assert.equal(await store.countAll(undefined), 2)
      assert.deepEqual(await store.groups(undefined), ['g'])
    })

    it('watch checks its arguments synchronously', async (t) => {
      const store = await openStore(t, factory)
      throwsWith(() => store.watch(1, 'k'), TypeError, ['store.watch: ', 'group'])
      throwsWith(() => store.watch('g'), TypeError, ['store.watch: ', 'key'])
      throwsWith(() => store.watch('g', 'k\ud800'), TypeError, ['store.watch: ', 'key'])
      throwsWith(() => store.watch('g', 'k', 5), TypeError, ['store.watch: ', 'options'])
      throwsWith(() => store.watch('g', 'k', { buffer: 5 }), TypeError, ['store.watch: ', 'buffer'])
      throwsWith(() => store.watch('g', 'k', { bufferSize: 0 }), RangeError, ['store.watch: ', 'bufferSize'])
      throwsWith(() => store.watch('g', 'k', { bufferSize: 1.5 }), RangeError, ['store.watch: ', 'bufferSize'])
      throwsWith(() => store.watch('g', 'k', { bufferSize: '5' }), TypeError, ['store.watch: ', 'bufferSize'])
      throwsWith(() => store.watch('g', 'k', { signal: {} }), TypeError, ['store.watch: ', 'signal'])
      const scope = store.scope('ns')
      throwsWith(() => scope.watch('g', null), TypeError, ['scope.watch: ', 'key'])
    })

    it('onChange, transaction and scope check their arguments', async (t) => {
      const store = await openStore(t, factory)
      throwsWith(() => store.onChange('fn'), TypeError, ['store.onChange: ', 'fn'])
      throwsWith(() => store.onChange(), TypeError, ['store.onChange: ', 'fn'])
      throwsWith(() => store.scope('ns').onChange(null), TypeError, ['scope.onChange: ', 'fn'])
      await assert.rejects(store.transaction('fn'), (e) => e instanceof TypeError && e.message.startsWith('store.transaction: '))
      await assert.rejects(store.scope('ns').transaction(), (e) => e instanceof TypeError && e.message.startsWith('scope.transaction: '))
      throwsWith(() => store.scope(5), TypeError, ['store.scope: ', 'namespace'])
      throwsWith(() => store.scope('ns', 5), TypeError, ['store.scope: ', 'options'])
      throwsWith(() => store.scope('ns', { quta: {} }), TypeError, ['store.scope: ', 'quta'])
      throwsWith(() => store.scope('ns', { quota: 5 }), TypeError, ['store.scope: ', 'quota'])
      throwsWith(() => store.scope('ns', { quota: { maxKey: 5 } }), TypeError, ['store.scope: ', 'maxKey'])
      throwsWith(() => store.scope('ns', { quota: { maxKeys: '5' } }), TypeError, ['store.scope: ', 'maxKeys'])
      throwsWith(() => store.scope('ns', { quota: { maxKeys: -1 } }), RangeError, ['store.scope: ', 'maxKeys'])
      throwsWith(() => store.scope('ns', { quota: { maxGroups: 1.5 } }), RangeError, ['store.scope: ', 'maxGroups'])
      throwsWith(() => store.scope('ns', { quota: { maxGroups: Infinity } }), RangeError, ['store.scope: ', 'maxGroups'])
    })

    describe('Store.open options', () => {
      const bad = [
        ['an unknown option', { purgeIntervall: 5 }, TypeError, ['purgeIntervall']],
        ['options that are not an object', 'full', TypeError, ['options']],
        ['null options', null, TypeError, ['options']],
        ['options as an array', [], TypeError, ['options', 'array']],
        ['changeRetention as an array', { changeRetention: [] }, TypeError, ['changeRetention']],
        ['changeRetention.maxCount as a string', { changeRetention: { maxCount: '5' } }, TypeError, ['maxCount']],
        ['a negative changeRetention.maxCount', { changeRetention: { maxCount: -1 } }, RangeError, ['maxCount']],
        ['a fractional changeRetention.maxCount', { changeRetention: { maxCount: 1.5 } }, RangeError, ['maxCount']],
        ['changeRetention.maxAge as a string', { changeRetention: { maxAge: '5' } }, TypeError, ['maxAge']],
        ['a negative changeRetention.maxAge', { changeRetention: { maxAge: -1 } }, RangeError, ['maxAge']],
        ['an infinite changeRetention.maxAge', { changeRetention: { maxAge: Infinity } }, RangeError, ['maxAge']],
        ['purgeInterval as a string', { purgeInterval: '5' }, TypeError, ['purgeInterval']],
        ['a negative purgeInterval', { purgeInterval: -1 }, RangeError, ['purgeInterval']],
        ['a fractional purgeInterval', { purgeInterval: 1.5 }, RangeError, ['purgeInterval']],
        ['a NaN purgeInterval', { purgeInterval: NaN }, RangeError, ['purgeInterval']],
        ['an unknown durability', { durability: 'fast' }, TypeError, ['durability']],
        ['busyTimeout as a string', { busyTimeout: '5' }, TypeError, ['busyTimeout']],
        ['a negative busyTimeout', { busyTimeout: -5 }, RangeError, ['busyTimeout']],
        ['now that is not a function', { now: 5 }, TypeError, ['now']],
      ]
      for (const [name, options, type, words] of bad) {
        it(`rejects ${name} with ${type.name}`, async () => {
          await assert.rejects(factory.open(options), (err) => {
            assert.ok(err instanceof type, `got ${err}`)
            assert.ok(err.message.startsWith('Store.open: '), err.message)
            for (const w of words) assert.ok(err.message.includes(w), `${err.message} does not mention ${w}`)
            return true
          })
        })
      }

      it('accepts every documented option', async (t) => {
        const store = await openStore(t, factory, { purgeInterval: 0, durability: 'normal', busyTimeout: 100, now: Date.now })
        await store.set('g', 'k', 'v')
        assert.equal(await store.get('g', 'k'), 'v')
      })

      it('accepts undefined option values as the defaults', async (t) => {
        const store = await openStore(t, factory, { purgeInterval: undefined, durability: undefined, now: undefined })
        await store.set('g', 'k', 'v', { ttl: 60_000 })
        const left = await store.ttl('g', 'k')
        assert.ok(left > 0 && left <= 60_000, `ttl ${left}`)
      })
    })
  })
}
