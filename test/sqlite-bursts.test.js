// A burst of concurrent writes on a file commits in groups, yielding to the
// event loop between them: timers run during the burst, reads of other rows
// are answered before it ends, and reads of its rows still see every write
// issued before them.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Store } from 'groupstore'
import { tempDir } from './helpers/sqlite.js'

const BURST = 20_000

async function open(t, options) {
  const store = await Store.open(join(tempDir(t), 'burst.db'), { purgeInterval: 0, durability: 'normal', ...options })
  t.after(() => store.close())
  return store
}

/** Issues BURST concurrent sets; answers their promise and a counter of those settled so far. */
function burst(store, group = 'burst') {
  const settled = { count: 0 }
  const all = Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      store.set(group, `k${i}`, `v${i}`).then(() => {
        settled.count++
      }),
    ),
  )
  return { all, settled }
}

describe('bursts of writes on a file', () => {
  it('let timers run before the burst has committed', async (t) => {
    const store = await open(t)
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    t.after(() => clearInterval(timer))
    const { all, settled } = burst(store)
    let ticksBeforeEnd = -1
    const watch = setInterval(() => {
      if (settled.count < BURST && ticks > 0 && ticksBeforeEnd < 0) ticksBeforeEnd = ticks
    }, 1)
    await all
    clearInterval(watch)
    assert.ok(ticksBeforeEnd > 0, 'no timer ran while the burst was committing')
    assert.equal(await store.count('burst'), BURST)
  })

  it('answer a read of other rows before the burst has committed', async (t) => {
    const store = await open(t)
    await store.set('other', 'k', 'before')
    const { all, settled } = burst(store)
    // Issued after every write of the burst, from the event loop (a timer), as another request would be.
    const read = await new Promise((resolve) => setTimeout(() => store.get('other', 'k').then((v) => resolve({ v, settled: settled.count })), 0))
    assert.equal(read.v, 'before')
    assert.ok(read.settled < BURST, `the read waited for the whole burst (${read.settled} writes settled)`)
    await all
  })

  it('make a read of the rows they write wait for the writes issued before it', async (t) => {
    const store = await open(t)
    const { all } = burst(store)
    const [last, count, missing] = await new Promise((resolve) =>
      setTimeout(() => Promise.all([store.get('burst', `k${BURST - 1}`), store.count('burst'), store.get('burst', 'never')]).then(resolve), 0),
    )
    assert.equal(last, `v${BURST - 1}`)
    assert.equal(count, BURST)
    assert.equal(missing, undefined)
    await all
  })

  it('commit every write once, in the order issued, with events in that order', async (t) => {
    const store = await open(t)
    const keys = []
    store.onChange((e) => keys.push(e.key))
    const { all } = burst(store)
    await all
    assert.equal(keys.length, BURST)
    assert.ok(keys.every((k, i) => k === `k${i}`), 'events out of order')
    assert.equal(await store.revision(), BURST)
  })

  it('a transaction issued during a burst commits whole, and a failing one leaves nothing', async (t) => {
    const store = await open(t)
    const { all } = burst(store)
    const ok = store.transaction(async (tx) => {
      await tx.set('tx', 'a', '1')
      await tx.set('tx', 'b', '2')
    })
    const failing = store.transaction(async (tx) => {
      await tx.set('tx', 'c', '3')
      throw new Error('abort')
    })
    const second = burst(store, 'second')
    await Promise.all([all, ok, assert.rejects(failing, /abort/), second.all])
    assert.deepEqual({ ...(await store.getAll('tx')) }, { a: '1', b: '2' })
    assert.equal(await store.count('second'), BURST)
  })
})
