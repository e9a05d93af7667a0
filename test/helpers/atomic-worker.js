// A separate OS process for the multi-process tests of conditional writes and
// counters. argv[2] is a JSON task { location, options, kind, count, id },
// with `revision` for kind 'ifRevision' and `maxKeys` for kind 'quota'. The
// worker prints "ready", waits for a line on stdin (so that every worker
// starts at once), runs the task and prints one JSON line.
import { createInterface } from 'node:readline'
import { QuotaExceededError, Store } from 'groupstore'

const task = JSON.parse(process.argv[2])
const store = await Store.open(task.location, { purgeInterval: 0, ...task.options })
const lines = createInterface({ input: process.stdin })
const go = new Promise((resolve) => lines.once('line', resolve))
process.stdout.write('ready\n')
await go
lines.close()

const outcome = { won: [], lost: 0, values: [], refused: 0, errors: [] }
const tally = (r) => {
  if (r === false) outcome.lost++
  else outcome.won.push(r)
}
// Every kind of write that adds a key, each a new key of the namespace.
const tenant = store.scope('quota', { quota: { maxKeys: task.maxKeys ?? 0 } })
const adds = [
  (k) => tenant.set('g', k, 'v'),
  (k) => tenant.increment('g', k),
  (k) => tenant.setMany('g', { [k]: 'v' }),
  (k) => tenant.transaction((tx) => tx.set('g', k, 'v')),
  (k) => tenant.set('g', k, 'v', { ifAbsent: true }),
]
const call = {
  ifAbsent: (i) => store.set('locks', 'one', `${task.id}-${i}`, { ifAbsent: true }).then(tally),
  ifRevision: (i) => store.set('locks', 'rev', `${task.id}-${i}`, { ifRevision: task.revision }).then(tally),
  increment: () => store.increment('counters', 'n').then((v) => outcome.values.push(v)),
  quota: (i) =>
    adds[i % adds.length](`${task.id}-${i}`).then(
      () => outcome.won.push(i),
      (err) => {
        if (err instanceof QuotaExceededError) outcome.refused++
        else throw err
      },
    ),
}[task.kind]
try {
  const calls = Array.from({ length: task.count }, (_, i) => call(i))
  for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') outcome.errors.push(String(r.reason?.message ?? r.reason))
} finally {
  await store.close()
}
process.stdout.write(`${JSON.stringify(outcome)}\n`)
