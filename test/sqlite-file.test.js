// The SQLite backend on files: journal and sync settings, statements
// prepared once, lock waits, refusing files that are not databases
// (untouched), persistence.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { Store, StoreError } from 'groupstore'
import { openBackend } from '../dist/backend/open.js'
import { resolveOptions } from '../dist/options.js'
import { fixtureCopy, tempDir } from './helpers/sqlite.js'

async function open(t, path, options) {
  const store = await Store.open(path, { purgeInterval: 0, ...options })
  t.after(() => store.close())
  return store
}

/** The pragmas of the connection the backend opened for `options`. */
async function pragmas(t, options) {
  const backend = await openBackend(join(tempDir(t), 'p.db'), resolveOptions(options))
  t.after(() => backend.close())
  const db = backend.database
  return {
    journal: db.pragma('journal_mode', { simple: true }),
    synchronous: db.pragma('synchronous', { simple: true }),
    busyTimeout: db.pragma('busy_timeout', { simple: true }),
  }
}

describe('SQLite settings', () => {
  it('a file database is in WAL mode (seen from another connection)', async (t) => {
    const path = join(tempDir(t), 'wal.db')
    const store = await open(t, path)
    await store.set('g', 'k', 'v')
    const db = new Database(path, { readonly: true })
    t.after(() => db.close())
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  })

  it("durability 'full' (the default) is synchronous=FULL, 'normal' is NORMAL", async (t) => {
    assert.equal((await pragmas(t, {})).synchronous, 2)
    assert.equal((await pragmas(t, { durability: 'full' })).synchronous, 2)
    assert.equal((await pragmas(t, { durability: 'normal' })).synchronous, 1)
    assert.equal((await pragmas(t, {})).journal, 'wal')
  })

  it("SQLite's own busy handler is off whatever busyTimeout says: the store waits for locks itself, on timers", async (t) => {
    // busyTimeout bounds those waits: see test/sqlite-lock-wait.test.js.
    assert.equal((await pragmas(t, {})).busyTimeout, 0)
    assert.equal((await pragmas(t, { busyTimeout: 1234 })).busyTimeout, 0)
    assert.equal((await pragmas(t, { busyTimeout: 0 })).busyTimeout, 0)
  })

  it('a write lock held past busyTimeout rejects with StoreError, keeping the driver error as cause', async (t) => {
    const path = join(tempDir(t), 'busy.db')
    const store = await open(t, path, { busyTimeout: 20 })
    await store.set('g', 'k', 'before')
    const other = new Database(path)
    t.after(() => other.close())
    other.exec('BEGIN IMMEDIATE')
    await assert.rejects(store.set('g', 'k', 'locked'), (err) => {
      assert.ok(err instanceof StoreError, String(err))
      assert.equal(err.code, 'ERR_STORE_BUSY')
      assert.equal(err.name, 'StoreError')
      assert.match(err.message, /^store\.set: .*lock/)
      assert.ok(err.cause instanceof Error)
      assert.match(err.cause.code, /^SQLITE_BUSY/)
      return true
    })
    // reads still work under WAL while another connection writes
    assert.equal(await store.get('g', 'k'), 'before')
    other.exec('COMMIT')
    await store.set('g', 'k', 'after')
    assert.equal(await store.get('g', 'k'), 'after')
  })

  it('a write waits for a lock released within busyTimeout', async (t) => {
    const path = join(tempDir(t), 'wait.db')
    const store = await open(t, path, { busyTimeout: 10_000 })
    await store.set('g', 'k', 'v')
    // another thread holds the write lock for a moment, then commits its own write
    const worker = new Worker(
      `const Database = require(${JSON.stringify(new URL('../node_modules/better-sqlite3/lib/index.js', import.meta.url).pathname)})
      const { parentPort, workerData } = require('node:worker_threads')
      const db = new Database(workerData)
      db.exec('BEGIN IMMEDIATE')
      db.prepare("INSERT INTO kv (grp, key, value) VALUES ('g', 'other', 'from the worker')").run()
      parentPort.postMessage('locked')
      const until = Date.now() + 100
      while (Date.now() < until) {}
      db.exec('COMMIT')
      db.close()`,
      { eval: true, workerData: path },
    )
    t.after(() => worker.terminate())
    await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await store.set('g', 'k', 'waited')
    assert.equal(await store.get('g', 'k'), 'waited')
    assert.equal(await store.get('g', 'other'), 'from the worker')
  })

  it('prepares each statement once and reuses it: calls after the first prepare nothing', async (t) => {
    const prepare = Database.prototype.prepare
    let prepared = 0
    Database.prototype.prepare = function (...args) {
      prepared++
      return prepare.apply(this, args)
    }
    t.after(() => {
      Database.prototype.prepare = prepare
    })
    /** Calls every read and write method once, on keys made from `i`. */
    async function everyMethod(store, i) {
      await store.set('g', `k${i}`, 'v')
      await store.set('g', `t${i}`, 'v', { ttl: 60_000 })
      await store.get('g', `k${i}`)
      await store.has('g', `k${i}`)
      await store.ttl('g', `t${i}`)
      await store.getEntry('g', `k${i}`)
      await store.set('g', `k${i}`, 'w', { ifRevision: 1 })
      await store.set('g', `a${i}`, 'v', { ifAbsent: true })
      await store.increment('g', 'counter')
      await store.getMany('g', [`k${i}`, 'missing'])
      await store.setMany('g', { [`m${i}`]: 'v' })
      await store.deleteMany('g', [`m${i}`])
      await store.count('g')
      await store.countAll('g')
      await store.groups()
      await store.getAll('g')
      await store.page('g', { prefix: 'k', limit: 2 })
      await store.render('{{ counter }}', 'g')
      await store.delete('g', `k${i}`)
      await store.deletePrefix(`gone${i}`)
      await store.deleteGroup(`gone${i}`)
      await store.transaction(async (tx) => tx.set('h', `k${i}`, 'v'))
      await store.purgeExpired()
    }
    for (const location of [':memory:', join(tempDir(t), 'prepared.db')]) {
      const store = await open(t, location, { durability: 'normal' })
      await everyMethod(store, 0)
      const before = prepared
      assert.ok(before > 0, 'the count sees the statements the store prepares')
      for (let i = 1; i <= 20; i++) await everyMethod(store, i)
      assert.equal(prepared - before, 0, `${location}: statements prepared again`)
    }
  })
})

describe('files that are not databases', () => {
  /** Asserts that opening `path` rejects with a StoreError naming it and leaves it byte for byte. */
  async function refused(path) {
    const before = readFileSync(path)
    await assert.rejects(Store.open(path), (err) => {
      assert.ok(err instanceof StoreError, String(err))
      assert.equal(err.code, 'ERR_STORE_CORRUPT', 'a foreign or damaged file')
      assert.equal(err.name, 'StoreError')
      assert.ok(err.message.startsWith('Store.open: '), err.message)
      assert.ok(err.message.includes(path), `${err.message} does not name the path`)
      return true
    })
    assert.ok(readFileSync(path).equals(before), 'the file was changed')
    assert.equal(existsSync(`${path}-wal`), false, 'a WAL file was left beside it')
    assert.equal(existsSync(`${path}-journal`), false, 'a journal was left beside it')
  }

  it('a text file is refused and left untouched', async (t) => {
    const path = join(tempDir(t), 'notes.txt')
    writeFileSync(path, 'not a database\n'.repeat(200))
    await refused(path)
  })

  it('a short file is refused and left untouched', async (t) => {
    const path = join(tempDir(t), 'short.db')
    writeFileSync(path, 'hello')
    await refused(path)
  })

  it('binary noise is refused and left untouched', async (t) => {
    const path = join(tempDir(t), 'noise.db')
    writeFileSync(path, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) % 256)))
    await refused(path)
  })

  it('a SQLite header followed by garbage is refused and left untouched', async (t) => {
    const path = join(tempDir(t), 'header.db')
    writeFileSync(path, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080, 0xff)]))
    await refused(path)
  })

  it('a database with a damaged kv table is refused and left untouched', async (t) => {
    const path = fixtureCopy(t, 'go-store-pre-ttl.db')
    const bytes = readFileSync(path)
    bytes.fill(0xab, 4096, 8192)
    writeFileSync(path, bytes)
    await refused(path)
  })

  it('a truncated database is refused and left untouched', async (t) => {
    const path = fixtureCopy(t, 'go-store-pre-ttl.db')
    writeFileSync(path, readFileSync(path).subarray(0, 4096))
    await refused(path)
  })

  it('another application’s database with a different kv table is refused and left untouched', async (t) => {
    for (const schema of ['CREATE TABLE kv (id INTEGER PRIMARY KEY, data BLOB)', 'CREATE TABLE kv (grp TEXT, key TEXT, value TEXT)']) {
      const path = join(tempDir(t), 'other.db')
      const db = new Database(path)
      db.exec(schema)
      db.close()
      await refused(path)
    }
  })

  it('a database with an index named kv (go-store’s schema conflict) is refused and left untouched', async (t) => {
    const path = join(tempDir(t), 'conflict.db')
    const db = new Database(path)
    db.exec('CREATE TABLE other (a TEXT); CREATE INDEX kv ON other (a)')
    db.close()
    await refused(path)
  })

  it('the StoreError keeps the driver’s error as cause', async (t) => {
    const path = join(tempDir(t), 'notes.txt')
    writeFileSync(path, 'not a database\n'.repeat(200))
    await assert.rejects(Store.open(path), (err) => err instanceof StoreError && err.cause instanceof Error)
  })

  it('a missing parent folder rejects with a StoreError naming the path, creating nothing', async (t) => {
    const dir = tempDir(t)
    const path = join(dir, 'missing', 'store.db')
    await assert.rejects(Store.open(path), (err) => {
      assert.ok(err instanceof StoreError, String(err))
      assert.ok(err.message.startsWith('Store.open: ') && err.message.includes(path), err.message)
      return true
    })
    assert.equal(existsSync(join(dir, 'missing')), false)
  })

  it('a folder rejects with a StoreError', async (t) => {
    const dir = tempDir(t)
    mkdirSync(join(dir, 'folder'))
    await assert.rejects(Store.open(join(dir, 'folder')), StoreError)
  })

  it('a missing file is created', async (t) => {
    const path = join(tempDir(t), 'new.db')
    await (await Store.open(path)).close()
    assert.equal(existsSync(path), true)
  })

  it('an empty file is taken as an empty database', async (t) => {
    const path = join(tempDir(t), 'empty.db')
    writeFileSync(path, '')
    const store = await open(t, path)
    await store.set('g', 'k', 'v')
    assert.equal(await store.get('g', 'k'), 'v')
  })
})

describe('damage found after opening', () => {
  it('a read that meets a damaged page rejects with StoreError naming the method, with the driver error as cause', async (t) => {
    const path = join(tempDir(t), 'damaged.db')
    const first = await Store.open(path, { purgeInterval: 0 })
    const writes = []
    for (let i = 0; i < 2000; i++) writes.push(first.set('g', `k${String(i).padStart(5, '0')}`, 'v'.repeat(100)))
    await Promise.all(writes)
    await first.close()
    // fold the WAL into the file: the first pages now hold group g
    const fold = () => {
      const db = new Database(path)
      db.pragma('wal_checkpoint(TRUNCATE)')
      db.close()
    }
    fold()
    const groupPages = readFileSync(path).length / readFileSync(path).readUInt16BE(16)
    // Files up to 32 MiB are checked whole when opened (and refused when damaged):
    // grow this one past that, so the damage is found by the read that meets it.
    const grow = await Store.open(path, { purgeInterval: 0, durability: 'normal' })
    await grow.transaction(async (tx) => {
      for (let i = 0; i < 34; i++) await tx.set('big', `k${i}`, 'm'.repeat(1024 * 1024))
    })
    await grow.close()
    fold()
    // damage pages in the middle of group g's part of the table
    const bytes = readFileSync(path)
    const pageSize = bytes.readUInt16BE(16)
    bytes.fill(0x5a, pageSize * Math.floor(groupPages / 2), pageSize * (Math.floor(groupPages / 2) + 3))
    writeFileSync(path, bytes)
    const store = await open(t, path)
    for (const [method, call] of [
      // (count is left out: it reads the key index alone, not the table's pages)
      ['getAll', () => store.getAll('g')],
      ['entries', async () => {
        for await (const entry of store.entries('g')) void entry
      }],
    ]) {
      await assert.rejects(call(), (err) => {
        assert.ok(err instanceof StoreError, `${method}: ${err}`)
        assert.equal(err.code, 'ERR_STORE_CORRUPT')
        assert.ok(err.message.startsWith(`store.${method}: `), err.message)
        assert.match(err.cause?.code ?? '', /^SQLITE_CORRUPT/)
        return true
      })
    }
  })
})

describe('persistence', () => {
  it('keeps data, TTLs and deletions across close and reopen', async (t) => {
    const path = join(tempDir(t), 'persist.db')
    let now = 1_800_000_000_000
    const first = await open(t, path, { now: () => now })
    await first.set('g', 'plain', 'v')
    await first.set('g', 'ttl', 'v', { ttl: 1000 })
    await first.set('g', 'gone', 'v')
    await first.delete('g', 'gone')
    await first.scope('t1').set('cfg', 'k', 'scoped')
    await first.transaction(async (tx) => {
      await tx.set('tx', 'a', '1')
      await tx.set('tx', 'b', '2')
    })
    await assert.rejects(first.transaction(async (tx) => {
      await tx.set('tx', 'c', 'rolled back')
      throw new Error('no')
    }))
    await first.close()

    const second = await open(t, path, { now: () => now })
    assert.equal(await second.get('g', 'plain'), 'v')
    assert.equal(await second.ttl('g', 'ttl'), 1000)
    assert.equal(await second.has('g', 'gone'), false)
    assert.equal(await second.scope('t1').get('cfg', 'k'), 'scoped')
    assert.deepEqual({ ...(await second.getAll('tx')) }, { a: '1', b: '2' })
    now += 1000
    assert.equal(await second.get('g', 'ttl'), undefined)
  })

  it('writes in flight when close() is called are on disk afterwards', async (t) => {
    const path = join(tempDir(t), 'inflight.db')
    const first = await Store.open(path)
    const writes = []
    for (let i = 0; i < 200; i++) writes.push(first.set('g', `k${i}`, String(i)))
    const closing = first.close()
    await Promise.all(writes)
    await closing
    const second = await open(t, path)
    assert.equal(await second.count('g'), 200)
    assert.equal(await second.get('g', 'k199'), '199')
  })

  it('two stores on one file see each other’s committed writes', async (t) => {
    const path = join(tempDir(t), 'shared.db')
    const a = await open(t, path)
    const b = await open(t, path)
    await a.set('g', 'k', 'from a')
    assert.equal(await b.get('g', 'k'), 'from a')
    await b.delete('g', 'k')
    assert.equal(await a.has('g', 'k'), false)
  })

  it('an in-memory store starts empty every time', async (t) => {
    const a = await open(t, ':memory:')
    await a.set('g', 'k', 'v')
    const b = await open(t, ':memory:')
    assert.equal(await b.has('g', 'k'), false)
  })
})
