// `groupstore serve` as a command: its one line on stdout, signals, the
// loopback rule without tokens, and a bad tokens file.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Store } from 'groupstore'
import { CLI, cleanEnv, run, tempDir } from './helpers/cli.js'
import { dropSchema, unavailable, unique, url, withSearchPath } from './postgres/server.js'
import { openStream, request, until } from './server/http.js'

const pgSkip = await unavailable()

/** Starts `groupstore serve …args`; resolves with the child and its address once it prints it. */
function startServe(t, args, host = '127.0.0.1') {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  t.after(() => child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d
      const match = new RegExp(`^listening on http://${host.replace(/[.[\]]/g, '\\$&')}:(\\d+)\n`).exec(stdout)
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

  it('without --tokens, refuses a non-loopback host with exit code 2', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
      const r = await run(['serve', '--db', ':memory:', '--host', host, '--port', '0'])
      assert.equal(r.code, 2, host)
      assert.equal(r.out, '')
      assert.match(r.err, /loopback/)
    }
  })

  it('without --tokens, listens on the IPv6 loopback, printing the address as a URL gives it', async (t) => {
    const served = await startServe(t, ['--db', ':memory:', '--host', '::1'], '[::1]')
    const res = await new Promise((resolve, reject) =>
      http.get({ host: '::1', port: served.port, path: '/healthz' }, (r) => {
        r.resume()
        r.on('end', () => resolve(r.statusCode))
      }).on('error', reject),
    )
    assert.equal(res, 200)
    served.child.kill('SIGTERM')
    assert.equal((await served.exited).code, 0)
  })

  it('a bad --port or --max-body is a usage error (exit 2), before anything listens', async () => {
    for (const args of [['--port', '65536'], ['--port', 'http'], ['--port', '-1'], ['--max-body', '0'], ['--max-body', '1.5'], ['--max-body', 'big']]) {
      const r = await run(['serve', '--db', ':memory:', ...args])
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.out, '')
      assert.match(r.err, new RegExp(args[0]))
    }
  })

  it('defaults to 127.0.0.1, port 8080, no tokens and a 1 MiB body limit', async () => {
    const { buildProgram } = await import('../dist/cli/program.js')
    const serve = buildProgram(() => {}).commands.find((c) => c.name() === 'serve')
    const defaults = Object.fromEntries(serve.options.map((o) => [o.long, o.defaultValue]))
    assert.deepEqual(defaults, { '--host': '127.0.0.1', '--port': 8080, '--tokens': undefined, '--max-body': 1024 * 1024 })
  })

  it('on SIGTERM, it stops accepting, answers a request in flight, refuses a later one with 503, and exits 0', async (t) => {
    const db = join(tempDir(t), 'inflight.db')
    const served = await startServe(t, ['--db', db])
    const socket = net.connect(served.port, '127.0.0.1')
    t.after(() => socket.destroy())
    let answer = ''
    let closed = false
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (d) => (answer += d))
    const ended = new Promise((resolve) => socket.on('close', resolve)).then(() => (closed = true))
    /** Waits for `text` from the server; fails if the connection closes first. */
    const received = async (text) => {
      while (!answer.includes(text)) {
        if (closed) assert.fail(`the server closed the connection before answering ${JSON.stringify(text)}: ${JSON.stringify(answer)}`)
        await Promise.race([new Promise((resolve) => socket.once('data', resolve)), ended])
      }
    }
    // The server answers 100 Continue once it has the request's head: the request is in flight.
    socket.write('PUT /v1/groups/g/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n')
    await received('100 Continue')
    served.child.kill('SIGTERM')
    const refused = () =>
      new Promise((resolve) => {
        const probe = net.connect(served.port, '127.0.0.1', () => {
          probe.destroy()
          resolve(false)
        })
        probe.on('error', (err) => resolve(err.code === 'ECONNREFUSED'))
      })
    await until('new connections to be refused', refused)
    // The body of the request in flight, then another request on the same connection.
    socket.write('in flighGET /v1/groups/g/keys/k HTTP/1.1\r\nHost: x\r\n\r\n')
    // The server closes the connection after the second answer.
    await ended
    const [first, second] = answer.split(/(?=HTTP\/1\.1 (?!100))/).slice(1)
    assert.match(first, /^HTTP\/1\.1 201 /)
    assert.match(second, /^HTTP\/1\.1 503 /)
    assert.match(second, /\r\ncontent-type: application\/problem\+json/i)
    assert.match(second, /\r\nretry-after: \d+\r\n/i)
    assert.equal(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)).code, 'ERR_UNAVAILABLE')
    assert.equal((await served.exited).code, 0)
    assert.equal((await run(['--db', db, 'get', 'g', 'k'])).out, 'in fligh')
  })

  it('on SIGTERM, the kept-alive connection of a request in flight is closed once answered, and it exits then, not after its grace', async (t) => {
    const served = await startServe(t, ['--db', ':memory:'])
    const socket = net.connect(served.port, '127.0.0.1')
    t.after(() => socket.destroy())
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (d) => (answer += d))
    const closed = new Promise((resolve) => socket.on('close', resolve))
    socket.write('PUT /v1/groups/g/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n')
    await until('the request to be in flight', () => answer.includes('100 Continue'))
    served.child.kill('SIGTERM')
    await until('the stop to begin', () => served.output().stderr.includes('stopping'))
    socket.write('ok')
    await until('the answer', () => /HTTP\/1\.1 201 /.test(answer))
    const answered = Date.now()
    await closed
    assert.equal((await served.exited).code, 0)
    // The grace for requests in flight is 3 s: the server did not wait for it.
    assert.ok(Date.now() - answered < 2000, `exited ${Date.now() - answered} ms after its last answer`)
  })

  it('serves a PostgreSQL database given as postgres://…, and on SIGTERM ends its streams and exits 0', { skip: pgSkip }, async (t) => {
    const schema = unique('groupstore_serve_cli')
    t.after(() => dropSchema(schema))
    const location = withSearchPath(url, schema)
    const served = await startServe(t, [location])
    const stream = await openStream({ port: served.port }, '/v1/watch')
    const ended = new Promise((resolve) => stream.res.on('close', resolve))
    const put = await request({ port: served.port }, 'PUT', '/v1/groups/g/keys/k', { body: 'on postgres' })
    assert.equal(put.status, 201, put.text)
    assert.equal((await stream.next()).data.value, 'on postgres')
    served.child.kill('SIGTERM')
    await ended
    assert.equal((await served.exited).code, 0)
    const store = await Store.open(location)
    try {
      assert.deepEqual(await store.getEntry('g', 'k'), { value: 'on postgres', revision: put.json.revision, expiresAt: null })
    } finally {
      await store.close()
    }
  })

  it('never writes the password of a postgres:// location to its output', { skip: pgSkip }, async (t) => {
    const schema = unique('groupstore_serve_password')
    t.after(() => dropSchema(schema))
    const location = new URL(withSearchPath(url, schema))
    // The test server trusts local connections: any password is taken.
    if (location.password === '') location.password = 'not-to-be-shown'
    const served = await startServe(t, [location.href])
    served.child.kill('SIGTERM')
    assert.equal((await served.exited).code, 0)
    const { stdout, stderr } = served.output()
    assert.match(stderr, /groupstore serve: postgres:\/\/[^:]+:\*\*\*@/)
    assert.ok(!`${stdout}${stderr}`.includes(location.password), stderr)
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
    const digest = createHash('sha256').update('a').digest('hex')
    for (const [entries, entry] of [
      [[{ token: 'a', access: 'read' }, { token: 'a', access: 'write' }], 2],
      [[{ token: 'a', access: 'read' }, { sha256: digest, access: 'write' }], 2],
      [[{ token: 'a', access: 'read' }, { token: 'b', access: 'read', scope: 'no:colons' }], 2],
      [[{ token: 'a', access: 'read', scope: '' }], 1],
    ]) {
      writeFileSync(file, JSON.stringify(entries))
      // The file is checked before the host: it stops a server that would have listened anywhere.
      const r = await run(['serve', '--db', ':memory:', '--port', '0', '--host', '0.0.0.0', '--tokens', file])
      assert.equal(r.code, 2, JSON.stringify(entries))
      assert.equal(r.out, '')
      assert.match(r.err, new RegExp(`entry ${entry}\\b`), r.err)
    }
  })

  it('with --tokens, listens on a non-loopback address; without, on localhost', async (t) => {
    const file = join(tempDir(t), 'tokens.json')
    writeFileSync(file, JSON.stringify([{ token: 'secret', access: 'read' }]))
    const open = await startServe(t, ['--db', ':memory:', '--host', '0.0.0.0', '--tokens', file], '0.0.0.0')
    assert.equal((await request({ port: open.port }, 'GET', '/v1/groups')).status, 401)
    assert.equal((await request({ port: open.port }, 'GET', '/v1/groups', { token: 'secret' })).status, 200)
    open.child.kill('SIGTERM')
    assert.equal((await open.exited).code, 0)
    const local = await startServe(t, ['--db', ':memory:', '--host', 'localhost'], 'localhost')
    local.child.kill('SIGTERM')
    assert.equal((await local.exited).code, 0)
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

  it('a client still sending a body far over the limit reads its 413, by Content-Length or chunked, and is not reset', async (t) => {
    // Another process, and far more than the sockets' buffers hold: the client is still writing when the 413 comes.
    const served = await startServe(t, ['--db', ':memory:', '--max-body', '100'])
    const base = `http://127.0.0.1:${served.port}`
    const big = Buffer.alloc(16 * 1024 * 1024, 'x')
    const agent = new http.Agent({ keepAlive: true })
    t.after(() => agent.destroy())
    for (let i = 0; i < 6; i++) {
      const announced = await request({ port: served.port, agent }, 'PUT', '/v1/groups/g/keys/k', { body: big })
      assert.equal(announced.status, 413)
      assert.equal(announced.json.code, 'ERR_TOO_LARGE')
      assert.equal(announced.headers.connection, 'close')
      const fetched = await fetch(`${base}/v1/groups/g/keys/k`, { method: 'PUT', body: big })
      assert.equal(fetched.status, 413)
      assert.equal((await fetched.json()).code, 'ERR_TOO_LARGE')
      const chunked = await fetch(`${base}/v1/groups/g/keys/k`, { method: 'PUT', body: new Blob([big]).stream(), duplex: 'half' })
      assert.equal(chunked.status, 413)
      assert.equal((await chunked.json()).code, 'ERR_TOO_LARGE')
    }
    assert.equal((await request({ port: served.port }, 'GET', '/v1/groups/g/keys/k')).status, 404)
    served.child.kill('SIGTERM')
    assert.equal((await served.exited).code, 0)
  })
})
