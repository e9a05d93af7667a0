// Security of `groupstore serve`: tokens and access, tenant isolation (a
// property test), the tokens file, and limits that keep one client from
// exhausting the server.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { Store } from 'groupstore'
import { EventStreams } from '../dist/server/sse.js'
import { TokenTable, TokensFileError } from '../dist/server/tokens.js'
import { FEED_READY } from '../dist/store.js'
import { tempDir } from './helpers/cli.js'
import { keyPath, openStream, request, seg, serve, until } from './server/http.js'
import { assertProblem } from './server/suite.js'

const sha256 = (text) => createHash('sha256').update(text).digest('hex')

const TOKENS = [
  { token: 'admin-secret', access: 'admin' },
  { token: 'reader-secret', access: 'read' },
  { token: 'writer-secret', access: 'write' },
  { sha256: sha256('hashed-secret'), access: 'write' },
  { token: 'tenant-a-write', scope: 'tenant-a', access: 'write' },
  { token: 'tenant-a-read', scope: 'tenant-a', access: 'read' },
  { token: 'tenant-q', scope: 'tenant-q', access: 'write', quota: { maxKeys: 2 } },
]

async function setup(t, options = {}) {
  const store = await Store.open()
  const server = await serve(store, { tokens: TOKENS, ...options })
  t.after(async () => {
    await server.close()
    await store.close()
  })
  return { store, server }
}

describe('tokens and access', () => {
  it('no token, an unknown one or another scheme is 401 on every route but /healthz, before any 404 or 405', async (t) => {
    const { server } = await setup(t)
    for (const [method, path] of [
      ['GET', '/v1/groups'],
      ['GET', keyPath('g', 'k')],
      ['PUT', keyPath('g', 'k')],
      ['GET', '/v1/watch'],
      ['GET', '/nope'],
      ['GET', '/v1/groups/g/keys/k/extra'],
      ['PATCH', '/v1/groups'],
      ['GET', '/v1/groups/%E0%A4'],
    ]) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer admin-secre' }, { authorization: 'Basic YWRtaW4tc2VjcmV0' }, { authorization: 'admin-secret' }]) {
        assertProblem(await request(server, method, path, { headers, body: method === 'PUT' ? 'v' : undefined }), 401, 'ERR_UNAUTHORIZED')
      }
    }
    assert.equal((await request(server, 'GET', '/healthz')).status, 200)
    assertProblem(await request(server, 'GET', '/nope', { token: 'admin-secret' }), 404, 'ERR_NOT_FOUND')
  })

  it('a 401 names the scheme it wants: WWW-Authenticate: Bearer', async (t) => {
    const { server } = await setup(t)
    for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
      const res = await request(server, 'GET', '/v1/groups', { headers })
      assertProblem(res, 401, 'ERR_UNAUTHORIZED')
      assert.equal(res.headers['www-authenticate'], 'Bearer')
    }
  })

  it('the console is served without a token, but anything else on its paths needs one first', async (t) => {
    const { server } = await setup(t)
    assert.equal((await request(server, 'GET', '/')).status, 200)
    assert.equal((await request(server, 'GET', '/console/console.js')).status, 200)
    assertProblem(await request(server, 'GET', '/console/nope.js'), 401, 'ERR_UNAUTHORIZED')
    assertProblem(await request(server, 'POST', '/', { body: '' }), 401, 'ERR_UNAUTHORIZED')
    assertProblem(await request(server, 'PUT', '/console/console.js', { body: '' }), 401, 'ERR_UNAUTHORIZED')
    const token = 'reader-secret'
    assertProblem(await request(server, 'GET', '/console/nope.js', { token }), 404, 'ERR_NOT_FOUND')
    const post = await request(server, 'POST', '/', { token, body: '' })
    assertProblem(post, 405, 'ERR_METHOD_NOT_ALLOWED')
    assert.equal(post.headers.allow, 'GET, HEAD')
  })

  it('a read token reads, watches and renders, and is 403 on every write', async (t) => {
    const { server, store } = await setup(t)
    await store.set('g', 'k', 'v')
    const token = 'reader-secret'
    assert.equal((await request(server, 'GET', '/v1/groups', { token })).status, 200)
    assert.equal((await request(server, 'GET', '/v1/groups/g', { token })).status, 200)
    assert.equal((await request(server, 'POST', '/v1/groups/g/render', { token, body: '{{ k }}' })).text, 'v')
    const stream = await openStream(server, '/v1/watch', { token })
    t.after(() => stream.close())
    assert.equal(stream.status, 200)
    for (const [method, path, body] of [
      ['PUT', keyPath('g', 'k'), 'x'],
      ['DELETE', keyPath('g', 'k')],
      ['DELETE', '/v1/groups/g'],
      ['POST', `${keyPath('g', 'n')}/increment`, '{}'],
    ]) {
      assertProblem(await request(server, method, path, { token, body }), 403, 'ERR_FORBIDDEN')
    }
    assert.equal(await store.get('g', 'k'), 'v')
    assert.equal(await store.get('g', 'n'), undefined)
  })

  it('write and hashed (sha256) tokens write; ?access_token= is taken on the watch route only', async (t) => {
    const { server, store } = await setup(t)
    assert.equal((await request(server, 'DELETE', '/v1/groups/g', { token: 'writer-secret' })).status, 200)
    assert.equal((await request(server, 'DELETE', '/v1/groups/g', { token: 'hashed-secret' })).status, 200)
    assertProblem(await request(server, 'GET', '/v1/groups?access_token=admin-secret'), 401, 'ERR_UNAUTHORIZED')
    const stream = await openStream(server, '/v1/watch?group=q&access_token=reader-secret')
    t.after(() => stream.close())
    assert.equal(stream.status, 200)
    await store.set('q', 'k', 'v')
    assert.equal((await stream.next()).data.key, 'k')
    const refused = await openStream(server, '/v1/watch?access_token=nope')
    assert.equal(refused.status, 401)
  })

  it('an admin token reaches everything: every scope by its full group name, every write', async (t) => {
    const { server, store } = await setup(t)
    const token = 'admin-secret'
    assert.equal((await request(server, 'PUT', keyPath('tenant-a:config', 'k'), { token, body: 'set by admin' })).status, 201)
    assert.equal((await request(server, 'GET', keyPath('config', 'k'), { token: 'tenant-a-read' })).json.value, 'set by admin')
    assert.deepEqual((await request(server, 'GET', '/v1/groups?prefix=tenant-a:', { token })).json, { groups: ['tenant-a:config'] })
    assert.deepEqual((await request(server, 'POST', `${keyPath('tenant-a:config', 'n')}/increment`, { token, body: '{"by":2}' })).json, { value: 2 })
    assert.deepEqual((await request(server, 'DELETE', `/v1/groups/${seg('tenant-a:config')}`, { token })).json, { deleted: 2 })
    assert.equal(await store.countAll('tenant-a:'), 0)
  })

  it('on one keep-alive connection, every request is judged by the token it carries', async (t) => {
    const { server } = await setup(t)
    // The helper's agent keeps one connection alive; make sure the requests share it.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    t.after(() => agent.destroy())
    const one = { ...server, agent }
    const sockets = new Set()
    agent.on('free', (socket) => sockets.add(socket))
    assert.equal((await request(one, 'PUT', keyPath('g', 'k'), { token: 'writer-secret', body: 'v' })).status, 201)
    assertProblem(await request(one, 'PUT', keyPath('g', 'k'), { token: 'reader-secret', body: 'w' }), 403, 'ERR_FORBIDDEN')
    assertProblem(await request(one, 'GET', keyPath('g', 'k'), { token: 'writer-secretx' }), 401, 'ERR_UNAUTHORIZED')
    assertProblem(await request(one, 'GET', keyPath('g', 'k')), 401, 'ERR_UNAUTHORIZED')
    assert.equal((await request(one, 'GET', keyPath('g', 'k'), { token: 'writer-secret' })).status, 200)
    assert.equal(sockets.size, 1, 'one connection carried them all')
  })

  it('the token table finds tokens by SHA-256 digest and refuses near misses', () => {
    const table = new TokenTable(TOKENS)
    assert.equal(table.find('admin-secret')?.access, 'admin')
    assert.equal(table.find('hashed-secret')?.access, 'write')
    for (const miss of ['admin-secre', 'admin-secret ', 'Admin-secret', '', sha256('hashed-secret'), 'admin-secretx']) {
      assert.equal(table.find(miss), undefined, JSON.stringify(miss))
    }
  })
})

describe('tenant scopes', () => {
  it('a scoped token sees its namespace only, with relative names, and its quota (409 with namespace and limit)', async (t) => {
    const { server, store } = await setup(t)
    await store.set('tenant-b:config', 'k', 'theirs')
    await store.set('config', 'k', 'global')
    const token = 'tenant-a-write'
    assert.equal((await request(server, 'PUT', keyPath('config', 'k'), { token, body: 'mine' })).status, 201)
    assert.equal(await store.get('tenant-a:config', 'k'), 'mine')
    assert.deepEqual((await request(server, 'GET', '/v1/groups', { token })).json, { groups: ['config'] })
    const entry = (await request(server, 'GET', keyPath('config', 'k'), { token })).json
    assert.deepEqual([entry.group, entry.key, entry.value], ['config', 'k', 'mine'])
    assert.deepEqual((await request(server, 'GET', '/v1/groups/config', { token })).json, { group: 'config', count: 1 })
    assert.equal((await request(server, 'GET', keyPath('tenant-b:config', 'k'), { token })).status, 404)
    const q = 'tenant-q'
    await request(server, 'PUT', keyPath('g', 'a'), { token: q, body: '1' })
    await request(server, 'PUT', keyPath('g', 'b'), { token: q, body: '2' })
    const over = await request(server, 'PUT', keyPath('g', 'c'), { token: q, body: '3' })
    assertProblem(over, 409, 'ERR_QUOTA_EXCEEDED')
    assert.equal(over.json.namespace, 'tenant-q')
    assert.equal(over.json.limit, 'maxKeys')
    assert.equal(await store.get('tenant-q:g', 'c'), undefined)
    const overwrite = await request(server, 'PUT', keyPath('g', 'a'), { token: q, body: 'again' })
    assert.equal(overwrite.status, 200, 'at the limit, replacing a key uses no quota')
    assert.equal(await store.get('tenant-q:g', 'a'), 'again')
    // An increment that would create a key counts like any new key.
    const counter = await request(server, 'POST', `${keyPath('g', 'n')}/increment`, { token: q, body: '{}' })
    assertProblem(counter, 409, 'ERR_QUOTA_EXCEEDED')
    assert.deepEqual([counter.json.namespace, counter.json.limit], ['tenant-q', 'maxKeys'])
    assert.equal(await store.get('tenant-q:g', 'n'), undefined)
  })

  it('a scoped watch carries its namespace only, group names relative', async (t) => {
    const { server, store } = await setup(t)
    const stream = await openStream(server, '/v1/watch', { token: 'tenant-a-read' })
    t.after(() => stream.close())
    await store.set('tenant-b:g', 'k', 'no')
    await store.set('tenant-ab:g', 'k', 'no')
    await store.set('g', 'k', 'no')
    await store.set('tenant-a:g', 'k', 'yes')
    const message = await stream.next()
    assert.deepEqual([message.data.group, message.data.value], ['g', 'yes'])
    assert.equal(stream.pending(), 0)
  })

  it('property: no sequence of requests by a scoped token reads or changes anything outside its namespace', async (t) => {
    const { server, store } = await setup(t)
    const outside = [
      ['tenant-b:g', 'k'],
      ['tenant-ab:g', 'k'],
      ['g', 'k'],
      ['tenant-a', 'k'],
      ['..', '..'],
      ['', 'k'],
      ['tenant-a-x:g', 'k'],
    ]
    for (const [g, k] of outside) await store.set(g, k, `secret ${g}`)
    const snapshot = async () => {
      const all = {}
      for (const g of await store.groups()) if (!g.startsWith('tenant-a:')) all[g] = await store.getAll(g)
      return all
    }
    const before = await snapshot()
    const name = fc.oneof(
      fc.constantFrom('..', '.', '/', '%2F', '%', 'tenant-b:g', 'g', '', ':', 'tenant-a', 'tenant-a:g', '\u0000', '../tenant-b:g', 'a/../../b', '*', '%00'),
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
    )
    const op = fc.record({
      kind: fc.constantFrom('get', 'put', 'delete', 'deleteGroup', 'count', 'keys', 'groups', 'increment', 'render', 'rawPath'),
      group: name,
      key: name,
      raw: fc.boolean(),
    })
    const token = 'tenant-a-write'
    // Every value outside the namespace says "secret"; the tenant writes only "x" and counters.
    const leaks = (res) => /secret/.test(res.text)
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        for (const { kind, group, key, raw } of ops) {
          // Names sent encoded, or (raw) as they are, when they make a valid path.
          const g = raw ? group.replace(/[^!-~]|[?#]/gu, encodeURIComponent) : seg(group)
          const k = raw ? key.replace(/[^!-~]|[?#]/gu, encodeURIComponent) : seg(key)
          const paths = {
            get: ['GET', `/v1/groups/${g}/keys/${k}`],
            put: ['PUT', `/v1/groups/${g}/keys/${k}`, 'x'],
            delete: ['DELETE', `/v1/groups/${g}/keys/${k}`],
            deleteGroup: ['DELETE', `/v1/groups/${g}`],
            count: ['GET', `/v1/groups/${g}`],
            keys: ['GET', `/v1/groups/${g}/keys?prefix=${seg(key)}`],
            groups: ['GET', `/v1/groups?prefix=${seg(group)}`],
            increment: ['POST', `/v1/groups/${g}/keys/${k}/increment`, '{}'],
            render: ['POST', `/v1/groups/${g}/render`, '{{ k }}'],
            rawPath: ['GET', `/v1/groups/${group.replace(/[\u0000-\u0020\u007f-\uffff]/g, '')}/keys/${k}`],
          }
          const [method, path, body] = paths[kind]
          const res = await request(server, method, path, { token, body })
          assert.ok(res.status < 500, `${method} ${path}: ${res.status} ${res.text}`)
          assert.ok(!leaks(res), `${method} ${path} answered ${res.text}`)
          if (kind === 'groups' && res.status === 200) {
            const own = new Set(await store.groups('tenant-a:'))
            for (const found of res.json.groups) assert.ok(own.has(`tenant-a:${found}`), `${found} is the tenant's own group`)
          }
        }
        assert.deepEqual(await snapshot(), before)
      }),
      { numRuns: 60 },
    )
  })
})

describe('the tokens file', () => {
  const bad = [
    ['not JSON', '{', /not JSON/],
    ['not an array', '{}', /array/],
    ['an unknown access', '[{"token":"a","access":"read"},{"token":"b","access":"owner"}]', /entry 2.*access/],
    ['a duplicate token', '[{"token":"a","access":"read"},{"token":"a","access":"write"}]', /entry 2.*same token as entry 1/],
    ['a token and its digest', `[{"token":"a","access":"read"},{"sha256":"${sha256('a')}","access":"write"}]`, /entry 2.*same token/],
    ['an invalid scope', '[{"token":"a","access":"read","scope":"no:colons"}]', /entry 1.*scope/],
    ['an admin with a scope', '[{"token":"a","access":"admin","scope":"t"}]', /entry 1.*admin/],
    ['no token', '[{"access":"read"}]', /entry 1.*needs "token" or "sha256"/],
    ['a bad digest', '[{"sha256":"abc","access":"read"}]', /entry 1.*sha256/],
    ['an unknown field', '[{"token":"a","access":"read","acess":"write"}]', /entry 1.*unknown field "acess"/],
    ['a quota without a scope', '[{"token":"a","access":"write","quota":{"maxKeys":1}}]', /entry 1.*quota/],
    ['a bad quota', '[{"token":"a","access":"write","scope":"t","quota":{"maxKeys":-1}}]', /entry 1.*maxKeys/],
    ['an empty token', '[{"token":"","access":"write"}]', /entry 1.*token/],
  ]
  for (const [what, text, message] of bad) {
    it(`refuses ${what}, naming the entry`, () => {
      assert.throws(() => TokenTable.parse(text), (err) => err instanceof TokensFileError && message.test(err.message))
    })
  }
})

describe('limits and failures', () => {
  it('a client sending its headers byte by byte is cut off at the headers timeout, while others are served', async (t) => {
    const { server } = await setup(t, { headersTimeout: 300 })
    const socket = net.connect(server.port, '127.0.0.1')
    t.after(() => socket.destroy())
    const closed = new Promise((resolve) => socket.on('close', resolve))
    socket.on('error', () => {})
    const text = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(10_000)
    let i = 0
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write(text[i++] ?? 'a')
    }, 20)
    t.after(() => clearInterval(drip))
    assert.equal((await request(server, 'GET', '/healthz')).status, 200)
    await closed
    clearInterval(drip)
    assert.ok(i < text.length, 'the server closed the connection before the headers ended')
    assert.equal((await request(server, 'GET', '/healthz')).status, 200)
  })

  it('a request refused by the HTTP parser (headers past 512 KiB, malformed HTTP) is answered in problem+json', async (t) => {
    const { server } = await setup(t)
    const long = await request(server, 'GET', `/v1/groups/g/keys/${'x'.repeat(600 * 1024)}`, { token: 'admin-secret' })
    assertProblem(long, 431, 'ERR_HEADERS_TOO_LARGE')
    const raw = (text) =>
      new Promise((resolve) => {
        const socket = net.connect(server.port, '127.0.0.1', () => socket.write(text))
        let answer = ''
        socket.on('data', (chunk) => (answer += chunk))
        socket.on('error', () => {})
        socket.on('close', () => resolve(answer))
      })
    const answer = await raw('GET /v1/groups HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n')
    assert.match(answer, /^HTTP\/1\.1 400 /)
    assert.match(answer, /\r\ncontent-type: application\/problem\+json\r\n/i)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
    assert.equal(body.code, 'ERR_INVALID')
    assert.equal(body.status, 400)
    // The server goes on serving.
    assert.equal((await request(server, 'GET', '/healthz')).status, 200)
  })

  it('an event stream whose client never reads is dropped past its bound; it resumes with Last-Event-ID, losing nothing', { timeout: 60_000 }, async (t) => {
    const { server, store } = await setup(t, { streams: { maxPending: 256 * 1024, flushDelay: 1 } })
    const before = await new Promise((resolve) => server.app.server.getConnections((_e, n) => resolve(n)))
    // A raw socket that reads nothing after the headers.
    const socket = net.connect(server.port, '127.0.0.1', () =>
      socket.write('GET /v1/watch?group=flood HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer reader-secret\r\n\r\n'),
    )
    t.after(() => socket.destroy())
    socket.on('error', () => {})
    await until('the stream to open', () => new Promise((resolve) => server.app.server.getConnections((_e, n) => resolve(n > before))))
    socket.pause()
    const start = await store.revision()
    const value = 'v'.repeat(32 * 1024)
    const open = () => new Promise((resolve) => server.app.server.getConnections((_e, n) => resolve(n > before)))
    // Write until the socket's and the server's buffers are full and the stream is dropped.
    let total = 0
    while (total < 4000 && (await open())) {
      for (let j = 0; j < 50; j++) await store.set('flood', `k${String(total++).padStart(4, '0')}`, value)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await until('the server to drop the stream', async () => !(await open()))
    assert.equal((await request(server, 'GET', '/healthz')).status, 200)
    // Read what did arrive, then resume after the last id.
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (d) => (received += d))
    socket.resume()
    await new Promise((resolve) => socket.on('close', resolve))
    const ids = [...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
    assert.ok(ids.length < total, `${ids.length} events reached the socket before the drop`)
    const last = ids.at(-1) ?? start
    const resumed = await openStream(server, '/v1/watch?group=flood', { token: 'reader-secret', headers: { 'last-event-id': String(last) } })
    t.after(() => resumed.close())
    const rest = await resumed.take(total - ids.length)
    const keys = [...ids.map((id) => id), ...rest.map((m) => Number(m.id))]
    assert.equal(new Set(keys).size, total, 'no duplicate')
    assert.deepEqual(keys, [...keys].sort((a, b) => a - b))
    assert.equal(keys[0], start + 1, 'from the first event')
    assert.equal(keys.at(-1) - keys[0], total - 1, 'no gap')
  })

  it('by default an idle stream gets a comment line within 30 s', async (t) => {
    const { server } = await setup(t)
    // The server's own interval, on a clock the test moves (no waiting on time).
    t.mock.timers.enable({ apis: ['setInterval'] })
    const stream = await openStream(server, '/v1/watch', { token: 'reader-secret' })
    t.after(() => stream.close())
    const first = stream.comments
    t.mock.timers.tick(30_000)
    await until('a comment line', () => stream.comments > first)
  })

  it('a stream resumed from before the retained history says how many changes it missed', async (t) => {
    const store = await Store.open(':memory:', { changeRetention: { maxCount: 3 } })
    const server = await serve(store, { tokens: TOKENS })
    t.after(async () => {
      await server.close()
      await store.close()
    })
    for (let i = 0; i < 20; i++) await store.set('tenant-a:g', `k${i}`, 'v')
    await store.purgeExpired()
    for (const token of ['reader-secret', 'tenant-a-read']) {
      const stream = await openStream(server, '/v1/watch?since=0', { token })
      t.after(() => stream.close())
      const first = await stream.next()
      assert.ok(first.data.missed > 0, `${token}: ${JSON.stringify(first.data)}`)
      assert.equal(first.data.missed, first.data.revision - 1, 'every revision before the first one sent')
      assert.equal(first.data.group, token === 'reader-secret' ? 'tenant-a:g' : 'g')
      const second = await stream.next()
      assert.equal(second.data.missed, undefined)
      assert.equal(Number(second.id), Number(first.id) + 1)
    }
  })

  it('a stream whose client leaves, or whose server stops, while it waits for the change feed holds nothing', async () => {
    // A store whose feed is ready when the test says so, counting its subscribers.
    let subscribers = 0
    const gates = []
    const store = {
      onChange() {
        subscribers++
        return () => subscribers--
      },
      [FEED_READY]: () => new Promise((resolve) => gates.push(resolve)),
    }
    const response = () =>
      Object.assign(new EventEmitter(), {
        heads: 0,
        socket: { setNoDelay() {} },
        writeHead() {
          this.heads++
        },
        write: () => true,
        end() {},
        destroy() {},
      })
    const live = { target: store, namespace: undefined, group: '*', key: '*', since: undefined }
    const streams = new EventStreams(store)
    const left = response()
    let hijacked = 0
    const leaving = streams.open(left, {}, live, () => hijacked++)
    const staying = response()
    const opening = streams.open(staying, {}, live, () => {})
    assert.equal(subscribers, 1)
    left.emit('close')
    gates.shift()()
    await leaving
    assert.deepEqual([left.heads, hijacked, streams.size, subscribers], [0, 1, 0, 1], 'the other stream still opens')
    gates.shift()()
    await opening
    assert.deepEqual([staying.heads, streams.size, subscribers], [1, 1, 1])
    staying.emit('close')
    assert.deepEqual([streams.size, subscribers], [0, 0])
    // The server stops meanwhile: refused with 503, nothing subscribed.
    const late = response()
    const refused = streams.open(late, {}, live, () => {})
    streams.closeAll()
    gates.shift()()
    await assert.rejects(refused, (err) => err.status === 503 && err.code === 'ERR_UNAVAILABLE')
    assert.deepEqual([late.heads, streams.size, subscribers], [0, 0, 0])
  })

  it('a storage failure is 500 ERR_STORE and says nothing of its cause', async (t) => {
    const store = await Store.open()
    const logged = []
    const server = await serve(store, { log: (line) => logged.push(line) })
    t.after(() => server.close())
    await store.close()
    const res = await request(server, 'GET', '/v1/groups')
    assertProblem(res, 500, 'ERR_STORE')
    assert.doesNotMatch(res.json.detail, /closed|store\.groups/)
    assert.match(logged.join('\n'), /GET \/v1\/groups failed: store\.groups: the store is closed/)
  })

  it('a watch stream whose history cannot be read is cut, and the failure is logged', async (t) => {
    const file = join(tempDir(t, 'groupstore-serve-'), 'history.db')
    const store = await Store.open(file)
    const logged = []
    const server = await serve(store, { log: (line) => logged.push(line) })
    t.after(async () => {
      await server.close()
      await store.close()
    })
    await store.set('g', 'k', 'v')
    // Another program removes the change log behind the store's back.
    const other = new Database(file)
    other.exec('DROP TABLE kv_changes')
    other.close()
    const stream = await openStream(server, '/v1/watch?since=0')
    assert.equal(stream.status, 200)
    await until('the stream to be cut', () => stream.ended)
    assert.match(logged.join('\n'), /watch stream failed to read the change history: store\.watch: /)
  })

  it('the console is served with a strict Content-Security-Policy and no inline script', async (t) => {
    const { server } = await setup(t)
    const res = await request(server, 'GET', '/')
    assert.equal(res.status, 200)
    assert.match(res.headers['content-type'], /^text\/html/)
    const csp = res.headers['content-security-policy']
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/)
    assert.equal(res.headers['x-content-type-options'], 'nosniff')
    assert.equal(res.headers['referrer-policy'], 'no-referrer')
    for (const tag of res.text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
      assert.match(tag[0], /\ssrc="\/console\/[\w.-]+\.js"/)
      assert.equal(tag[1].trim(), '', 'no inline script')
    }
    assert.doesNotMatch(res.text, /\son\w+=/i, 'no inline event handlers')
    assert.doesNotMatch(res.text, /https?:\/\//, 'nothing loaded from elsewhere')
    const script = await request(server, 'GET', '/console/console.js')
    assert.match(script.headers['content-type'], /^text\/javascript/)
    assert.match(script.headers['content-security-policy'], /script-src 'self'/)
  })
})
