// PostgreSQL faults under load: 4 writer processes (pg-fault-writer.js) and
// 2 watcher processes (pg-fault-watcher.js) on one store while a fault
// injector ends the store's server connections with pg_terminate_backend
// ('terminate'), or stops the server and starts it again ('restart'). The
// server is a throwaway one (pg-instance.js), never a shared one. Afterwards
// the checks of pg-fault-check.js compare what every caller was told with
// what the database holds and what every watcher saw.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { Store } from 'groupstore'
import { checkFaultRun } from './pg-fault-check.js'

const here = (name) => fileURLToPath(new URL(name, import.meta.url))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A child process speaking the ready / JSON-report line protocol. */
function child(file, task) {
  const proc = spawn(process.execPath, [here(file), JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let onReady
  const ready = new Promise((resolve) => {
    onReady = resolve
  })
  proc.stdout.setEncoding('utf8')
  proc.stdout.on('data', (chunk) => {
    out += chunk
    if (out.startsWith('ready\n')) onReady(true)
  })
  proc.stderr.setEncoding('utf8')
  proc.stderr.on('data', (chunk) => {
    err += chunk
  })
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      onReady(false)
      resolve({ code, signal })
    })
  })
  proc.stdin.on('error', () => {})
  return {
    proc,
    ready,
    send: (line) => proc.stdin.writable && proc.stdin.write(`${line}\n`),
    /** The report, or a description of how the process failed to give one within `ms`. */
    async report(ms) {
      let timer
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve('timeout'), ms)
      })
      const r = await Promise.race([exited, timeout])
      clearTimeout(timer)
      if (r === 'timeout') {
        proc.kill('SIGKILL')
        await exited
        return { failed: `${task.role} ${task.id} gave no report within ${ms} ms (hang)`, hang: true }
      }
      const lines = out.trim().split('\n')
      try {
        const report = JSON.parse(lines.at(-1))
        if (r.code !== 0) report.escaped = [...(report.escaped ?? []), `exit code ${r.code}`]
        return report
      } catch {
        return { failed: `${task.role} ${task.id} exited (${r.code ?? r.signal}) without a report: ${err.trim().split('\n').slice(-8).join(' | ')}` }
      }
    },
    kill: () => proc.kill('SIGKILL'),
  }
}

/** An admin connection to the throwaway server, reconnected after a restart. */
function adminOf(url) {
  let client
  return {
    async query(text, values) {
      for (let attempt = 0; ; attempt++) {
        try {
          if (client === undefined) {
            client = new pg.Client({ connectionString: url, application_name: 'faults-admin' })
            client.on('error', () => {})
            await client.connect()
          }
          return await client.query(text, values)
        } catch (err) {
          client?.end().catch(() => {})
          client = undefined
          if (attempt >= 50) throw err
          await sleep(100)
        }
      }
    },
    end: () => client?.end().catch(() => {}),
  }
}

/**
 * Runs one fault scenario on `instance` (from startInstance) and answers the
 * figures and failures of checkFaultRun, plus `faults` (connections ended, or
 * restarts) and `seconds`.
 *
 * options: mode 'terminate' | 'restart'; durationMs (terminate: how long the
 * injector runs); restarts, downMs, gapMs (restart: how many, how long the
 * server stays down, how long the load runs between them); writers (4),
 * watchers (2); busyTimeout (5000); seed.
 */
export async function pgFaults(instance, options) {
  const { mode, seed = 1, writers = 4, watchers = 2, busyTimeout = 5000 } = options
  const schema = `faults_${process.pid}_${randomBytes(4).toString('hex')}`
  const appPrefix = `faults_${randomBytes(3).toString('hex')}`
  const urlOf = (name) => {
    const u = new URL(instance.url)
    u.searchParams.set('application_name', `${appPrefix}_${name}`)
    return u.toString()
  }
  const hangMs = 2 * busyTimeout + 10_000
  const started = Date.now()

  // Every store of the run keeps the whole change log (the default keeps the latest 10,000 entries).
  const setup = await Store.open(instance.url, { schema, purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 100_000_000 } })
  await setup.set('bank', 'a', '1000')
  await setup.set('bank', 'b', '1000')
  await setup.close()

  const admin = adminOf(instance.url)
  const children = []
  let faults = 0
  try {
    const watcherProcs = Array.from({ length: watchers }, (_, i) =>
      child('pg-fault-watcher.js', { role: 'watcher', id: i, url: urlOf(`r${i}`), schema, since: i === 0 ? 0 : 'now', seed: seed * 31 + i, hangMs }),
    )
    children.push(...watcherProcs)
    const writerProcs = Array.from({ length: writers }, (_, i) =>
      child('pg-fault-writer.js', { role: 'writer', id: i, url: urlOf(`w${i}`), schema, seed: seed * 17 + i, busyTimeout, hangMs }),
    )
    children.push(...writerProcs)
    const ready = await Promise.all(children.map((c) => c.ready))
    if (ready.includes(false)) {
      const reports = await Promise.all(children.map((c) => c.report(5000)))
      throw new Error(`a process did not start: ${reports.filter((r) => r.failed).map((r) => r.failed).join('; ')}`)
    }
    for (const w of writerProcs) w.send('go')

    let rng = seed >>> 0
    const random = () => {
      rng = (rng * 1664525 + 1013904223) >>> 0
      return rng / 4294967296
    }
    if (mode === 'terminate') {
      const until = Date.now() + options.durationMs
      while (Date.now() < until) {
        await sleep(100 + random() * 500)
        const r = await admin.query(
          'SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()',
          [`${appPrefix}%`],
        )
        for (const { pid } of r.rows) {
          if (random() < 0.3) continue
          const t = await admin.query('SELECT pg_terminate_backend($1) AS ok', [pid])
          if (t.rows[0]?.ok) faults++
        }
      }
    } else {
      const { restarts = 3, downMs = 5000, gapMs = 3000 } = options
      for (let i = 0; i < restarts; i++) {
        await sleep(gapMs)
        // A clean shutdown, then a crash of the server (recovery at start), in turn.
        instance.stop(i % 2 === 0 ? 'fast' : 'immediate')
        await sleep(downMs)
        instance.start()
        faults++
      }
      await sleep(gapMs)
    }

    for (const w of writerProcs) w.send('finish')
    const writerReports = await Promise.all(writerProcs.map((w) => w.report(hangMs + 60_000)))
    const latest = Number((await admin.query(`SELECT latest FROM "${schema}".kv_revision`)).rows[0]?.latest ?? 0)
    for (const w of watcherProcs) w.send(`until ${latest}`)
    const watcherReports = await Promise.all(watcherProcs.map((w) => w.report(hangMs + 60_000)))

    const rows = (await admin.query(`SELECT grp, key, value FROM "${schema}".kv`)).rows
    const changes = (await admin.query(`SELECT revision, type, grp, key, value FROM "${schema}".kv_changes ORDER BY revision`)).rows
    const result = checkFaultRun({ rows, changes, latest, writerReports, watcherReports })
    return { mode, faults, seconds: (Date.now() - started) / 1000, ...result }
  } finally {
    for (const c of children) c.kill()
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
    await admin.end()
  }
}
