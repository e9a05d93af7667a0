// The reads of one event-loop turn sharing one snapshot of a file (the
// server asks for it on every read request: in WAL mode each read outside a
// transaction takes and releases a lock on the WAL index, which costs more
// than the read). What the sharing must not change: a write issued in the
// turn, a transaction, close, and the next turn all see what they saw before.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { SHARE_READS } from '../dist/store.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-shared-reads-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

/** A store on a new file holding g/k = 'one', and a second, raw connection on the same file. */
async function setup() {
  const file = join(dir, `s${n++}.db`)
  const store = await Store.open(file, { durability: 'normal' })
  await store.set('g', 'k', 'one')
  const raw = new Database(file)
  const change = (value) => raw.prepare("UPDATE kv SET value = ? WHERE grp = 'g' AND key = 'k'").run(value)
  return { store, raw, change }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

describe('sqlite: reads of one turn share a snapshot', () => {
  it('reads in the same turn see the snapshot of the first; the next turn sees later commits', async () => {
    const { store, raw, change } = await setup()
    try {
      store[SHARE_READS]()
      assert.equal(await store.get('g', 'k'), 'one')
      change('two') // another connection commits within the turn
      assert.equal(await store.get('g', 'k'), 'one', 'same turn, same snapshot')
      await nextTurn()
      assert.equal(await store.get('g', 'k'), 'two', 'the snapshot ended with the turn')
      // Without sharing, a read sees another connection's commit at once.
      change('three')
      assert.equal(await store.get('g', 'k'), 'three')
    } finally {
      raw.close()
      await store.close()
    }
  })

  it("a write issued in the turn ends the snapshot: it commits, and the store's reads after it see it", async () => {
    const { store, raw, change } = await setup()
    try {
      store[SHARE_READS]()
      assert.equal(await store.get('g', 'k'), 'one')
      change('other')
      const revision = await store.set('g', 'k', 'mine')
      assert.equal(await store.get('g', 'k'), 'mine')
      assert.equal((await store.getEntry('g', 'k')).revision, revision)
      assert.equal(raw.prepare("SELECT value FROM kv WHERE key = 'k'").pluck().get(), 'mine')
    } finally {
      raw.close()
      await store.close()
    }
  })

  it('a transaction and conditional writes begin in the same turn as shared reads', async () => {
    const { store, raw } = await setup()
    try {
      store[SHARE_READS]()
      const entry = await store.getEntry('g', 'k')
      const [a, b] = await Promise.all([
        store.set('g', 'k', 'cas', { ifRevision: entry.revision }),
        store.transaction(async (tx) => {
          await tx.set('g', 't', 'in tx')
          return tx.get('g', 't')
        }),
      ])
      assert.equal(typeof a, 'number')
      assert.equal(b, 'in tx')
      assert.deepEqual(await store.getMany('g', ['k', 't']), ['cas', 'in tx'])
    } finally {
      raw.close()
      await store.close()
    }
  })

  it('close in the same turn ends the snapshot; the turn ends without an error', async () => {
    const { store, raw } = await setup()
    raw.close()
    store[SHARE_READS]()
    assert.equal(await store.get('g', 'k'), 'one')
    await store.close()
    store[SHARE_READS]() // closed: nothing to do
    await nextTurn()
    await nextTurn()
  })

  it('does nothing in memory', async () => {
    const store = await Store.open(':memory:')
    store[SHARE_READS]()
    await store.set('g', 'k', 'v')
    assert.equal(await store.get('g', 'k'), 'v')
    await store.close()
  })
})
