// Group commit on a file: concurrent writes share commits, each promise
// settles with its own outcome, and a write that fails is rolled back alone.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { QuotaExceededError, Store } from 'groupstore'
import { tempDir } from './helpers/sqlite.js'

async function open(t, path, options) {
  const store = await Store.open(path, { purgeInterval: 0, ...options })
  t.after(() => store.close())
  return store
}

describe('group commit', () => {
  it('a thousand concurrent sets on a file all resolve and are all on disk', async (t) => {
    const path = join(tempDir(t), 'many.db')
    const store = await Store.open(path, { purgeInterval: 0 })
    const events = []
    store.onChange((e) => events.push(e.key))
    const writes = []
    for (let i = 0; i < 1000; i++) writes.push(store.set(`g${i % 10}`, `k${i}`, String(i)))
    const results = await Promise.all(writes)
    // Each resolves to its own revision.
    assert.equal(new Set(results).size, results.length)
    assert.ok(results.every((r) => Number.isSafeInteger(r) && r > 0))
    assert.equal(events.length, 1000)
    assert.deepEqual(events, Array.from({ length: 1000 }, (_, i) => `k${i}`), 'events out of commit order')
    await store.close()
    const reopened = await open(t, path)
    assert.equal(await reopened.countAll(), 1000)
    assert.equal(await reopened.get('g9', 'k999'), '999')
  })

  it('a failing write in a batch fails alone while the others commit', async (t) => {
    const path = join(tempDir(t), 'mixed.db')
    const store = await open(t, path)
    const tenant = store.scope('t', { quota: { maxKeys: 1 } })
    const events = []
    store.onChange((e) => events.push(`${e.type} ${e.group}/${e.key}`))
    const boom = new Error('rolled back')
    const outcomes = await Promise.allSettled([
      store.set('g', 'a', '1'),
      tenant.set('cfg', 'first', 'fits'),
      store.set('g', 'b', '2'),
      tenant.set('cfg', 'second', 'over quota'),
      store.transaction(async (tx) => {
        await tx.set('g', 'tx', 'never')
        throw boom
      }),
      store.set('g', 'c', '3'),
      tenant.set('cfg', 'third', 'over quota'),
      store.transaction(async (tx) => {
        await tx.set('g', 'tx2', 'kept')
        return 'ok'
      }),
      store.delete('g', 'a'),
    ])
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    )
    assert.ok(outcomes[3].reason instanceof QuotaExceededError)
    assert.equal(outcomes[4].reason, boom)
    assert.ok(outcomes[6].reason instanceof QuotaExceededError)
    assert.equal(outcomes[7].value, 'ok')
    assert.deepEqual(events, [
      'set g/a', 'set t:cfg/first', 'set g/b', 'set g/c', 'set g/tx2', 'delete g/a',
    ])
    await store.close()
    const reopened = await open(t, path)
    assert.deepEqual({ ...(await reopened.getAll('g')) }, { b: '2', c: '3', tx2: 'kept' })
    assert.deepEqual({ ...(await reopened.getAll('t:cfg')) }, { first: 'fits' })
  })

  it('batches with durability normal behave the same', async (t) => {
    const path = join(tempDir(t), 'normal.db')
    const store = await open(t, path, { durability: 'normal' })
    const tenant = store.scope('t', { quota: { maxKeys: 50 } })
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => tenant.set('g', `k${i}`, 'v')))
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 50)
    assert.equal(await tenant.countAll(), 50)
  })

  it('reads issued during a batch see the writes issued before them', async (t) => {
    const store = await open(t, join(tempDir(t), 'reads.db'))
    const work = []
    for (let i = 0; i < 100; i++) {
      work.push(store.set('g', 'k', String(i)))
      work.push(store.get('g', 'k'))
    }
    const results = await Promise.all(work)
    for (let i = 0; i < 100; i++) assert.equal(results[2 * i + 1], String(i))
  })
})
