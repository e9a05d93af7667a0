// A throwaway PostgreSQL server for the fault tests: initdb into a temporary
// folder, started on a free loopback port with trust authentication, so that
// its connections can be cut and the server itself stopped and started
// without disturbing any other server on the machine. Run as root, the
// server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The folder holding initdb and pg_ctl: $PG_BIN, `pg_config --bindir`, or the newest /usr/lib/postgresql/N/bin. */
function binDir() {
  const candidates = []
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN)
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    for (const v of versions) candidates.push(join(root, v, 'bin'))
  }
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
  } catch {}
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')))
}

/** A free TCP port on the loopback interface. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0

/** Runs a PostgreSQL program (as `postgres` when we are root); throws with its output on failure. */
function run(bin, program, args, timeoutMs = 60_000) {
  const file = join(bin, program)
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: timeoutMs })
  if (r.error !== undefined || r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ')
    throw new Error(`${program} ${args[0] ?? ''} failed: ${r.error?.message ?? `exit ${r.status}`}: ${output}`)
  }
  return r.stdout
}

/**
 * Makes and starts a server. Answers `{ url, port, stop(mode), start(), destroy() }`,
 * or throws an Error whose message says why it cannot (no PostgreSQL
 * installed, initdb refused): callers skip with that message.
 */
export async function startInstance() {
  const bin = binDir()
  if (bin === undefined) throw new Error('no PostgreSQL server programs (initdb, pg_ctl) found; set PG_BIN to their folder')
  const dir = mkdtempSync(join(tmpdir(), 'groupstore-pg-'))
  const data = join(dir, 'data')
  let destroyed = false
  let running = false
  const destroy = () => {
    if (destroyed) return
    destroyed = true
    process.removeListener('exit', destroy)
    if (running) {
      try {
        run(bin, 'pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w'], 30_000)
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // Never leave a server behind, even when the test process ends early.
  process.on('exit', destroy)
  try {
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
      chownSync(dir, uid, gid)
    }
    run(bin, 'initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'])
  } catch (err) {
    destroy()
    throw err
  }
  const port = await freePort()
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    // Only the server process stops in these tests, never the machine: the
    // page cache keeps what fsync would have written.
    '-c fsync=off',
    '-c max_connections=200',
  ].join(' ')
  const start = () => {
    run(bin, 'pg_ctl', ['start', '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options])
    running = true
  }
  /** `fast` ends connections and shuts down cleanly; `immediate` is a crash (recovery at the next start). */
  const stop = (mode = 'fast') => {
    run(bin, 'pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60'])
    running = false
  }
  try {
    start()
  } catch (err) {
    destroy()
    throw err
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, start, stop, destroy }
}
