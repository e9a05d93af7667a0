// Every write is atomic, however many statements it takes: the row and its
// change-log entry are two statements, a transaction several. The change log
// is made to refuse the entries of groups named '…boom…' (a trigger), so the
// second statement of each write fails: the write rejects and leaves the
// store exactly as it was. A backend that ran such a write without BEGIN
// (as it may run a point write when the store keeps no log) fails these
// tests. Run on a SQLite file and on PostgreSQL (GROUPSTORE_TEST_PG).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store, StoreError } from 'groupstore'
import { writeOf } from '../dist/backend/backend.js'
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'
import { tempDir } from './helpers/sqlite.js'
import { admin, testSchema, unavailable, url } from './postgres/server.js'

/** A backend write of a function, as the store hands its writes over (see `Write` in src/backend/backend.ts). */
const writeFn = (backend, method, fn, committed, options) => backend.write(writeOf(method, fn, committed), options)

const pgSkip = await unavailable()
const schema = pgSkip ? undefined : testSchema('groupstore_atomic')
let tables = 0

const stores = [
  {
    name: 'sqlite file',
    async open(t) {
      const path = join(tempDir(t), 'atomic.db')
      const store = await Store.open(path, { purgeInterval: 0 })
      return {
        store,
        refuseLog() {
          const db = new Database(path)
          db.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON kv_changes WHEN instr(new.grp, 'boom') > 0
                   BEGIN SELECT RAISE(ABORT, 'log refused'); END`)
          db.close()
        },
      }
    },
  },
  {
    name: 'postgres',
    skip: pgSkip,
    async open() {
      const table = `a${tables++}`
      const store = await Store.open(url, { purgeInterval: 0, schema, table })
      return {
        store,
        async refuseLog() {
          const client = await admin()
          try {
            await client.query(
              `CREATE OR REPLACE FUNCTION "${schema}".refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF position('boom' in NEW.grp) > 0 THEN RAISE EXCEPTION 'log refused'; END IF; RETURN NEW; END $$`,
            )
            await client.query(
              `CREATE TRIGGER refuse_boom BEFORE INSERT ON "${schema}"."${table}_changes"
               FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse_boom()`,
            )
          } finally {
            await client.end()
          }
        },
      }
    },
  },
]

for (const s of stores) {
  describe(`atomic writes: ${s.name}`, { skip: s.skip }, () => {
    it('a write whose change-log entry fails leaves nothing behind, whatever its kind', async (t) => {
      const { store, refuseLog } = await s.open(t)
      t.after(() => store.close())
      const tenant = store.scope('boom', { quota: { maxKeys: 100, maxGroups: 10 } })
      await store.set('boom', 'k', 'old')
      await store.set('boom-2', 'k', 'old')
      await tenant.set('g', 'k', 'old')
      const before = async () => ({
        boom: { ...(await store.getAll('boom')) },
        boom2: { ...(await store.getAll('boom-2')) },
        tenant: { ...(await tenant.getAll('g')) },
      })
      const expected = await before()
      await refuseLog()
      const writes = {
        'set over a key': () => store.set('boom', 'k', 'new'),
        'set of a new key': () => store.set('boom', 'k2', 'v'),
        'set with a TTL': () => store.set('boom', 'k', 'new', { ttl: 60_000 }),
        delete: () => store.delete('boom', 'k'),
        deleteGroup: () => store.deleteGroup('boom'),
        deletePrefix: () => store.deletePrefix('boom'),
        'quota-checked set': () => tenant.set('g', 'k2', 'v'),
        transaction: () =>
          store.transaction(async (tx) => {
            await tx.set('other', 'k', 'v')
            await tx.set('boom', 'k', 'new')
          }),
      }
      for (const [name, write] of Object.entries(writes)) {
        await assert.rejects(write(), (err) => {
          assert.ok(err instanceof StoreError, `${name}: ${err}`)
          assert.match(err.message, /log refused/, name)
          return true
        })
        assert.deepEqual(await before(), expected, `${name} left the store as it was`)
      }
      assert.equal(await store.get('other', 'k'), undefined, 'nothing of the transaction committed')
    })
  })
}

describe('atomic writes: the SQLite backend on its own', () => {
  const locations = [
    // The kinds the backend runs without BEGIN there: on a file, another
    // connection may write between a checked write's reads and its write,
    // and every write also takes its revision from the file's counter, so
    // none runs without BEGIN, with the change log or without it.
    { name: ':memory:', location: () => ':memory:', alone: ['point', 'checked'] },
    { name: 'a file without the change log', location: (t) => join(tempDir(t), 'nolog.db'), changeLog: false, alone: [] },
  ]
  for (const l of locations) {
    it(`${l.name}: a write of two statements is atomic whatever its kind says`, async (t) => {
      const backend = await openBackend(l.location(t), resolveOptions({ purgeInterval: 0, changeLog: l.changeLog ?? true }))
      t.after(() => backend.close())
      backend.database.exec(`CREATE TRIGGER refuse_b BEFORE INSERT ON kv WHEN new.key = 'b' BEGIN SELECT RAISE(ABORT, 'b refused'); END`)
      for (const kind of ['point', 'checked', 'multi', 'transaction'].filter((k) => !l.alone.includes(k))) {
        await assert.rejects(
          writeFn(backend, `test.${kind}`, (q) => {
            q.set('g', 'a', '1', null)
            q.set('g', 'b', '2', null)
          }, undefined, { kind }),
          /b refused/,
        )
        assert.equal(backend.database.prepare('SELECT count(*) FROM kv').pluck().get(), 0, `${kind}: nothing left behind`)
      }
    })

    it(`${l.name}: a point write that runs a second statement is refused at it`, async (t) => {
      const backend = await openBackend(l.location(t), resolveOptions({ purgeInterval: 0, changeLog: l.changeLog ?? true }))
      t.after(() => backend.close())
      for (const kind of l.alone) {
        await assert.rejects(
          writeFn(backend, `test.${kind}`, (q) => {
            q.set('g', `${kind}-1`, '1', null)
            q.set('g', `${kind}-2`, '2', null)
          }, undefined, { kind }),
          (err) => {
            assert.ok(err instanceof StoreError)
            assert.match(err.message, new RegExp(`^test\\.${kind}: a write declared as one statement ran a second`))
            return true
          },
        )
        const keys = backend.database.prepare("SELECT key FROM kv WHERE key LIKE ? ORDER BY key").pluck().all(`${kind}-%`)
        assert.ok(!keys.includes(`${kind}-2`), 'the second statement did not run')
      }
    })
  }
})
