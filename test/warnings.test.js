// Process warnings carry a stable code and repeat at most once per cause
// (code and message) for each store.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'

const tick = () => new Promise((resolve) => setImmediate(resolve))

it('an onChange callback that keeps throwing is one coded warning per message', async (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  t.after(() => process.off('warning', onWarning))
  const store = await Store.open(':memory:', { purgeInterval: 0 })
  t.after(() => store.close())
  store.onChange((e) => {
    throw new Error(e.key === 'other' ? 'another failure' : 'the same failure')
  })
  for (let i = 0; i < 5; i++) await store.set('g', `k${i}`, 'v')
  await store.set('g', 'other', 'v')
  await tick()
  const ours = warnings.filter((w) => w.name === 'GroupstoreWarning')
  assert.deepEqual(
    ours.map((w) => [w.code, w.message]),
    [
      ['GROUPSTORE_ONCHANGE_CALLBACK', 'an onChange callback threw: the same failure'],
      ['GROUPSTORE_ONCHANGE_CALLBACK', 'an onChange callback threw: another failure'],
    ],
  )
})

it('a background purge that fails at every interval is one coded warning', async (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  t.after(() => process.off('warning', onWarning))
  const dir = mkdtempSync(join(tmpdir(), 'groupstore-warnings-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'purge.db')
  let now = Date.parse('2030-01-01T00:00:00Z')
  const store = await Store.open(path, { purgeInterval: 10, busyTimeout: 5, now: () => now })
  t.after(() => store.close())
  await store.set('g', 'k', 'v', { ttl: 10 })
  now += 100
  // Another connection holds the write lock: every purge fails the same way.
  const other = new Database(path)
  t.after(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  await new Promise((resolve) => setTimeout(resolve, 300))
  other.exec('ROLLBACK')
  await tick()
  const ours = warnings.filter((w) => w.name === 'GroupstoreWarning')
  assert.equal(ours.length, 1, ours.map((w) => w.message).join('\n'))
  assert.equal(ours[0].code, 'GROUPSTORE_PURGE_FAILED')
  assert.match(ours[0].message, /^background purge failed: store\.purgeExpired: /)
})
