// The command line's revisions, conditional writes and counters: set
// --if-revision / --if-absent / --json, delete --if-revision, incr, get
// --json, and export reading a page at a time. Each runs the real built
// command on a database file and, with GROUPSTORE_TEST_PG, on PostgreSQL
// (a schema of its own, chosen through the URL's search_path).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Store } from 'groupstore'
import { run, tempDir } from './helpers/cli.js'
import { dropSchema, unavailable, unique, url, withSearchPath } from './postgres/server.js'

const pgSkip = await unavailable()
const schema = unique('groupstore_cli')
let tables = 0

/** The places each test runs on: a file, and PostgreSQL when reachable (a fresh table each). */
const BACKENDS = [
  { name: 'file', skip: false, location: (t) => join(tempDir(t), 'test.db') },
  {
    name: 'postgres',
    skip: pgSkip,
    location: (t) => {
      // A table of its own per test: the command uses table kv, so a schema per test.
      const name = `${schema}_${tables++}`
      t.after(() => dropSchema(name))
      return withSearchPath(url, name)
    },
  },
]

/** Runs `groupstore --db db ...args`. */
const gs = (db, args, options) => run(['--db', db, ...args], options)

/** The entry of a key as the library reads it. */
async function entryOf(db, group, key) {
  const store = await Store.open(db)
  try {
    return await store.getEntry(group, key)
  } finally {
    await store.close()
  }
}

/** Exit code 1, nothing on stdout, one line on stderr matching `pattern`. */
function conditionFailed(r, pattern) {
  assert.equal(r.code, 1, r.err)
  assert.equal(r.out, '')
  assert.equal(r.err.trimEnd().split('\n').length, 1, r.err)
  assert.match(r.err, pattern)
}

for (const backend of BACKENDS) {
  describe(`groupstore on ${backend.name}: revisions and conditional writes`, { skip: backend.skip }, () => {
    it('set --json prints the revision, and get --json prints the entry with the same revision', async (t) => {
      const db = backend.location(t)
      const first = await gs(db, ['set', 'config', 'theme', 'dark', '--json'])
      assert.equal(first.code, 0, first.err)
      const { revision } = JSON.parse(first.out)
      assert.deepEqual(JSON.parse(first.out), { group: 'config', key: 'theme', revision })
      assert.ok(Number.isSafeInteger(revision) && revision > 0)
      const got = await gs(db, ['get', 'config', 'theme', '--json'])
      assert.deepEqual(JSON.parse(got.out), { group: 'config', key: 'theme', value: 'dark', revision, expiresAt: null })
      const before = Date.now()
      const second = JSON.parse((await gs(db, ['set', 'config', 'theme', 'light', '--ttl', '1h', '--json'])).out)
      assert.ok(second.revision > revision)
      const entry = JSON.parse((await gs(db, ['get', 'config', 'theme', '--json'])).out)
      assert.equal(entry.revision, second.revision)
      assert.ok(entry.expiresAt >= before + 3_600_000 && entry.expiresAt <= Date.now() + 3_600_000, String(entry.expiresAt))
      assert.deepEqual(await entryOf(db, 'config', 'theme'), { value: 'light', revision: second.revision, expiresAt: entry.expiresAt })
      // Plain set still prints nothing; get --json of an absent key exits 1.
      assert.equal((await gs(db, ['set', 'config', 'other', 'x'])).out, '')
      conditionFailed(await gs(db, ['get', 'config', 'missing', '--json']), /no key "missing" in group "config"/)
    })

    it('set --if-revision writes only at that revision; otherwise exits 1 and changes nothing', async (t) => {
      const db = backend.location(t)
      const { revision } = JSON.parse((await gs(db, ['set', 'doc', 'title', 'v1', '--json'])).out)
      const stale = await gs(db, ['set', 'doc', 'title', 'v2', '--if-revision', String(revision + 1000)])
      conditionFailed(stale, /key "title" in group "doc" is not at revision \d+; nothing written/)
      assert.deepEqual(await entryOf(db, 'doc', 'title'), { value: 'v1', revision, expiresAt: null })
      const ok = await gs(db, ['set', 'doc', 'title', 'v2', '--if-revision', String(revision), '--json'])
      assert.equal(ok.code, 0, ok.err)
      const next = JSON.parse(ok.out).revision
      assert.ok(next > revision)
      // The old revision no longer matches; an absent key matches no revision.
      conditionFailed(await gs(db, ['set', 'doc', 'title', 'v3', '--if-revision', String(revision)]), /not at revision/)
      conditionFailed(await gs(db, ['set', 'doc', 'absent', 'v', '--if-revision', String(next)]), /not at revision/)
      assert.equal(await entryOf(db, 'doc', 'absent'), undefined)
      // The value from stdin, with a condition.
      const piped = await gs(db, ['set', 'doc', 'title', '--if-revision', String(next)], { input: 'from\nstdin\n' })
      assert.equal(piped.code, 0, piped.err)
      assert.equal((await entryOf(db, 'doc', 'title')).value, 'from\nstdin\n')
    })

    it('set --if-absent writes only when there is no live key (an expired one counts as absent)', async (t) => {
      const db = backend.location(t)
      const first = await gs(db, ['set', 'locks', 'nightly', 'host-a', '--if-absent', '--ttl', '1h', '--json'])
      assert.equal(first.code, 0, first.err)
      const { revision } = JSON.parse(first.out)
      conditionFailed(await gs(db, ['set', 'locks', 'nightly', 'host-b', '--if-absent']), /key "nightly" in group "locks" already exists; nothing written/)
      const held = await entryOf(db, 'locks', 'nightly')
      assert.equal(held.value, 'host-a')
      assert.equal(held.revision, revision)
      const store = await Store.open(db)
      await store.set('locks', 'stale', 'host-a', { ttl: 1 })
      await store.close()
      await sleep(20) // let the lease run out
      assert.equal((await gs(db, ['set', 'locks', 'stale', 'host-b', '--if-absent'])).code, 0)
      assert.equal((await entryOf(db, 'locks', 'stale')).value, 'host-b')
    })

    it('delete --if-revision deletes only at that revision', async (t) => {
      const db = backend.location(t)
      const { revision } = JSON.parse((await gs(db, ['set', 'locks', 'job', 'me', '--json'])).out)
      conditionFailed(await gs(db, ['delete', 'locks', 'job', '--if-revision', String(revision + 1)]), /no key "job" in group "locks" at revision \d+; nothing deleted/)
      assert.equal((await entryOf(db, 'locks', 'job')).revision, revision)
      const done = await gs(db, ['delete', 'locks', 'job', '--if-revision', String(revision)])
      assert.equal(done.code, 0, done.err)
      assert.equal(await entryOf(db, 'locks', 'job'), undefined)
      conditionFailed(await gs(db, ['delete', 'locks', 'job', '--if-revision', String(revision)]), /nothing deleted/)
    })

    it('incr prints the new value; BY may be negative; --ttl applies only when it creates the key', async (t) => {
      const db = backend.location(t)
      const out = async (args) => {
        const r = await gs(db, args)
        assert.equal(r.code, 0, r.err)
        return r.out
      }
      assert.equal(await out(['incr', 'stats', 'visits']), '1\n')
      assert.equal(await out(['incr', 'stats', 'visits', '41']), '42\n')
      assert.equal(await out(['incr', 'stats', 'visits', '-50']), '-8\n')
      assert.equal(await out(['incr', 'stats', 'visits', '0']), '-8\n')
      assert.equal((await entryOf(db, 'stats', 'visits')).value, '-8')
      const before = Date.now()
      assert.equal(await out(['incr', 'rate', 'user-1', '--ttl', '1m']), '1\n')
      const created = await entryOf(db, 'rate', 'user-1')
      assert.ok(created.expiresAt >= before + 60_000 && created.expiresAt <= Date.now() + 60_000)
      assert.equal(await out(['incr', 'rate', 'user-1', '--ttl', '1h']), '2\n')
      assert.equal((await entryOf(db, 'rate', 'user-1')).expiresAt, created.expiresAt, 'an existing key keeps its expiry')
    })

    it('incr refuses a value that is not an integer (exit 3) and a bad amount (exit 2), changing nothing', async (t) => {
      const db = backend.location(t)
      await gs(db, ['set', 'stats', 'name', 'abc'])
      const notInteger = await gs(db, ['incr', 'stats', 'name'])
      assert.equal(notInteger.code, 3)
      assert.match(notInteger.err, /not an integer/)
      assert.equal((await entryOf(db, 'stats', 'name')).value, 'abc')
      for (const by of ['1.5', 'x', '9007199254740992', '1e3']) {
        const r = await gs(db, ['incr', 'stats', 'n', by])
        assert.equal(r.code, 2, `${by}: ${r.err}`)
      }
      await gs(db, ['set', 'stats', 'big', String(Number.MAX_SAFE_INTEGER)])
      const overflow = await gs(db, ['incr', 'stats', 'big'])
      assert.equal(overflow.code, 2, overflow.err)
      assert.equal((await entryOf(db, 'stats', 'big')).value, String(Number.MAX_SAFE_INTEGER))
      assert.equal(await entryOf(db, 'stats', 'n'), undefined)
    })

    it('conditions and counters work in a scope, with names relative to it', async (t) => {
      const db = backend.location(t)
      const set = await gs(db, ['set', 'config', 'theme', 'dark', '--if-absent', '--scope', 't1', '--json'])
      assert.equal(set.code, 0, set.err)
      const { revision } = JSON.parse(set.out)
      const got = JSON.parse((await gs(db, ['get', 'config', 'theme', '--json', '--scope', 't1'])).out)
      assert.deepEqual(got, { group: 'config', key: 'theme', value: 'dark', revision, expiresAt: null })
      assert.equal((await entryOf(db, 't1:config', 'theme')).revision, revision)
      assert.equal((await gs(db, ['incr', 'stats', 'n', '--scope', 't1'])).out, '1\n')
      assert.equal((await entryOf(db, 't1:stats', 'n')).value, '1')
      assert.equal((await gs(db, ['delete', 'config', 'theme', '--if-revision', String(revision), '--scope', 't1'])).code, 0)
    })

    it('of 6 processes racing set --if-absent on one key exactly one wins; 6 racing incr add 6', async (t) => {
      const db = backend.location(t)
      await gs(db, ['set', 'warm', 'up', 'x']) // the file and its schema exist before the race
      const racers = await Promise.all(Array.from({ length: 6 }, (_, i) => gs(db, ['set', 'locks', 'one', `p${i}`, '--if-absent'])))
      assert.equal(racers.filter((r) => r.code === 0).length, 1, racers.map((r) => r.err).join(''))
      for (const r of racers.filter((r) => r.code !== 0)) assert.equal(r.code, 1, r.err)
      const counters = await Promise.all(Array.from({ length: 6 }, () => gs(db, ['incr', 'stats', 'hits'])))
      for (const r of counters) assert.equal(r.code, 0, r.err)
      assert.deepEqual(counters.map((r) => Number(r.out)).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6])
      assert.equal((await entryOf(db, 'stats', 'hits')).value, '6')
    })

    it('export writes each key with its exact expiry across pages, in key order', async (t) => {
      const db = backend.location(t)
      const store = await Store.open(db)
      const pairs = Array.from({ length: 600 }, (_, i) => [`k${String(i).padStart(4, '0')}`, `v${i}`])
      await store.setMany('big', pairs.slice(0, 300), { ttl: 3_600_000 })
      await store.setMany('big', pairs.slice(300))
      await store.set('small', 'only', 'one', { ttl: 7_200_000 })
      const expected = []
      for (const group of ['big', 'small']) {
        for await (const [key] of store.entries(group)) {
          const e = await store.getEntry(group, key)
          expected.push({ group, key, value: e.value, expiresAt: e.expiresAt })
        }
      }
      await store.close()
      const file = join(tempDir(t), 'out.jsonl')
      const r = await gs(db, ['export', '--output', file])
      assert.equal(r.code, 0, r.err)
      assert.match(r.err, /exported 601 keys from 2 groups/)
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
      assert.deepEqual(lines, expected)
      assert.equal(lines.filter((l) => l.expiresAt !== null).length, 301)
    })
  })
}

describe('groupstore: usage of the new options', () => {
  it('--if-revision and --if-absent together, or a revision that is not a positive integer, are usage errors', async (t) => {
    const db = join(tempDir(t), 'test.db')
    for (const args of [
      ['set', 'g', 'k', 'v', '--if-absent', '--if-revision', '1'],
      ['set', 'g', 'k', 'v', '--if-revision', '0'],
      ['set', 'g', 'k', 'v', '--if-revision', 'abc'],
      ['set', 'g', 'k', 'v', '--if-revision', '9007199254740993'],
      ['delete', 'g', 'k', '--if-revision', '-1'],
      ['incr', 'g'],
      ['incr', 'g', 'k', '1', 'extra'],
      ['incr', 'g', 'k', '--ttl', '60'],
    ]) {
      const r = await gs(db, args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`)
      assert.match(r.err, /^groupstore: /)
    }
  })

  it('--help documents the new options and the incr command', async () => {
    const set = await run(['set', '--help'])
    assert.match(set.out, /--if-revision <revision>/)
    assert.match(set.out, /--if-absent/)
    assert.match((await run(['delete', '--help'])).out, /--if-revision <revision>/)
    assert.match((await run(['incr', '--help'])).out, /^Usage: groupstore incr \[options\] <group> <key> \[by\]/)
    assert.match((await run(['--help'])).out, /^ {2}incr /m)
  })
})
