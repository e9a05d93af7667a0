// A separate OS process for the multi-process PostgreSQL tests. argv[2] is a
// JSON task. The worker prints "ready", waits for a line on stdin (so that
// every worker starts at once), runs the task and prints one JSON line.
import { createInterface } from 'node:readline'
import { Store } from 'groupstore'

const task = JSON.parse(process.argv[2])
const lines = createInterface({ input: process.stdin })
const go = new Promise((resolve) => lines.once('line', resolve))
process.stdout.write('ready\n')
await go
lines.close()

const outcome = { ok: 0, quota: 0, other: [] }
const store = await Store.open(task.url, { schema: task.schema, table: task.table, poolSize: task.poolSize ?? 4 })
try {
  if (task.kind === 'write') {
    for (let i = 0; i < task.count; i++) await store.set('child', `k${i}`, `v${i}\0`)
    outcome.ok = task.count
  } else if (task.kind === 'open') {
    await store.set('opened', `worker-${task.id}`, 'yes')
    outcome.ok = 1
  } else if (task.kind === 'quota') {
    const tenant = store.scope('tenant', { quota: task.quota })
    const writes = Array.from({ length: task.writers }, (_, i) =>
      tenant.set(task.sameGroup ? 'g' : `g-${task.id}-${i}`, `k-${task.id}-${i}`, 'v'),
    )
    for (const result of await Promise.allSettled(writes)) {
      if (result.status === 'fulfilled') outcome.ok++
      else if (result.reason?.code === 'ERR_QUOTA_EXCEEDED') outcome.quota++
      else outcome.other.push(String(result.reason?.message ?? result.reason))
    }
  }
} finally {
  await store.close()
}
process.stdout.write(`${JSON.stringify(outcome)}\n`)
