// The defaults of Store.open's options that take time to show: the purge
// interval (60 s) and the wait for another connection's write lock (5 s),
// shown on mocked timers instead of waiting.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { it } from 'node:test'
import Database from 'better-sqlite3'
import { Store, StoreError } from 'groupstore'
import { nextEvent } from './conformance/helpers.js'
import { tempDir } from './helpers/sqlite.js'

/** Lets the store's queued work (on real immediates, not mocked) run. */
async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

it('the background purge runs every 60,000 ms by default', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] })
  let now = 1_700_000_000_000
  const store = await Store.open(':memory:', { now: () => now })
  t.after(() => store.close())
  await store.set('g', 'k', 'v', { ttl: 10 })
  const watcher = store.watch('*', '*')
  now += 10
  t.mock.timers.tick(59_999)
  // Writes commit in order: a purge started by the tick would come before this marker.
  await store.set('marker', 'k', 'v')
  assert.equal((await nextEvent(watcher, 'the marker')).group, 'marker', 'purged before 60,000 ms')
  t.mock.timers.tick(1)
  const e = await nextEvent(watcher, 'the expire of the background purge')
  assert.deepEqual([e.type, e.group, e.key], ['expire', 'g', 'k'])
})

it('a write waits 5,000 ms for another connection’s write lock by default, then rejects with StoreError', async (t) => {
  const path = join(tempDir(t), 'busy.db')
  const store = await Store.open(path, { purgeInterval: 0 })
  t.after(() => store.close())
  await store.set('g', 'k', 'before')
  const other = new Database(path)
  t.after(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 })
  let outcome
  const write = store.set('g', 'k', 'after').then(
    () => {
      outcome = 'written'
    },
    (err) => {
      outcome = err
    },
  )
  let waited = 0
  let locked = true
  await settle()
  while (outcome === undefined) {
    // Waited well past the default: release the lock so that the write ends and the test fails plainly.
    if (waited === 6000) {
      other.exec('ROLLBACK')
      locked = false
    }
    t.mock.timers.tick(1)
    waited++
    await settle()
  }
  t.mock.timers.reset()
  await write
  if (locked) other.exec('ROLLBACK')
  assert.ok(outcome instanceof StoreError, `got ${outcome}`)
  assert.equal(outcome.name, 'StoreError')
  assert.equal(outcome.code, 'ERR_STORE_BUSY')
  assert.match(outcome.message, /^store\.set: .*busyTimeout 5000 ms/)
  assert.ok(waited >= 5000, `gave up after ${waited} ms`)
  assert.equal(await store.get('g', 'k'), 'before')
})
