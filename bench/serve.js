// `npm run bench:serve`: groupstore serve over loopback HTTP, as ratios to a
// bare Fastify route returning a constant, measured in the same run:
//   - GET of one key        (target ≥ 0.7× the bare route's requests/s)
//   - PUT, durability normal (target ≥ 0.5×)
//   - 1,000 open SSE watchers while a writer sets 1,000 keys/s: every watcher
//     receives every event, in order, and the server's event loop never
//     stalls more than 50 ms (monitorEventLoopDelay in the server process).
// Two references are measured too: a bare route that only calls store.set,
// for what the store itself allows, and the bare route with its answers held
// to the end of the event-loop turn as the server holds its reads' answers,
// for what GET costs beyond the framework once both send alike. The server runs in a child process; autocannon
// and the watchers run here.
//
// Each round runs GET, PUT and the two references once, with the bare route
// before and after each: a workload's ratio in a round is to the mean of the
// two bare runs around it, and the figure is the median of the rounds'.
//
// Options: --duration S (per HTTP run, default 2), --rounds N (default 5),
// --connections N
// (default 32), --watchers N (default 1000), --events N (default 5000),
// --only http|sse (one half).
import { spawn } from 'node:child_process'
import http from 'node:http'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    watchers: { type: 'string', default: '1000' },
    events: { type: 'string', default: '5000' },
    only: { type: 'string' },
  },
})
const duration = Number(flags.duration)
const rounds = Number(flags.rounds)
const connections = Number(flags.connections)
const watcherCount = Number(flags.watchers)
const events = Number(flags.events)
const TOKEN = 'bench-token'

const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_FLAGS?.split(' ') ?? []), fileURLToPath(new URL('./lib/serve-child.js', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] })
const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
const next = async () => JSON.parse((await answers.next()).value)
const ports = await next()

function cannon(options) {
  return new Promise((resolve, reject) => {
    autocannon({ connections, duration, pipelining: 1, ...options }, (err, result) => (err ? reject(err) : resolve(result)))
  })
}

function check(result, what) {
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${what}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
  return result.requests.average
}

/** The server process's CPU time so far, in µs. */
async function serverCpu() {
  child.stdin.write(`${JSON.stringify({ type: 'cpu' })}\n`)
  return (await next()).cpu
}

const auth = { authorization: `Bearer ${TOKEN}` }
if (flags.only !== 'sse') await httpWorkloads()
if (flags.only !== 'http') await sseWorkload()
child.stdin.end(`${JSON.stringify({ type: 'stop' })}\n`)
await new Promise((resolve) => child.on('close', resolve))

async function httpWorkloads() {
  console.log(`groupstore serve bench: ${connections} connections, ${rounds} rounds of ${duration} s per workload, loopback`)
  let n = 0
  let m = 0
  const workloads = {
    bare: () => cannon({ url: `http://127.0.0.1:${ports.bare}/bare` }),
    bareHeld: () => cannon({ url: `http://127.0.0.1:${ports.bare}/bare-held` }),
    get: () => cannon({ url: `http://127.0.0.1:${ports.server}/v1/groups/bench/keys/one`, headers: auth }),
    put: () =>
      cannon({
        url: `http://127.0.0.1:${ports.server}`,
        requests: [{ method: 'PUT', headers: auth, setupRequest: (req) => ({ ...req, path: `/v1/groups/bench-put/keys/k${n++ % 1000}`, body: `value ${n}` }) }],
      }),
    bareSet: () =>
      cannon({
        url: `http://127.0.0.1:${ports.bare}`,
        requests: [{ method: 'PUT', setupRequest: (req) => ({ ...req, path: `/bare-set/k${m++ % 1000}`, body: `value ${m}` }) }],
      }),
  }
  // Warm-up, then rounds in which the bare route runs before and after every
  // other workload: each of those is divided by the mean of the two bare runs
  // around it, seconds apart, so that a shared machine's changes of speed,
  // which move a whole run by ±25% within a minute, fall on both sides of a ratio.
  await cannon({ url: `http://127.0.0.1:${ports.bare}/bare`, duration: 1 })
  await cannon({ url: `http://127.0.0.1:${ports.server}/v1/groups/bench/keys/one`, headers: auth, duration: 1 })
  const runs = { bare: [], get: [], put: [], bareSet: [], bareHeld: [] }
  const cpu = { bare: [], get: [], put: [], bareSet: [], bareHeld: [] }
  const ratios = { get: [], put: [], bareSet: [], bareHeld: [] }
  const measure = async (name) => {
    const before = await serverCpu()
    const result = await workloads[name]()
    const rps = check(result, name)
    runs[name].push(rps)
    cpu[name].push(((await serverCpu()) - before) / result.requests.total)
    return rps
  }
  let bareBefore = await measure('bare')
  for (let round = 0; round < rounds; round++) {
    for (const name of ['get', 'put', 'bareSet', 'bareHeld']) {
      const rps = await measure(name)
      const bareAfter = await measure('bare')
      ratios[name].push(rps / ((bareBefore + bareAfter) / 2))
      bareBefore = bareAfter
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const ratio = (name) => median(ratios[name])
  const row = (name, label, target) => {
    const r = name === 'bare' ? 1 : ratio(name)
    const verdict = target === undefined ? '' : `  (target ≥ ${target}×: ${r >= target ? 'met' : 'NOT met'})`
    const rounded = (name === 'bare' ? runs[name] : ratios[name]).map((v) => (name === 'bare' ? v.toFixed(0) : `${v.toFixed(2)}×`)).join(', ')
    console.log(`${label.padEnd(36)} ${median(runs[name]).toFixed(0).padStart(8)} req/s  ${r.toFixed(2)}×${verdict}   server CPU ${median(cpu[name]).toFixed(1)} µs/request   ${name === 'bare' ? 'runs' : 'rounds'}: ${rounded}`)
  }
  row('bare', 'bare Fastify route (constant)')
  row('get', 'GET /v1/groups/:g/keys/:k', 0.7)
  row('put', 'PUT /v1/groups/:g/keys/:k (normal)', 0.5)
  row('bareSet', 'reference: bare route + store.set')
  row('bareHeld', 'reference: bare route, answers held')
  console.log(`PUT is ${(median(runs.put) / median(runs.bareSet)).toFixed(2)}× a bare route that only calls store.set (the store's commit rate bounds both)`)
  console.log(`GET is ${(ratio('get') / ratio('bareHeld')).toFixed(2)}× the bare route whose answers are held to the turn's end as GET's are`)
}

// ---- SSE fan-out --------------------------------------------------------

/** Opens one watcher; answers its state, updated as events arrive. */
function openWatcher() {
  return new Promise((resolve, reject) => {
    const w = { count: 0, last: 0, ordered: true, first: undefined }
    const req = http.get({ host: '127.0.0.1', port: ports.server, path: '/v1/watch?group=bench-sse', headers: auth, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`watch answered ${res.statusCode}`))
      let tail = ''
      res.setEncoding('latin1')
      res.on('data', (chunk) => {
        // Whole lines only; the rest waits for the next chunk.
        const text = tail + chunk
        const end = text.lastIndexOf('\n') + 1
        tail = text.slice(end)
        let i = text.indexOf('id: ')
        while (i !== -1 && i < end) {
          const id = Number(text.slice(i + 4, text.indexOf('\n', i)))
          if (w.first === undefined) w.first = id
          else if (id !== w.last + 1) w.ordered = false
          w.last = id
          w.count++
          i = text.indexOf('id: ', i + 4)
        }
      })
      resolve(w)
    })
    w.close = () => req.destroy()
    req.on('error', reject)
  })
}

async function sseWorkload() {
  const watchers = []
  for (let i = 0; i < watcherCount; i += 50) {
    watchers.push(...(await Promise.all(Array.from({ length: Math.min(50, watcherCount - i) }, openWatcher))))
  }
  child.stdin.write(`${JSON.stringify({ type: 'write', total: events, rate: 1000 })}\n`)
  const written = await next()
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && watchers.some((w) => w.count < events)) await new Promise((resolve) => setTimeout(resolve, 50))
  const complete = watchers.filter((w) => w.count === events && w.first === written.first && w.last === written.last && w.ordered).length
  console.log(
    `SSE: ${watcherCount} watchers, ${events} sets at ${(events / written.seconds).toFixed(0)}/s: ` +
      `${complete}/${watcherCount} received every event in order (target: all: ${complete === watcherCount ? 'met' : 'NOT met'}); ` +
      `server CPU ${(written.cpuShare * 100).toFixed(0)}% of a core, event loop max delay ${written.maxDelayMs.toFixed(1)} ms, p99 ${written.p99DelayMs.toFixed(1)} ms (target ≤ 50 ms: ${written.maxDelayMs <= 50 ? 'met' : 'NOT met'})`,
  )
  for (const w of watchers) w.close()
}
