// The statements under the targets that were hardest to meet, timed alone
// and synchronously (no promise, no JavaScript layer of groupstore): what a
// scoped set with a quota and a durable write with the change log cost at
// the least, given the storage interface, what the savepoints and
// transactions that they no longer need would add, and what one durable
// sequential write commits besides raw better-sqlite3's upsert. Figures in
// docs/performance.md.
//
//   node bench/floors.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteBackend } from '../dist/backend/sqlite/sqlite-backend.js'
import { SqliteQueries } from '../dist/backend/sqlite/sqlite-queries.js'
import { SqliteRevisions } from '../dist/backend/sqlite/sqlite-revisions.js'
import { SQL } from '../dist/backend/sqlite/sqlite-sql.js'
import { GO_STORE_SCHEMA, RAW_UPSERT } from './lib/go-store.js'

/** The statements of a store's connection, with its revision counter. */
const queriesOf = (db, memory) => new SqliteQueries(db, new SqliteRevisions(db, memory))

const ROUNDS = 15
const N = 5000
const key = (r, i) => `key-${r}-${String(i).padStart(6, '0')}`

/** Runs every variant N times per round, rounds taking turns; answers the median µs per call. */
function measure(variants) {
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < N; i++) fn(r, i)
      times[name].push(Number(process.hrtime.bigint() - start) / N / 1000)
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.sort((a, b) => a - b)[v.length >> 1]]))
}

function print(title, results, base) {
  console.log(`\n${title}`)
  for (const [name, us] of Object.entries(results)) {
    console.log(`  ${name.padEnd(44)} ${us.toFixed(2).padStart(6)} µs  ${(us / results[base]).toFixed(2)}×`)
  }
}

// A scoped set with a maxKeys quota, in memory: the namespace count, then the
// upsert (firing the trigger that keeps the count). On a private in-memory
// database nothing can write in between, so no transaction is needed; a
// file's batch holds it in its transaction.
{
  const backend = SqliteBackend.open(':memory:', { durability: 'full', busyTimeout: 1000 })
  const db = backend.database
  const q = queriesOf(db, true)
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  begin.run()
  q.countAll('ns:', 0) // makes the namespace counts
  commit.run()
  print(
    'scoped set with a quota, in memory (statements alone)',
    measure({
      'plain set (upsert; trigger skips it)': (r, i) => q.set('plain', key(r, i), 'v', null),
      'set into a namespace (trigger counts it)': (r, i) => q.set('ns:a', key(r, i), 'v', null),
      'BEGIN IMMEDIATE + COMMIT': () => {
        begin.run()
        commit.run()
      },
      'namespace count': () => q.countAll('ns:', Date.now()),
      'quota set: count, set (what runs in memory)': (r, i) => {
        q.countAll('ns:', Date.now())
        q.set('ns:b', key(r, i), 'v', null)
      },
      'quota set: BEGIN, count, set, COMMIT': (r, i) => {
        begin.run()
        q.countAll('ns:', Date.now())
        q.set('ns:c', key(r, i), 'v', null)
        commit.run()
      },
    }),
    'plain set (upsert; trigger skips it)',
  )
  await backend.close()
}

// One write of a batch of concurrent durable sets on a file: with the change
// log it is two statements (the upsert and the log's INSERT), without it one.
// Neither runs under a savepoint any more (a write that fails after writing
// makes its batch run again, that write under one); the last line is what a
// savepoint per write would cost.
{
  const dir = mkdtempSync(join(tmpdir(), 'groupstore-floors-'))
  try {
    const backend = SqliteBackend.open(join(dir, 'floors.db'), { durability: 'full', busyTimeout: 1000 })
    const db = backend.database
    const q = queriesOf(db, false)
    const begin = db.prepare('BEGIN IMMEDIATE')
    const commit = db.prepare('COMMIT')
    const savepoint = db.prepare('SAVEPOINT op')
    const release = db.prepare('RELEASE op')
    const change = (r, i) => [{ revision: q.nextRevision(), type: 'set', group: 'g', key: key(r, i), value: 'v', timestamp: 1 }]
    // Inside one open transaction, as in a batch; committed at the end.
    begin.run()
    q.openRevisions()
    print(
      'one write of a durable batch, on a file (statements alone, inside the batch transaction)',
      measure({
        'set (changeLog: false)': (r, i) => q.set('a', key(r, i), 'v', null),
        'set + change log INSERT': (r, i) => {
          q.set('b', key(r, i), 'v', null)
          q.appendChanges(change(r, i))
        },
        'SAVEPOINT + set + change log INSERT + RELEASE': (r, i) => {
          savepoint.run()
          q.set('c', key(r, i), 'v', null)
          q.appendChanges(change(r, i))
          release.run()
        },
      }),
      'set (changeLog: false)',
    )
    q.saveRevisions()
    commit.run()
    await backend.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// A durable sequential write, each its own commit with durability 'full' (an
// fsync of the WAL), step by step from raw better-sqlite3's upsert in
// autocommit on go-store's schema to what groupstore's logged write runs:
// the same upsert in BEGIN IMMEDIATE … COMMIT; with the change log's INSERT
// (a table like ours beside go-store's, so the commit writes the log's last
// leaf too: three pages, where raw's writes two, the row's leaf and its
// key's); then on a store's file (the revision column, and the triggers that
// renew the revision of a row written by another program, whose condition
// every write tests), first with revisions counted in JavaScript, then with
// the latest revision read at the transaction's first one, as groupstore
// does; and with the prune groupstore runs every 1,000 revisions. Also the
// write of a store with `changeLog: false` (the counter's page instead of
// the log's). Rounds of 200 commits, taking turns in an order that rotates;
// each ratio is the median of the rounds' ratios to raw's.
{
  const dir = mkdtempSync(join(tmpdir(), 'groupstore-floors-'))
  try {
    const rawFile = (name, log) => {
      const db = new Database(join(dir, name))
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      db.exec(GO_STORE_SCHEMA)
      if (log) db.exec('CREATE TABLE kv_changes (revision INTEGER PRIMARY KEY, type TEXT NOT NULL, grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT, ts INTEGER NOT NULL)')
      return { db, set: db.prepare(RAW_UPSERT), begin: db.prepare('BEGIN IMMEDIATE'), commit: db.prepare('COMMIT'), log: log ? db.prepare(SQL.appendChange) : undefined }
    }
    const raw = rawFile('raw.db', false)
    const rawTx = rawFile('raw-tx.db', false)
    const rawLog = rawFile('raw-log.db', true)
    const open = (name) => {
      const backend = SqliteBackend.open(join(dir, name), { durability: 'full', busyTimeout: 1000 })
      const db = backend.database
      return { backend, db, q: queriesOf(db, false), begin: db.prepare('BEGIN IMMEDIATE'), commit: db.prepare('COMMIT') }
    }
    const row = open('row.db')
    const counted = open('counted.db')
    const logged = open('logged.db')
    const pruned = open('pruned.db')
    const countedSet = counted.db.prepare(SQL.set)
    const countedLog = counted.db.prepare(SQL.appendChange)
    let revision = 0
    const change = (q, r, i) => [{ revision: q.nextRevision(), type: 'set', group: 'g', key: key(r, i), value: 'value', timestamp: Date.now() }]
    /** A groupstore write: BEGIN, the latest revision read, the upsert, maybe more, the counter written if needed, COMMIT. */
    const write = (s, more) => (r, i) => {
      s.begin.run()
      s.q.openRevisions()
      s.q.set('g', key(r, i), 'value', null)
      more?.(r, i)
      s.q.saveRevisions()
      s.commit.run()
    }
    const DURABLE_N = 200
    const variants = {
      'raw: upsert (autocommit)': (r, i) => raw.set.run('g', key(r, i), 'value', null),
      'raw: BEGIN + upsert + COMMIT': (r, i) => {
        rawTx.begin.run()
        rawTx.set.run('g', key(r, i), 'value', null)
        rawTx.commit.run()
      },
      'raw + the log: … + log INSERT + COMMIT': (r, i) => {
        rawLog.begin.run()
        rawLog.set.run('g', key(r, i), 'value', null)
        rawLog.log.run(++revision, 'set', 'g', key(r, i), 'value', Date.now())
        rawLog.commit.run()
      },
      'store file: the same, revisions counted in JS': (r, i) => {
        counted.begin.run()
        countedSet.run('g', key(r, i), 'value', null, ++revision)
        countedLog.run(revision, 'set', 'g', key(r, i), 'value', Date.now())
        counted.commit.run()
      },
      '… + the latest revision read (logged)': write(logged, (r, i) => logged.q.appendChanges(change(logged.q, r, i))),
      // Every 1,000th write also prunes the 1,000 oldest entries, as groupstore's do.
      '… + a prune of 1,000 every 1,000': write(pruned, (r, i) => {
        pruned.q.appendChanges(change(pruned.q, r, i))
        if ((r * DURABLE_N + i) % 1000 === 999) pruned.q.pruneChanges(Number.MIN_SAFE_INTEGER, 1000, 2000)
      }),
      'no log: … + counter UPDATE (changeLog: false)': write(row),
    }
    const names = Object.keys(variants)
    const times = Object.fromEntries(names.map((k) => [k, []]))
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + r) % names.length]
        const fn = variants[name]
        const start = process.hrtime.bigint()
        for (let i = 0; i < DURABLE_N; i++) fn(r, i)
        times[name].push(Number(process.hrtime.bigint() - start) / DURABLE_N / 1000)
      }
    }
    const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1]
    const base = times['raw: upsert (autocommit)']
    console.log('\none durable sequential write, on a file (statements alone, each write its own commit and fsync; median of the rounds\' ratios)')
    for (const name of names) {
      const ratio = med(times[name].map((t, r) => t / base[r]))
      console.log(`  ${name.padEnd(46)} ${med(times[name]).toFixed(2).padStart(7)} µs  ${ratio.toFixed(2)}×`)
    }
    for (const f of [raw, rawTx, rawLog]) f.db.close()
    for (const s of [row, counted, logged, pruned]) await s.backend.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
