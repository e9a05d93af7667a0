// Runs the built `groupstore` command as a child process, the way a shell does.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The built entry point, as the package's `bin` names it. */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

/** A fresh folder, removed after the test. */
export function tempDir(t, name = 'groupstore-cli-') {
  const dir = mkdtempSync(join(tmpdir(), name))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The environment of the test process without GROUPSTORE_DB, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra }
  if (!('GROUPSTORE_DB' in extra)) delete env.GROUPSTORE_DB
  return env
}

/**
 * Runs `groupstore ...args`; `input` (string or Buffer) is written to its
 * stdin, which is then closed. Resolves with the exit code, stdout as bytes
 * and text, and stderr as text.
 *
 * `nodeArgs` go to node before the script (`--import` of a preload).
 *
 * @param {string[]} args
 * @param {{ input?: string | Buffer, cwd?: string, env?: Record<string, string>, nodeArgs?: string[] }} [options]
 */
export function run(args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out = []
    const err = []
    child.stdout.on('data', (c) => out.push(c))
    child.stderr.on('data', (c) => err.push(c))
    child.on('error', reject)
    child.stdin.on('error', () => {}) // the command may exit before reading all of it
    child.stdin.end(options.input ?? '')
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out)
      resolve({ code, signal, stdout, out: stdout.toString('utf8'), err: Buffer.concat(err).toString('utf8') })
    })
  })
}

/** Runs `groupstore --db db ...args` and fails unless it exits 0; answers stdout as text. */
export async function ok(db, args, options) {
  const r = await run(['--db', db, ...args], options)
  if (r.code !== 0) throw new Error(`groupstore ${args.join(' ')} exited ${r.code}: ${r.err}`)
  return r.out
}

/**
 * Starts `groupstore ...args` (a long-running command such as watch) and
 * resolves once its stderr contains `ready`. `next()` answers the next line
 * of stdout; `exit` resolves with the exit code and signal.
 */
export function start(args, ready, options = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let buffered = ''
  const lines = []
  const waiting = []
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (text) => {
    buffered += text
    let i
    while ((i = buffered.indexOf('\n')) !== -1) {
      lines.push(buffered.slice(0, i))
      buffered = buffered.slice(i + 1)
    }
    while (lines.length > 0 && waiting.length > 0) waiting.shift().resolve(lines.shift())
  })
  const exit = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      for (const w of waiting.splice(0)) w.reject(new Error(`exited (${code ?? signal}) before the next line; stderr: ${stderr}`))
      resolve({ code, signal, stderr })
    })
  })
  const started = new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (text) => {
      stderr += text
      if (stderr.includes(ready)) resolve()
    })
    child.on('close', (code) => reject(new Error(`exited ${code} before it was ready; stderr: ${stderr}`)))
  })
  const next = () =>
    lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  return { child, started, next, exit, stderr: () => stderr }
}
