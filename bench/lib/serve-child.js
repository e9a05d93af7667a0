// The server side of bench/serve.js, in its own process so that the load
// generator does not share its event loop: the groupstore server on an SQLite
// file (durability 'normal') and, on another port, a bare Fastify route
// returning a constant. Commands arrive as JSON lines on stdin; answers go
// to stdout as JSON lines.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import Fastify from 'fastify'
import { Store } from '../../dist/index.js'
import { buildServer } from '../../dist/server/app.js'
import { TokenTable } from '../../dist/server/tokens.js'
import { TurnBatch } from '../../dist/server/turn-batch.js'

export const TOKEN = 'bench-token'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-bench-serve-'))
const store = await Store.open(join(dir, 'bench.db'), { durability: 'normal' })
await store.set('bench', 'one', 'a value of moderate length, as a configuration entry might hold')
const app = buildServer(store, { tokens: new TokenTable([{ token: TOKEN, access: 'write' }]) })
await app.listen({ host: '127.0.0.1', port: 0 })
const bare = Fastify({ logger: false })
bare.get('/bare', async () => ({ ok: true }))
// A reference for GET: the bare route, its answers held to the end of the turn as the server holds its reads' answers.
const held = new TurnBatch()
bare.get('/bare-held', { onSend: (_request, _reply, payload, done) => held.defer(() => done(null, payload)) }, async () => ({ ok: true }))
// A reference for PUT: the bare framework calling store.set alone, with no server of ours around it.
bare.removeAllContentTypeParsers()
bare.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
bare.put('/bare-set/:key', async (request) => ({ revision: await store.set('bench-bare', request.params.key, request.body.toString()) }))
await bare.listen({ host: '127.0.0.1', port: 0 })

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`)
send({ ready: true, server: app.server.address().port, bare: bare.server.address().port })

const delay = monitorEventLoopDelay({ resolution: 1 })

/** Writes `total` sets to group `bench-sse` at `rate` per second; answers the revisions of the first and last. */
async function writer(total, rate) {
  delay.reset()
  delay.enable()
  const tick = 10
  const perTick = Math.max(1, Math.round((rate * tick) / 1000))
  let written = 0
  const started = performance.now()
  const cpu = process.cpuUsage()
  await new Promise((resolve, reject) => {
    const step = async () => {
      try {
        // Catch up with the schedule, so that timer drift does not lower the rate.
        const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + perTick)
        while (written < due) {
          const i = written++
          await store.set('bench-sse', `k${i % 100}`, String(i))
        }
        if (written >= total) return resolve()
        setTimeout(step, tick)
      } catch (err) {
        reject(err)
      }
    }
    step()
  })
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  delay.disable()
  const first = (await store.revision()) - total + 1
  const last = first + total - 1
  const cpuShare = (used.user + used.system) / 1e6 / seconds
  return { first, last, seconds, cpuShare, maxDelayMs: delay.max / 1e6, p99DelayMs: delay.percentile(99) / 1e6 }
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  if (command.type === 'write') send(await writer(command.total, command.rate))
  // CPU time used by this process (µs), to turn a workload's requests into CPU per request.
  if (command.type === 'cpu') {
    const used = process.cpuUsage()
    send({ cpu: used.user + used.system })
  }
  if (command.type === 'stop') break
}
await app.close()
await bare.close()
await store.close()
rmSync(dir, { recursive: true, force: true })
