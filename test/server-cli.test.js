// `groupstore serve` as a command: its one line on stdout, signals, the
// loopback rule without tokens, and a bad tokens file.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CLI, cleanEnv, run, tempDir } from './helpers/cli.js'
import { openStream, request } from './server/http.js'

/** Starts `groupstore serve …args`; resolves with the child and its address once it prints it. */
function startServe(t, args) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  t.after(() => child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d
      const match = /^listening on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(stdout)
      if (match !== null) resolve({ child, port: Number(match[1]), exited, output: () => ({ stdout, stderr }) })
    })
    exited.then(({ code }) => reject(new Error(`serve exited with ${code}: ${stderr}`)))
  })
}

describe('groupstore serve', () => {
  it('prints one line, listening on http://HOST:PORT, serves, and on SIGTERM ends its streams and exits 0', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'served.db')
    const served = await startServe(t, ['--db', db])
    const server = { port: served.port }
    const put = await request(server, 'PUT', '/v1/groups/g/keys/k', { body: 'v' })
    assert.equal(put.status, 201, put.text)
    const stream = await openStream(server, '/v1/watch')
    const ended = new Promise((resolve) => stream.res.on('close', resolve))
    served.child.kill('SIGTERM')
    await ended
    const { code } = await served.exited
    assert.equal(code, 0)
    const { stdout } = served.output()
    assert.equal(stdout, `listening on http://127.0.0.1:${served.port}\n`)
    // The store was closed properly: the data is there for the next command.
    const got = await run(['--db', db, 'get', 'g', 'k'])
    assert.equal(got.out, 'v')
  })

  it('exits 0 on SIGINT too', async (t) => {
    const served = await startServe(t, ['--db', ':memory:'])
    served.child.kill('SIGINT')
    assert.equal((await served.exited).code, 0)
  })

  it('takes the database as a location argument too, and refuses it given twice', async (t) => {
    const db = join(tempDir(t), 'positional.db')
    const served = await startServe(t, [db])
    const put = await request({ port: served.port }, 'PUT', '/v1/groups/g/keys/k', { body: 'by argument' })
    assert.equal(put.status, 201, put.text)
    served.child.kill('SIGTERM')
    assert.equal((await served.exited).code, 0)
    assert.equal((await run(['--db', db, 'get', 'g', 'k'])).out, 'by argument')
    const twice = await run(['serve', db, '--db', db, '--port', '0'])
    assert.equal(twice.code, 2)
    assert.match(twice.err, /not both/)
  })

  it('without --tokens, refuses a non-loopback host with exit code 2', async (t) => {
    const r = await run(['serve', '--db', ':memory:', '--host', '0.0.0.0', '--port', '0'])
    assert.equal(r.code, 2)
    assert.equal(r.out, '')
    assert.match(r.err, /loopback/)
    void t
  })

  it('a bad tokens file stops it at start with exit code 2, naming the entry', async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'tokens.json')
    writeFileSync(file, JSON.stringify([{ token: 'a', access: 'read' }, { token: 'b', access: 'superuser' }]))
    const r = await run(['serve', '--db', ':memory:', '--port', '0', '--tokens', file])
    assert.equal(r.code, 2)
    assert.equal(r.out, '')
    assert.match(r.err, /entry 2/)
    writeFileSync(file, 'not json')
    assert.equal((await run(['serve', '--db', ':memory:', '--port', '0', '--tokens', file])).code, 2)
    assert.equal((await run(['serve', '--db', ':memory:', '--port', '0', '--tokens', join(dir, 'missing.json')])).code, 2)
  })

  it('with --tokens, asks for a token; --max-body sets the limit', async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'tokens.json')
    writeFileSync(file, JSON.stringify([{ token: 'secret', access: 'write' }]))
    const served = await startServe(t, ['--db', ':memory:', '--tokens', file, '--max-body', '10'])
    const server = { port: served.port }
    assert.equal((await request(server, 'GET', '/v1/groups')).status, 401)
    assert.equal((await request(server, 'PUT', '/v1/groups/g/keys/k', { token: 'secret', body: '0123456789' })).status, 201)
    assert.equal((await request(server, 'PUT', '/v1/groups/g/keys/k', { token: 'secret', body: '0123456789x' })).status, 413)
    served.child.kill('SIGTERM')
    assert.equal((await served.exited).code, 0)
  })
})
