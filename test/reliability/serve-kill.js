// `groupstore serve` killed under HTTP load: each round starts the server on
// one database file (durability 'full', the default), sends PUTs of unique
// keys and increments of one counter from several clients at once, keeps an
// event stream open, and SIGKILLs the server at a random moment (in one round
// in ten while it starts). The stream reconnects each round with
// Last-Event-ID. Afterwards every PUT that got a 2xx must be in the file with
// its value and applied once, the counter must lie between its acknowledged
// increments and those plus the ones whose answer was lost, and the stream
// must have carried every revision once, in order, as the change log holds it.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { within } from './within.js'

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts `groupstore serve` on `file`; answers { proc, exited, listening } (listening: the base URL, or undefined if it exited first). */
function startServer(file) {
  const proc = spawn(process.execPath, [cli, 'serve', '--db', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  proc.stderr.setEncoding('utf8')
  proc.stderr.on('data', (chunk) => {
    err += chunk
  })
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, stderr: err })))
  const listening = new Promise((resolve) => {
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', (chunk) => {
      out += chunk
      const m = /listening on (http:\/\/[^\s]+)/.exec(out)
      if (m !== null) resolve(m[1])
    })
    exited.then(() => resolve(undefined))
  })
  return { proc, exited, listening }
}

/** An event stream that resumes with Last-Event-ID each time it is opened, keeping every event it receives. */
function eventStream() {
  const seen = []
  let lastId
  let current
  return {
    seen,
    get lastId() {
      return lastId
    },
    /** Opens the stream on `base`; the promise settles when the stream ends (the server died, or close()). */
    open(base) {
      const controller = new AbortController()
      const headers = lastId === undefined ? {} : { 'last-event-id': String(lastId) }
      const url = `${base}/v1/watch${lastId === undefined ? '?since=0' : ''}`
      const done = (async () => {
        try {
          const res = await fetch(url, { headers, signal: controller.signal })
          if (res.status !== 200) return `status ${res.status}`
          const decoder = new TextDecoder()
          let text = ''
          for await (const chunk of res.body) {
            text += decoder.decode(chunk, { stream: true })
            let end
            while ((end = text.indexOf('\n\n')) >= 0) {
              const block = text.slice(0, end)
              text = text.slice(end + 2)
              const id = /^id: (\d+)$/m.exec(block)
              const data = /^data: (.*)$/m.exec(block)
              if (id === null || data === null) continue
              const e = JSON.parse(data[1])
              seen.push([Number(id[1]), e.type, e.group, e.key, e.value ?? null])
              lastId = Number(id[1])
            }
          }
          return 'ended'
        } catch {
          return 'cut'
        }
      })()
      current = { controller, done }
      return done
    },
    close() {
      current?.controller.abort()
      return current?.done
    },
  }
}

/**
 * Runs `rounds` kill rounds on `dir`/serve.db, then one round that ends with
 * SIGTERM, and checks. Answers { stats, failures }.
 */
export async function serveKillRounds({ dir, rounds, seed = 1, clients = 6, maxDelay = 400, onRound }) {
  const file = join(dir, 'serve.db')
  let rng = seed >>> 0
  const random = () => {
    rng = (rng * 1664525 + 1013904223) >>> 0
    return rng / 4294967296
  }
  const failures = []
  const fail = (s) => {
    if (failures.length < 200) failures.push(s)
  }
  const stats = { rounds: 0, killedWhileStarting: 0, acknowledged: 0, puts: 0, increments: 0, unanswered: 0, lost: 0, duplicated: 0, hangs: 0, streamEvents: 0, streamGaps: 0, streamDuplicates: 0 }
  const acked = []
  const counter = { ack: 0, unknown: 0 }
  const stream = eventStream()

  for (let round = 0; round < rounds; round++) {
    const server = startServer(file)
    if (random() < 0.1) {
      // A kill while the process starts and opens (maybe creates) the file.
      await sleep(random() * 300)
      server.proc.kill('SIGKILL')
      await server.exited
      stats.killedWhileStarting++
      stats.rounds++
      onRound?.({ round, acknowledged: stats.acknowledged })
      continue
    }
    const base = await within(server.listening, 30_000, 'timeout')
    if (base === 'timeout' || base === undefined) {
      server.proc.kill('SIGKILL')
      const { stderr } = await server.exited
      if (base === 'timeout') stats.hangs++
      fail(`round ${round}: the server ${base === 'timeout' ? 'did not listen within 30 s' : 'exited before listening'}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
      continue
    }
    const streamed = stream.open(base)
    let stop = false
    const load = Array.from({ length: clients }, async (_, c) => {
      for (let n = 0; !stop; n++) {
        const increment = random() < 0.2
        const g = `c${c}`
        const k = `r${round}-${n}`
        const v = `v${round}.${c}.${n}.${Math.floor(random() * 1e9)}`
        try {
          const res = increment
            ? await fetch(`${base}/v1/groups/counter/keys/c/increment`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
            : await fetch(`${base}/v1/groups/${g}/keys/${k}`, { method: 'PUT', body: v })
          await res.arrayBuffer()
          if (res.status < 200 || res.status > 299) {
            fail(`round ${round}: ${increment ? 'increment' : `PUT ${g}/${k}`} answered ${res.status}`)
            continue
          }
          stats.acknowledged++
          if (increment) {
            counter.ack++
            stats.increments++
          } else {
            acked.push([g, k, v])
            stats.puts++
          }
        } catch {
          // No answer: the server died with the request in flight (or before it).
          stats.unanswered++
          if (increment) counter.unknown++
          return
        }
      }
    })
    await sleep(random() * maxDelay)
    server.proc.kill('SIGKILL')
    await server.exited
    stop = true
    await Promise.all(load)
    await streamed
    stats.rounds++
    onRound?.({ round, acknowledged: stats.acknowledged })
  }

  // A last start: the stream resumes once more and must reach the log's end; then a clean stop.
  const server = startServer(file)
  const base = await within(server.listening, 30_000, undefined)
  if (base === undefined) {
    server.proc.kill('SIGKILL')
    fail('the final start did not listen')
  } else {
    const db = new Database(file, { readonly: true })
    const latest = db.prepare('SELECT coalesce(max(revision), 0) AS r FROM kv_changes').get().r
    db.close()
    const streamed = stream.open(base)
    for (let i = 0; i < 300 && (stream.lastId ?? 0) < latest; i++) await sleep(50)
    if ((stream.lastId ?? 0) < latest) {
      stats.hangs++
      fail(`the stream did not reach revision ${latest} (at ${stream.lastId})`)
    }
    await stream.close()
    await streamed
    server.proc.kill('SIGTERM')
    const exit = await within(server.exited, 15_000, undefined)
    if (exit === undefined) {
      server.proc.kill('SIGKILL')
      stats.hangs++
      fail('the server did not stop within 15 s of SIGTERM')
    } else if (exit.code !== 0) fail(`the server stopped with ${exit.code ?? exit.signal}`)
  }

  // The file: integrity, every acknowledged PUT once, the counter within its bounds.
  const db = new Database(file, { readonly: true })
  const integrity = db.prepare('PRAGMA integrity_check').pluck().get()
  if (integrity !== 'ok') fail(`integrity_check: ${integrity}`)
  const changes = db.prepare('SELECT revision, type, grp, key, value FROM kv_changes ORDER BY revision').all()
  db.close()
  const logged = new Map()
  for (const c of changes) logged.set(`${c.grp}\0${c.key}`, (logged.get(`${c.grp}\0${c.key}`) ?? 0) + 1)
  const store = await Store.open(file)
  try {
    for (const [g, k, v] of acked) {
      const found = await store.get(g, k)
      if (found !== v) {
        stats.lost++
        fail(`PUT ${g}/${k} answered 2xx but the key ${found === undefined ? 'is missing' : `holds ${found}`}`)
      }
      if ((logged.get(`${g}\0${k}`) ?? 0) > 1) {
        stats.duplicated++
        fail(`PUT ${g}/${k} applied ${logged.get(`${g}\0${k}`)} times`)
      }
    }
    const count = Number((await store.get('counter', 'c')) ?? 0)
    if (count < counter.ack) {
      stats.lost += counter.ack - count
      fail(`counter ${count} below its ${counter.ack} acknowledged increments`)
    }
    if (count > counter.ack + counter.unknown) {
      stats.duplicated += count - counter.ack - counter.unknown
      fail(`counter ${count} above ${counter.ack} acknowledged + ${counter.unknown} unanswered increments`)
    }
    stats.counter = count
  } finally {
    await store.close()
  }

  // The stream: every revision once, in order, with the log's content where the log still holds it
  // (the server keeps the default retention, the latest 10,000 entries).
  stats.streamEvents = stream.seen.length
  const byRevision = new Map(changes.map((c) => [c.revision, c]))
  const oldest = changes[0]?.revision ?? 1
  const latest = changes.at(-1)?.revision ?? 0
  let expected = 1
  for (const [revision, type, group, key, value] of stream.seen) {
    if (revision < expected) {
      stats.streamDuplicates++
      fail(`the stream carried revision ${revision} again`)
      continue
    }
    if (revision > expected) {
      stats.streamGaps += revision - expected
      fail(`the stream skipped revisions ${expected} to ${revision - 1}`)
    }
    const c = byRevision.get(revision)
    if (revision < oldest) {
      expected = revision + 1
      continue
    }
    if (c === undefined || c.type !== type || c.grp !== group || c.key !== key || (c.value ?? null) !== value) {
      fail(`the stream's revision ${revision} is ${type} ${group}/${key}, the log's ${c?.type} ${c?.grp}/${c?.key}`)
    }
    expected = revision + 1
  }
  if (expected !== latest + 1) fail(`the stream ended at revision ${expected - 1}, the log at ${latest}`)
  stats.revisions = latest
  return { stats, failures }
}
