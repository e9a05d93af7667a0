// A separate OS process for the multi-process tests of conditional writes and
// counters. argv[2] is a JSON task { location, options, kind, count, id }. The
// worker prints "ready", waits for a line on stdin (so that every worker
// starts at once), runs the task and prints one JSON line.
import { createInterface } from 'node:readline'
import { Store } from 'groupstore'

const task = JSON.parse(process.argv[2])
const store = await Store.open(task.location, { purgeInterval: 0, ...task.options })
const lines = createInterface({ input: process.stdin })
const go = new Promise((resolve) => lines.once('line', resolve))
process.stdout.write('ready\n')
await go
lines.close()

const outcome = { won: [], lost: 0, values: [], errors: [] }
try {
  const calls = Array.from({ length: task.count }, (_, i) =>
    task.kind === 'ifAbsent'
      ? store.set('locks', 'one', `${task.id}-${i}`, { ifAbsent: true }).then((r) => {
          if (r === false) outcome.lost++
          else outcome.won.push(r)
        })
      : store.increment('counters', 'n').then((v) => {
          outcome.values.push(v)
        }),
  )
  for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') outcome.errors.push(String(r.reason?.message ?? r.reason))
} finally {
  await store.close()
}
process.stdout.write(`${JSON.stringify(outcome)}\n`)
