// A watcher process of the PostgreSQL fault runs. argv[2] is a JSON task:
// { url, schema, id, since, seed, hangMs }. It opens one store and watches
// everything from `since` ('now': the revision when it starts), closing and
// resuming with `since` set to the last revision it saw every few hundred
// events, and after any error of the iterator. It prints "ready", and on a
// line "until R" goes on until it has seen revision R, then prints one JSON
// report: every event seen, in the order seen, as [revision, type, group,
// key, value], the errors met, the resumes, and whether it hung.
import { createInterface } from 'node:readline'
import { Store, StoreError } from 'groupstore'

const task = JSON.parse(process.argv[2])
const report = { id: task.id, since: 0, events: [], errors: [], resumes: 0, missed: 0, escaped: [], hang: false }
process.on('unhandledRejection', (err) => report.escaped.push(`unhandled rejection: ${err?.stack ?? err}`))
process.on('uncaughtException', (err) => report.escaped.push(`uncaught exception: ${err?.stack ?? err}`))

let seed = task.seed >>> 0
const random = () => {
  seed = (seed * 1103515245 + 12345) >>> 0
  return seed / 4294967296
}

let until
let controller
const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const m = /^until (\d+)$/.exec(line)
  if (m === null) return
  until = Number(m[1])
  if (last >= until) controller?.abort()
  setTimeout(() => {
    report.hang = last < until
    controller?.abort()
  }, task.hangMs).unref()
})

const store = await Store.open(task.url, { schema: task.schema, poolSize: 2, purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 100_000_000 } })
let last = task.since === 'now' ? await store.revision() : task.since
report.since = last
process.stdout.write('ready\n')

const over = () => until !== undefined && (last >= until || report.hang)
while (!over()) {
  controller = new AbortController()
  const watcher = store.watch('*', '*', { since: last, signal: controller.signal })
  let budget = 100 + Math.floor(random() * 900)
  try {
    for await (const e of watcher) {
      report.events.push([e.revision, e.type, e.group, e.key, e.value ?? null])
      if (e.missed) report.missed += e.missed
      last = e.revision
      if (over() || --budget === 0) break
    }
  } catch (err) {
    report.errors.push(err instanceof StoreError ? err.code : `not a StoreError: ${err?.message ?? err}`)
    watcher.close()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (!over()) report.resumes++
}
lines.close()
await store.close().catch((err) => report.escaped.push(`close: ${err.message}`))
process.stdout.write(`${JSON.stringify(report)}\n`)
