// The statements under the two targets that were hardest to meet, timed
// alone and synchronously (no promise, no JavaScript layer of groupstore):
// what a scoped set with a quota and a durable write with the change log
// cost at the least, given the storage interface, and what the savepoints
// and transactions that they no longer need would add. Figures in
// docs/performance.md.
//
//   node bench/floors.js
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteBackend } from '../dist/backend/sqlite/sqlite-backend.js'
import { SqliteQueries } from '../dist/backend/sqlite/sqlite-queries.js'

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
  const q = new SqliteQueries(db)
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
    const q = new SqliteQueries(db)
    const begin = db.prepare('BEGIN IMMEDIATE')
    const commit = db.prepare('COMMIT')
    const savepoint = db.prepare('SAVEPOINT op')
    const release = db.prepare('RELEASE op')
    const change = (r, i) => [{ type: 'set', group: 'g', key: key(r, i), value: 'v', timestamp: 1 }]
    // Inside one open transaction, as in a batch; committed at the end.
    begin.run()
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
    commit.run()
    await backend.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
