// Several Store objects on one SQLite file in one process: each has its own
// connection, so they are other writers to one another as much as other
// processes are. Conditional writes, counters and quotas stay atomic across
// them, and revisions stay distinct.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { it } from 'node:test'
import { QuotaExceededError, Store } from 'groupstore'
import { tempDir } from './helpers/sqlite.js'

async function openMany(t, n = 4) {
  const path = join(tempDir(t), 'shared.db')
  const stores = []
  for (let i = 0; i < n; i++) stores.push(await Store.open(path, { purgeInterval: 0, durability: 'normal' }))
  t.after(() => Promise.all(stores.map((s) => s.close())))
  return stores
}

/** Calls `fn(store, i)` `count` times on each store, all at once; answers every outcome. */
const race = (stores, count, fn) => Promise.all(stores.flatMap((s, id) => Array.from({ length: count }, (_, i) => fn(s, `${id}-${i}`))))

it('4 stores on one file: one ifAbsent winner, one ifRevision winner, exact increments, distinct revisions', async (t) => {
  const stores = await openMany(t)
  const locks = await race(stores, 25, (s, v) => s.set('locks', 'one', v, { ifAbsent: true }))
  const winners = locks.filter((r) => r !== false)
  assert.equal(winners.length, 1, `ifAbsent winners: ${winners}`)
  assert.equal((await stores[1].getEntry('locks', 'one')).revision, winners[0])

  const base = await stores[0].set('locks', 'rev', 'base')
  const sets = (await race(stores, 10, (s, v) => s.set('locks', 'rev', v, { ifRevision: base }))).filter((r) => r !== false)
  assert.equal(sets.length, 1, `ifRevision winners: ${sets}`)
  const deletes = (await race(stores, 10, (s) => s.delete('locks', 'rev', { ifRevision: sets[0] }))).filter(Boolean)
  assert.equal(deletes.length, 1, 'one conditional delete removes the key')

  const values = await race(stores, 50, (s) => s.increment('counters', 'n'))
  assert.deepEqual(values.sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1))
  assert.equal(await stores[2].get('counters', 'n'), '200')

  const revisions = await race(stores, 50, (s, k) => s.set('r', k, 'v'))
  assert.equal(new Set(revisions).size, 200, 'no two writes share a revision')
  assert.ok(Math.min(...revisions) > (await stores[3].getEntry('counters', 'n')).revision)
})

it('4 stores on one file never push a namespace past its quota, whatever kind of write adds the keys', async (t) => {
  const stores = await openMany(t)
  const adds = [
    (s, k) => s.set('g', k, 'v'),
    (s, k) => s.increment('g', k),
    (s, k) => s.setMany('g', { [k]: 'v', [`${k}-2`]: 'v' }),
    (s, k) => s.transaction((tx) => tx.set('g', k, 'v')),
    (s, k) => s.set('g', k, 'v', { ifAbsent: true }),
  ]
  const settle = (p) => p.then(() => 'ok', (err) => (err instanceof QuotaExceededError ? err.limit : err))
  const keys = stores.map((s) => s.scope('keys', { quota: { maxKeys: 25 } }))
  const outcomes = await race(keys, 30, (s, k) => settle(adds[Number(k.split('-')[1]) % adds.length](s, k)))
  assert.deepEqual(outcomes.filter((o) => o !== 'ok' && o !== 'maxKeys'), [])
  assert.equal(await keys[0].countAll(), 25, 'the quota fills exactly')

  const groups = stores.map((s) => s.scope('groups', { quota: { maxGroups: 5 } }))
  const made = await race(groups, 10, (s, g) => settle(s.set(g, 'k', 'v')))
  assert.deepEqual(made.filter((o) => o !== 'ok' && o !== 'maxGroups'), [])
  assert.equal(made.filter((o) => o === 'ok').length, 5)
  assert.equal((await groups[0].groups()).length, 5)
})
