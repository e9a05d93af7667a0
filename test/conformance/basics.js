import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

/** @param {import('./index.js').Factory} factory */
export default function basics({ open }) {
  describe('basics', () => {
    it('round-trips a value', async (t) => {
      const store = await open()
      t.after(() => store.close())
      await store.set('g', 'k', 'v')
      assert.equal(await store.get('g', 'k'), 'v')
    })
  })
}
