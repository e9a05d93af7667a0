// The README's two commands, and the demos they and the README name:
// `npm run demo` (the command line on the default embedded file) and
// `npm run demo:serve` (`groupstore serve` with the console's address).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { cleanEnv, tempDir } from './helpers/cli.js'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** The script file a package.json script runs with node, after any build step. */
function scriptOf(name) {
  const match = /(?:^|&& )node (scripts\/[\w-]+\.js)$/.exec(pkg.scripts[name] ?? '')
  assert.ok(match, `npm run ${name} runs ${pkg.scripts[name]}`)
  return match[1]
}

/** Runs `node script ...args` from a fresh folder until it exits. */
function runScript(t, script, args = []) {
  const cwd = tempDir(t, 'groupstore-demo-cwd-')
  const child = spawn(process.execPath, [fileURLToPath(new URL(`../${script}`, import.meta.url)), ...args], { cwd, env: cleanEnv() })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  t.after(() => child.kill('SIGKILL'))
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, cwd, exited, output: () => ({ stdout, stderr }) }
}

describe('the README\'s two commands', () => {
  it('are npm install && npm run demo, then npm test', () => {
    const block = /From a clone of the repository, two commands:\n\n```sh\n([\s\S]*?)```/.exec(readme)
    assert.ok(block, 'the README has no block of two commands')
    const lines = block[1].trimEnd().split('\n').map((line) => line.replace(/\s+#.*$/, ''))
    assert.deepEqual(lines, ['npm install && npm run demo', 'npm test'])
    assert.equal(typeof pkg.scripts.test, 'string')
    assert.match(readme, /`npm run demo:serve`/)
  })

  it('npm run demo runs the command on the default file: set, TTL, list, render, and a watch that sees another process\'s set', { timeout: 60_000 }, async (t) => {
    const demo = runScript(t, scriptOf('demo'))
    const { code, stdout, stderr } = await demo.exited
    assert.equal(code, 0, `${stdout}\n${stderr}`)
    for (const command of ['set config theme dark', 'get config theme', 'set session abc123 user-42 --ttl 30m', 'ttl session abc123', 'list config', 'render config', 'set config theme light', 'export']) {
      assert.ok(stdout.includes(`groupstore ${command}`), `the demo does not show groupstore ${command}`)
    }
    assert.match(stdout, /^29m 5\ds \(\d+ ms\)$/m, 'the TTL left, read moments after the set')
    assert.match(stdout, /^theme\tdark$/m, 'the listed group')
    assert.match(stdout, /^postgres:\/\/db\.internal:5432\/app\?theme=dark$/m, 'the rendered template')
    const seen = /^\[watch\] (\{.*\})$/m.exec(stdout)
    assert.ok(seen, 'the watcher printed no event')
    assert.deepEqual((({ type, group, key, value }) => ({ type, group, key, value }))(JSON.parse(seen[1])), { type: 'set', group: 'config', key: 'theme', value: 'light' })
    assert.match(stdout, /exit code 0/)
    assert.equal(existsSync(`${demo.cwd}/groupstore.db`), false, 'the demo leaves no database where it was run')
  })

  it('npm run demo:serve starts groupstore serve, prints the console\'s address, and stops on SIGTERM', { timeout: 60_000 }, async (t) => {
    const demo = runScript(t, scriptOf('demo:serve'), ['--port', '0'])
    const address = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no address within 20 s: ${JSON.stringify(demo.output())}`)), 20_000)
      demo.child.stdout.on('data', () => {
        const match = /^Open the console: (http:\/\/127\.0\.0\.1:\d+)\/$/m.exec(demo.output().stdout)
        if (match === null) return
        clearTimeout(timer)
        resolve(match[1])
      })
      demo.exited.then(({ code }) => reject(new Error(`exited ${code} first: ${JSON.stringify(demo.output())}`)))
    })
    const page = await fetch(`${address}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type'), /^text\/html/)
    const keys = await fetch(`${address}/v1/groups/config/keys`)
    assert.equal(keys.status, 200)
    assert.ok((await keys.json()).entries.some((e) => e.key === 'theme' && e.value === 'dark'), 'the sample data')
    demo.child.kill('SIGTERM')
    const { code, stdout } = await demo.exited
    assert.equal(code, 0)
    const folder = /on a sample database \((.+)\/demo\.db\)/.exec(stdout)?.[1]
    assert.ok(folder !== undefined && !existsSync(folder), 'the sample database is removed')
  })
})
