// Groups, paging, templates, errors and limits of the HTTP contract.
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { describe, it } from 'node:test'
import { keyPath, request, seg, serve } from './http.js'
import { assertProblem } from './suite.js'

export function groupTests(ctx) {
  describe('groups', () => {
    it('GET /v1/groups?prefix= lists live groups, ascending, the prefix taken literally', async () => {
      const { server, store } = ctx
      for (const group of ['lit%a', 'lit_b', 'litXc', 'lit%%d']) await store.set(group, 'k', 'v')
      const all = await request(server, 'GET', '/v1/groups?prefix=lit')
      assert.equal(all.status, 200)
      assert.deepEqual(all.json, { groups: ['lit%%d', 'lit%a', 'litXc', 'lit_b'] })
      assert.deepEqual((await request(server, 'GET', `/v1/groups?prefix=${seg('lit%')}`)).json, { groups: ['lit%%d', 'lit%a'] })
      assert.deepEqual((await request(server, 'GET', `/v1/groups?prefix=${seg('lit_')}`)).json, { groups: ['lit_b'] })
    })

    it('GET /v1/groups/:group answers the count; DELETE removes the group and answers how many', async () => {
      const { server, store } = ctx
      await store.set('count/me', 'a', '1')
      await store.set('count/me', 'b', '2')
      await store.set('count/me', 'c', '3', { ttl: 1 })
      await new Promise((resolve) => setTimeout(resolve, 5))
      const count = await request(server, 'GET', `/v1/groups/${seg('count/me')}`)
      assert.equal(count.status, 200)
      assert.deepEqual(count.json, { group: 'count/me', count: 2 })
      assert.deepEqual((await request(server, 'GET', '/v1/groups/never-written')).json, { group: 'never-written', count: 0 })
      const deleted = await request(server, 'DELETE', `/v1/groups/${seg('count/me')}`)
      assert.equal(deleted.status, 200)
      assert.deepEqual(deleted.json, { deleted: 2 })
      assert.equal(await store.count('count/me'), 0)
    })

    it('GET …/keys pages in key order with next, prefix and after', async () => {
      const { server, store } = ctx
      for (let i = 0; i < 7; i++) await store.set('paged', `k${i}`, `v${i}`)
      await store.set('paged', 'other', 'x', { ttl: 60_000 })
      const first = await request(server, 'GET', '/v1/groups/paged/keys?prefix=k&limit=3')
      assert.equal(first.status, 200)
      assert.deepEqual(
        first.json.entries.map((e) => [e.key, e.value]),
        [['k0', 'v0'], ['k1', 'v1'], ['k2', 'v2']],
      )
      assert.equal(first.json.next, 'k2')
      for (const e of first.json.entries) {
        assert.deepEqual(Object.keys(e).sort(), ['expiresAt', 'key', 'revision', 'value'])
        assert.equal(e.revision, (await store.getEntry('paged', e.key)).revision)
        assert.equal(e.expiresAt, null)
      }
      const last = await request(server, 'GET', '/v1/groups/paged/keys?prefix=k&limit=3&after=k5')
      assert.deepEqual(last.json.entries.map((e) => e.key), ['k6'])
      assert.equal('next' in last.json, false)
      const other = (await request(server, 'GET', '/v1/groups/paged/keys?prefix=o')).json.entries[0]
      assert.equal(other.key, 'other')
      assert.ok(other.expiresAt > Date.now())
    })

    it('GET …/keys pages 100 keys by default, and takes its prefix literally', async () => {
      const { server, store } = ctx
      await store.setMany('hundred', Array.from({ length: 150 }, (_, i) => [`k${String(i).padStart(3, '0')}`, 'v']))
      const first = await request(server, 'GET', '/v1/groups/hundred/keys')
      assert.equal(first.json.entries.length, 100)
      assert.equal(first.json.next, 'k099')
      const rest = await request(server, 'GET', `/v1/groups/hundred/keys?after=${first.json.next}`)
      assert.equal(rest.json.entries.length, 50)
      assert.equal('next' in rest.json, false)
      await store.setMany('literal', { 'a%b': '1', axb: '2', 'a_c': '3', ayc: '4', 'a\\d': '5' })
      const keys = async (prefix) => (await request(server, 'GET', `/v1/groups/literal/keys?prefix=${seg(prefix)}`)).json.entries.map((e) => e.key)
      assert.deepEqual(await keys('a%'), ['a%b'])
      assert.deepEqual(await keys('a_'), ['a_c'])
      assert.deepEqual(await keys('a\\'), ['a\\d'])
    })

    it('a bad limit or an unknown query parameter is 400', async () => {
      for (const q of ['limit=0', 'limit=-1', 'limit=x', 'limit=10001', 'limit=2.5', 'limit=01', 'color=red']) {
        assertProblem(await request(ctx.server, 'GET', `/v1/groups/paged/keys?${q}`), 400, 'ERR_INVALID')
      }
      // Out of page's range, the library's RangeError is the detail.
      assert.match((await request(ctx.server, 'GET', '/v1/groups/paged/keys?limit=10001')).json.detail, /page: options\.limit must be an integer from 1 to 10000/)
    })

    it('GET …/keys takes the limits page takes, 1 to 10,000', async () => {
      const { server, store } = ctx
      await store.setMany('wide', Object.fromEntries(Array.from({ length: 1005 }, (_, i) => [`k${String(i).padStart(4, '0')}`, 'v'])))
      const most = await request(server, 'GET', '/v1/groups/wide/keys?limit=10000')
      assert.equal(most.status, 200)
      assert.equal(most.json.entries.length, 1005)
      assert.equal('next' in most.json, false)
      const over1000 = await request(server, 'GET', '/v1/groups/wide/keys?limit=1001')
      assert.equal(over1000.json.entries.length, 1001)
      assert.equal(over1000.json.next, 'k1000')
      const one = await request(server, 'GET', '/v1/groups/wide/keys?limit=1&after=k1003')
      assert.deepEqual(one.json.entries.map((e) => e.key), ['k1004'])
      assert.equal('next' in one.json, false)
    })
  })

  describe('render', () => {
    it("POST …/render answers the template rendered with the group's keys, as text/plain", async () => {
      const { server, store } = ctx
      await store.set('db', 'host', 'h')
      await store.set('db', 'port', '5432')
      const res = await request(server, 'POST', '/v1/groups/db/render', { body: 'postgres://{{ host }}:{{ port }}/{{ nope }}' })
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-type'], 'text/plain')
      assert.equal(res.text, 'postgres://h:5432/')
    })

    it('a syntax error, or strict=true and a missing variable, is 422 ERR_TEMPLATE', async () => {
      const { server } = ctx
      assertProblem(await request(server, 'POST', '/v1/groups/db/render?strict=true', { body: '{{ nope }}' }), 422, 'ERR_TEMPLATE')
      assertProblem(await request(server, 'POST', '/v1/groups/db/render', { body: '{% if %}' }), 422, 'ERR_TEMPLATE')
      assertProblem(await request(server, 'POST', '/v1/groups/db/render?strict=yes', { body: 'x' }), 400, 'ERR_INVALID')
    })
  })

  describe('errors and limits', () => {
    it('an unknown route is 404 ERR_NOT_FOUND', async () => {
      for (const path of ['/nope', '/v1', '/v1/groups/a/b', '/v1/groups/g/keys/k/extra', '/v2/groups']) {
        assertProblem(await request(ctx.server, 'GET', path), 404, 'ERR_NOT_FOUND')
      }
    })

    it('a known path with a method it does not take is 405 ERR_METHOD_NOT_ALLOWED, with Allow', async () => {
      const cases = [
        ['POST', '/v1/groups', 'GET'],
        ['PUT', '/v1/groups/g', 'DELETE'],
        ['DELETE', '/v1/groups/g/keys', 'GET'],
        ['POST', keyPath('g', 'k'), 'PUT'],
        ['PATCH', keyPath('g', 'k'), 'GET'],
        ['GET', `${keyPath('g', 'k')}/increment`, 'POST'],
        ['GET', '/v1/groups/g/render', 'POST'],
        ['POST', '/v1/watch', 'GET'],
        ['DELETE', '/healthz', 'GET'],
        ['TRACE', '/v1/groups', 'GET'],
        ['PROPFIND', keyPath('g', 'k'), 'DELETE'],
      ]
      for (const [method, path, allowed] of cases) {
        const res = await request(ctx.server, method, path, { body: method === 'GET' ? undefined : '' })
        assertProblem(res, 405, 'ERR_METHOD_NOT_ALLOWED')
        assert.ok(res.headers.allow.split(', ').includes(allowed), `${method} ${path}: Allow ${res.headers.allow}`)
      }
    })

    it('a body over the limit is 413 ERR_TOO_LARGE, by Content-Length before it is read, and chunked as it streams', async () => {
      const { server, store } = ctx
      const big = Buffer.alloc(1024 * 1024 + 1, 'x')
      assertProblem(await request(server, 'PUT', keyPath('limits', 'big'), { body: big }), 413, 'ERR_TOO_LARGE')
      assertProblem(await request(server, 'POST', '/v1/groups/limits/render', { body: big }), 413, 'ERR_TOO_LARGE')
      assertProblem(await request(server, 'POST', `${keyPath('limits', 'n')}/increment`, { body: big }), 413, 'ERR_TOO_LARGE')
      // Every route: one that takes no body too.
      await store.set('limits', 'kept', 'v')
      assertProblem(await request(server, 'DELETE', keyPath('limits', 'kept'), { body: big }), 413, 'ERR_TOO_LARGE')
      assert.equal(await store.get('limits', 'kept'), 'v')
      // Announced as 10 GB: answered at once, without waiting for (or reading) the body.
      const announced = await rawHead(server, `PUT ${keyPath('limits', 'huge')} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\nxxxx`)
      assert.match(announced, /^HTTP\/1\.1 413 /)
      // Chunked, no length: cut off once the limit is passed.
      const chunked = await new Promise((resolve, reject) => {
        const req = http.request({ port: server.port, host: '127.0.0.1', method: 'PUT', path: keyPath('limits', 'chunked'), headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString()) }))
        })
        req.on('error', reject)
        const piece = Buffer.alloc(64 * 1024, 'y')
        let sent = 0
        const pump = () => {
          while (sent < 40 && req.write(piece)) sent++
          if (sent < 40) req.once('drain', pump)
          else req.end()
        }
        pump()
      }).catch((err) => ({ status: 'reset', err }))
      if (chunked.status !== 'reset') {
        assert.equal(chunked.status, 413)
        assert.equal(chunked.json.code, 'ERR_TOO_LARGE')
      }
      assert.equal(await store.get('limits', 'big'), undefined)
      assert.equal(await store.get('limits', 'chunked'), undefined)
      assert.equal(await store.get('limits', 'huge'), undefined)
    })

    it('a path or query string that is not percent-encoded UTF-8 is 400 ERR_INVALID', async () => {
      for (const path of ['/v1/groups/g/keys/%E0%A4', '/v1/groups/%ED%A0%80', '/v1/groups/g/keys/%zz']) {
        assertProblem(await request(ctx.server, 'GET', path), 400, 'ERR_INVALID')
      }
      for (const path of ['/v1/groups?prefix=%FF', '/v1/groups?prefix=%', '/v1/groups/g/keys?after=%zz', '/v1/watch?group=%E0%A4']) {
        assertProblem(await request(ctx.server, 'GET', path), 400, 'ERR_INVALID')
      }
      // Valid encodings are decoded: %25 is '%', + a space.
      await ctx.store.set('100% sure', 'k', 'v')
      const res = await request(ctx.server, 'GET', '/v1/groups?prefix=100%25+sure')
      assert.deepEqual(res.json.groups, ['100% sure'])
    })

    it('a storage failure is 500 ERR_STORE, logged, its cause never sent', async (t) => {
      const store = await ctx.open()
      const logged = []
      const server = await serve(store, { log: (line) => logged.push(line) })
      t.after(() => server.close())
      await store.close()
      for (const [method, path, body] of [
        ['GET', keyPath('g', 'k')],
        ['PUT', keyPath('g', 'k'), 'v'],
        ['GET', '/v1/groups/g/keys'],
        ['POST', '/v1/groups/g/render', 'x'],
        ['GET', '/v1/watch'],
        ['GET', '/v1/watch?since=0'],
      ]) {
        const res = await request(server, method, path, { body })
        assertProblem(res, 500, 'ERR_STORE')
        assert.doesNotMatch(res.json.detail, /closed|store\./)
      }
      assert.match(logged.join('\n'), /PUT \/v1\/groups\/:group\/keys\/:key failed: store\.set: /)
    })

    it('every error is problem+json with status, code, title and detail, and no stack', async () => {
      const res = await request(ctx.server, 'GET', '/v1/groups?prefix=a&prefix=b')
      assertProblem(res, 400, 'ERR_INVALID')
      assert.deepEqual(Object.keys(res.json).sort(), ['code', 'detail', 'status', 'title'])
    })
  })
}

/** Sends `text` on a fresh socket and answers the answer's head. */
export function rawHead(server, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write(text))
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (d) => {
      answer += d
      if (answer.includes('\r\n\r\n')) {
        socket.destroy()
        resolve(answer)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
  })
}
