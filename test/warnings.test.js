// Process warnings carry a stable code and repeat at most once per cause
// (code and message) for each store.
import assert from 'node:assert/strict'
import { it } from 'node:test'
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
