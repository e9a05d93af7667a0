// The recipes of docs/api.md and the README, run as written: each block that
// follows a `<!-- recipe: NAME -->` line is loaded as a module, and what it
// defines is exercised on ':memory:', a file and PostgreSQL. A recipe that is
// changed, broken or missing in either document fails here.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Store } from 'groupstore'
import { tempDir } from './helpers/cli.js'
import { testSchema, unavailable, url } from './postgres/server.js'

const RECIPE = /^<!-- recipe: ([a-z-]+) -->\n```js\n([\s\S]*?)\n```$/gm

/** The recipe blocks of a document, by name. */
function recipes(file) {
  const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')
  return new Map([...text.matchAll(RECIPE)].map(([, name, code]) => [name, code]))
}

/** Loads a recipe's code as a module, exporting the functions it declares. */
async function load(code) {
  const names = [...code.matchAll(/^(?:async )?function (\w+)/gm)].map(([, name]) => name)
  assert.ok(names.length > 0, `a recipe declares no function:\n${code}`)
  return import(`data:text/javascript,${encodeURIComponent(`${code}\nexport { ${names.join(', ')} }`)}`)
}

const api = recipes('docs/api.md')
const readme = recipes('README.md')
const { withLock } = await load(api.get('lock') ?? '')
const { allow } = await load(api.get('rate-limit') ?? '')
const { update } = await load(api.get('compare-and-set') ?? '')
const { loadConfig } = await load(api.get('config') ?? '')

describe('recipes: the documents', () => {
  it('docs/api.md has the four recipes, and the README shows the same code', () => {
    assert.deepEqual([...api.keys()], ['lock', 'rate-limit', 'compare-and-set', 'config'])
    assert.deepEqual([...readme.keys()], [...api.keys()])
    for (const [name, code] of readme) assert.equal(code, api.get(name), `the README's ${name} recipe differs from docs/api.md's`)
  })
})

const pgSkip = await unavailable()
const schema = pgSkip ? undefined : testSchema('groupstore_recipes')
let tables = 0

const BACKENDS = [
  { name: ':memory:', skip: false, open: () => Store.open(':memory:') },
  { name: 'a file', skip: false, open: (t) => Store.open(join(tempDir(t, 'groupstore-recipes-'), 'test.db')) },
  { name: 'PostgreSQL', skip: pgSkip, open: () => Store.open(url, { schema, table: `r${tables++}` }) },
]

/** A store for one test, closed after it. */
async function open(t, backend) {
  const store = await backend.open(t)
  t.after(() => store.close())
  return store
}

/** Waits until `probe()` answers true, checking every few milliseconds. */
async function until(probe) {
  while (!(await probe())) await sleep(5)
}

/** A promise and the function that resolves it. */
function gate() {
  let open
  const opened = new Promise((resolve) => (open = resolve))
  return { opened, open }
}

for (const backend of BACKENDS) {
  describe(`recipes on ${backend.name}`, { skip: backend.skip }, () => {
    it('lock: runs the function holding the lock, refuses a second holder, and releases', async (t) => {
      const store = await open(t, backend)
      const inside = gate()
      const release = gate()
      const first = withLock(store, 'nightly', 60_000, async () => {
        inside.open()
        await release.opened
        return 'done'
      })
      await inside.opened
      let ran = false
      assert.deepEqual(await withLock(store, 'nightly', 60_000, () => (ran = true)), { acquired: false })
      assert.equal(ran, false)
      release.open()
      assert.deepEqual(await first, { acquired: true, result: 'done' })
      assert.equal(await store.getEntry('locks', 'nightly'), undefined, 'released')
      assert.deepEqual(await withLock(store, 'nightly', 60_000, () => 42), { acquired: true, result: 42 })
    })

    it('lock: of 10 concurrent callers exactly one holds it; a failing function still releases it', async (t) => {
      const store = await open(t, backend)
      const release = gate()
      const calls = Array.from({ length: 10 }, () => withLock(store, 'job', 60_000, () => release.opened))
      await until(async () => (await store.getEntry('locks', 'job')) !== undefined)
      release.open()
      const results = await Promise.all(calls)
      assert.equal(results.filter((r) => r.acquired).length, 1)
      await assert.rejects(withLock(store, 'job', 60_000, () => Promise.reject(new Error('boom'))), /boom/)
      assert.equal(await store.getEntry('locks', 'job'), undefined)
    })

    it('lock: a holder that outlives its lease does not release the next holder\'s lock', async (t) => {
      const store = await open(t, backend)
      const secondInside = gate()
      const secondRelease = gate()
      let second
      const first = await withLock(store, 'report', 50, async () => {
        await until(async () => (await store.getEntry('locks', 'report')) === undefined) // the lease ran out
        second = withLock(store, 'report', 60_000, async () => {
          secondInside.open()
          await secondRelease.opened
        })
        await secondInside.opened
      })
      assert.equal(first.acquired, true)
      const held = await store.getEntry('locks', 'report')
      assert.notEqual(held, undefined, 'the second holder keeps its lock')
      secondRelease.open()
      assert.equal((await second).acquired, true)
      assert.equal(await store.getEntry('locks', 'report'), undefined)
    })

    it('rate limiter: allows `limit` calls per window per user, also when they race', async (t) => {
      const store = await open(t, backend)
      const windowMs = 3_600_000
      for (;;) {
        const window = Math.floor(Date.now() / windowMs)
        const answers = []
        for (let i = 0; i < 7; i++) answers.push(await allow(store, 'alice', 5, windowMs))
        const raced = await Promise.all(Array.from({ length: 20 }, () => allow(store, 'bob', 5, windowMs)))
        if (Math.floor(Date.now() / windowMs) !== window) continue // the window turned meanwhile: once more
        assert.deepEqual(answers, [true, true, true, true, true, false, false])
        assert.equal(raced.filter(Boolean).length, 5)
        const counter = await store.getEntry('ratelimit', `bob:${window}`)
        assert.equal(counter.value, '20')
        assert.ok(counter.expiresAt !== null && counter.expiresAt <= Date.now() + windowMs, 'the counter expires with its window')
        break
      }
    })

    it('compare-and-set: creates the key, and loses no update among 10 racing writers', async (t) => {
      const store = await open(t, backend)
      const add = (item) => (list) => JSON.stringify([...JSON.parse(list ?? '[]'), item])
      assert.equal(await update(store, 'carts', 'user-42', add('apples')), '["apples"]')
      await Promise.all(Array.from({ length: 10 }, (_, i) => update(store, 'carts', 'user-42', add(i))))
      const cart = JSON.parse(await store.get('carts', 'user-42'))
      assert.equal(cart[0], 'apples')
      assert.deepEqual(cart.slice(1).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    })

    it('compare-and-set: gives up after the attempts it is given when the key keeps changing', async (t) => {
      const store = await open(t, backend)
      await store.set('doc', 'title', 'v0')
      let n = 0
      // A change that writes the key itself each time, as a competing writer would.
      const meddling = (value) => {
        void store.set('doc', 'title', `other-${n++}`)
        return `${value}!`
      }
      await assert.rejects(update(store, 'doc', 'title', meddling, 3), /update: doc\/title changed 3 times in a row; giving up/)
    })

    it('config: one read, with defaults for the settings not set, in a store and a scope', async (t) => {
      const store = await open(t, backend)
      assert.deepEqual(await loadConfig(store), { host: 'localhost', port: 5432, debug: false })
      await store.setMany('config', { host: 'db.internal', port: '6432', debug: 'true' })
      assert.deepEqual(await loadConfig(store), { host: 'db.internal', port: 6432, debug: true })
      const scope = store.scope('tenant-1')
      await scope.set('config', 'port', '7000')
      assert.deepEqual(await loadConfig(scope), { host: 'localhost', port: 7000, debug: false })
    })
  })
}
