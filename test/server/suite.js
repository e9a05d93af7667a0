// The HTTP contract of `groupstore serve`, route by route, over real HTTP,
// for one backend: `httpSuite('sqlite', { open })`.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { groupTests } from './groups.js'
import { keyPath, request, serve, until } from './http.js'
import { tokenTests } from './tokens.js'
import { watchTests } from './watch.js'

/** Asserts an `application/problem+json` answer with `status` and `code`. */
export function assertProblem(res, status, code) {
  assert.equal(res.status, status, `status of ${res.status} ${res.text}`)
  assert.equal(res.headers['content-type'], 'application/problem+json')
  assert.equal(res.json.status, status)
  assert.equal(res.json.code, code)
  assert.equal(typeof res.json.title, 'string')
  assert.equal(typeof res.json.detail, 'string')
  assert.doesNotMatch(res.text, /\n\s+at |SELECT |INSERT |UPDATE |sqlite|node_modules|\.js:\d/i, 'no stack or SQL in an error body')
}

/** PUT of a value; `query` is appended to the path. */
export const put = (server, group, key, value, { query = '', headers, token } = {}) =>
  request(server, 'PUT', `${keyPath(group, key)}${query}`, { body: value, headers, token })

/** GET of a key. */
export const get = (server, group, key, options = {}) => request(server, 'GET', keyPath(group, key), options)

/**
 * Runs the contract for a backend. `open()` answers a new Store object on
 * the suite's database (another connection to it, as another process or
 * server has), `open({ db, ...options })` one on another database of the
 * same backend; `skip` (a reason) skips everything visibly.
 */
export function httpSuite(name, { open, skip }) {
  describe(`serve over HTTP on ${name}`, { skip }, () => {
    const ctx = { store: undefined, server: undefined, backend: name, open }
    before(async () => {
      ctx.store = await open()
      ctx.server = await serve(ctx.store, { streams: { heartbeat: 100, flushDelay: 1 } })
    })
    after(async () => {
      await ctx.server?.close()
      await ctx.store?.close()
    })

    it('GET /healthz answers {"ok":true}', async () => {
      const res = await request(ctx.server, 'GET', '/healthz')
      assert.equal(res.status, 200)
      assert.deepEqual(res.json, { ok: true })
    })

    keyTests(ctx)
    groupTests(ctx)
    watchTests(ctx)
    tokenTests(ctx)
  })
}

function keyTests(ctx) {
  describe('keys', () => {
    it('PUT creates (201) then replaces (200), each with its revision as ETag; GET answers the entry', async () => {
      const { server } = ctx
      const created = await put(server, 'k1', 'theme', 'dark')
      assert.equal(created.status, 201)
      assert.ok(Number.isSafeInteger(created.json.revision) && created.json.revision > 0)
      assert.equal(created.headers.etag, `"${created.json.revision}"`)
      const replaced = await put(server, 'k1', 'theme', 'light')
      assert.equal(replaced.status, 200)
      assert.ok(replaced.json.revision > created.json.revision)
      const got = await get(server, 'k1', 'theme')
      assert.equal(got.status, 200)
      assert.match(got.headers['content-type'], /^application\/json/)
      assert.equal(got.headers.etag, `"${replaced.json.revision}"`)
      assert.deepEqual(got.json, { group: 'k1', key: 'theme', value: 'light', revision: replaced.json.revision, expiresAt: null })
    })

    it('of concurrent PUTs of a new key exactly one is 201; with If-None-Match: * the others are 412', async () => {
      const { server, store } = ctx
      const plain = await Promise.all(Array.from({ length: 20 }, (_, i) => put(server, 'race', 'plain', `v${i}`)))
      assert.deepEqual(plain.map((r) => r.status).sort((a, b) => a - b), [...Array(19).fill(200), 201])
      const revisions = plain.map((r) => r.json.revision)
      assert.equal(new Set(revisions).size, 20, 'every write has its own revision')
      assert.equal((await get(server, 'race', 'plain')).json.revision, Math.max(...revisions))
      const once = await Promise.all(Array.from({ length: 20 }, (_, i) => put(server, 'race', 'once', `v${i}`, { headers: { 'if-none-match': '*' } })))
      assert.deepEqual(once.map((r) => r.status).sort((a, b) => a - b), [201, ...Array(19).fill(412)])
      const winner = once.findIndex((r) => r.status === 201)
      assert.equal(await store.get('race', 'once'), `v${winner}`)
    })

    it('GET of a missing key is 404 ERR_NOT_FOUND', async () => {
      assertProblem(await get(ctx.server, 'k1', 'missing'), 404, 'ERR_NOT_FOUND')
    })

    it('HEAD answers as GET does, without a body: the ETag of a key, 404 for a missing one', async () => {
      const { server } = ctx
      const { revision } = (await put(server, 'head', 'k', 'value')).json
      const head = await request(server, 'HEAD', keyPath('head', 'k'))
      assert.equal(head.status, 200)
      assert.equal(head.headers.etag, `"${revision}"`)
      assert.match(head.headers['content-type'], /^application\/json/)
      assert.equal(head.text, '')
      const missing = await request(server, 'HEAD', keyPath('head', 'missing'))
      assert.equal(missing.status, 404)
      assert.equal(missing.text, '')
      for (const path of ['/healthz', '/v1/groups', '/v1/groups/head', '/v1/groups/head/keys']) {
        const res = await request(server, 'HEAD', path)
        assert.equal(res.status, 200, `HEAD ${path}`)
        assert.equal(res.text, '')
      }
    })

    it('values are the body byte for byte, whatever the content type: NUL, emoji, BOM, CRLF, JSON text, 1 MB', async () => {
      const { server } = ctx
      const values = ['', 'a\u0000b', '😀 ünïcödé', '\uFEFFbom', 'line\r\nline\n', '{"a": 1}', 'x'.repeat(1_000_000)]
      for (const [i, value] of values.entries()) {
        const type = i === 5 ? 'application/json' : i === 3 ? 'not a media type' : i % 2 === 0 ? 'text/plain' : 'application/octet-stream'
        const res = await put(server, 'bytes', `v${i}`, Buffer.from(value, 'utf8'), { headers: { 'content-type': type } })
        assert.equal(res.status, 201)
        const got = await get(server, 'bytes', `v${i}`)
        assert.equal(got.json.value, value, `value ${i}`)
        assert.equal(await ctx.store.get('bytes', `v${i}`), value)
      }
    })

    it('names of 10,000 characters of 4 bytes each fit in the request line; PostgreSQL refuses them with 400', async () => {
      // Varied, so that PostgreSQL cannot compress them under its limit (repeated text fits there).
      const key = Array.from({ length: 10_000 }, (_, i) => String.fromCodePoint(0x20000 + ((i * 7919) % 40_000))).join('')
      const res = await put(ctx.server, 'long', key, 'v')
      if (ctx.backend === 'postgres') {
        // Its primary key takes at most about 2,700 bytes of varied names: the library's RangeError.
        assertProblem(res, 400, 'ERR_INVALID')
        assert.match(res.json.detail, /too long for PostgreSQL's index/)
        return
      }
      assert.equal(res.status, 201)
      assert.equal((await get(ctx.server, 'long', key)).json.key, key)
    })

    it('a body of exactly the default limit, 1 MiB, is taken', async () => {
      const body = Buffer.alloc(1024 * 1024, 'z')
      assert.equal((await put(ctx.server, 'bytes', 'mib', body)).status, 201)
      assert.equal((await ctx.store.get('bytes', 'mib')).length, 1024 * 1024)
    })

    it('a body that is not UTF-8 is 400 and stores nothing', async () => {
      const res = await put(ctx.server, 'bytes', 'bad', Buffer.from([0x61, 0xff, 0xfe, 0x62]))
      assertProblem(res, 400, 'ERR_INVALID')
      assert.equal(await ctx.store.get('bytes', 'bad'), undefined)
    })

    it('group and key names are percent-encoded path segments: /, %, .., spaces, ?, #, NUL, emoji', async () => {
      const { server, store } = ctx
      const names = [
        ['a/b', 'c/d'],
        ['100%', '%2F'],
        ['..', '..'],
        ['with space', ' lead and trail '],
        ['q?h#', 'k?x=1#y'],
        ['nul\u0000g', 'nul\u0000k'],
        ['😀', '日本'],
        ['', 'empty-group'],
        ['empty-key', ''],
        ['semi;colon', 'a;b=c'],
      ]
      for (const [group, key] of names) {
        const res = await put(server, group, key, `${group}|${key}`)
        assert.equal(res.status, 201, `PUT ${JSON.stringify([group, key])}: ${res.text}`)
        assert.equal(await store.get(group, key), `${group}|${key}`)
        const got = await get(server, group, key)
        assert.equal(got.json.value, `${group}|${key}`)
        assert.equal(got.json.group, group)
        assert.equal(got.json.key, key)
      }
      // `..` sent as it is, not encoded: still a name, never a step up the path.
      const raw = await request(server, 'GET', '/v1/groups/../keys/..')
      assert.equal(raw.json.value, '..|..')
      const groups = (await request(server, 'GET', '/v1/groups')).json.groups
      for (const [group] of names) assert.ok(groups.includes(group), `groups lists ${JSON.stringify(group)}`)
    })

    it('PUT ?ttl=MS sets an expiry; a PUT without ttl clears it; the key disappears when it expires', async () => {
      const { server } = ctx
      const beforePut = Date.now()
      await put(server, 'ttl', 'k', 'v', { query: '?ttl=60000' })
      const got = (await get(server, 'ttl', 'k')).json
      assert.ok(got.expiresAt >= beforePut + 60_000 && got.expiresAt <= Date.now() + 60_000, `expiresAt ${got.expiresAt}`)
      await put(server, 'ttl', 'k', 'v')
      assert.equal((await get(server, 'ttl', 'k')).json.expiresAt, null)
      await put(server, 'ttl', 'short', 'v', { query: '?ttl=30' })
      await until('the key to expire', async () => (await get(server, 'ttl', 'short')).status === 404)
      // An expired row that no read has removed yet counts as absent too.
      await put(server, 'ttl', 'lapsed', 'v', { query: '?ttl=20' })
      await new Promise((resolve) => setTimeout(resolve, 60))
      assert.equal((await put(server, 'ttl', 'lapsed', 'again')).status, 201, 'a PUT over an expired key creates it')
    })

    it('a bad ttl is 400 ERR_INVALID and stores nothing', async () => {
      for (const ttl of ['0', '0.0', '-5', 'abc', '.5', '1.', '', '1e3', '%205']) {
        assertProblem(await put(ctx.server, 'ttl', 'bad', 'v', { query: `?ttl=${ttl}` }), 400, 'ERR_INVALID')
      }
      assertProblem(await put(ctx.server, 'ttl', 'bad', 'v', { query: '?ttl=5&ttl=6' }), 400, 'ERR_INVALID')
      assert.equal(await ctx.store.get('ttl', 'bad'), undefined)
    })

    it('a ttl with a fraction of a ms is taken, as the library takes it (the expiry rounds up)', async () => {
      assert.equal((await put(ctx.server, 'ttl', 'fraction', 'v', { query: '?ttl=60000.5' })).status, 201)
      const remaining = await ctx.store.ttl('ttl', 'fraction')
      assert.ok(remaining > 59_000 && remaining <= 60_001, `remaining ${remaining}`)
    })

    it('If-Match makes PUT and DELETE conditional; a stale revision is 412 and changes nothing', async () => {
      const { server, store } = ctx
      const first = (await put(server, 'cas', 'k', 'one')).json.revision
      const second = await put(server, 'cas', 'k', 'two', { headers: { 'if-match': `"${first}"` } })
      assert.equal(second.status, 200)
      assert.equal(second.headers.etag, `"${second.json.revision}"`)
      const stale = await put(server, 'cas', 'k', 'three', { headers: { 'if-match': `"${first}"` } })
      assertProblem(stale, 412, 'ERR_PRECONDITION_FAILED')
      assert.equal(await store.get('cas', 'k'), 'two')
      assertProblem(await request(server, 'DELETE', keyPath('cas', 'k'), { headers: { 'if-match': `"${first}"` } }), 412, 'ERR_PRECONDITION_FAILED')
      assert.equal(await store.get('cas', 'k'), 'two')
      const deleted = await request(server, 'DELETE', keyPath('cas', 'k'), { headers: { 'if-match': `"${second.json.revision}"` } })
      assert.equal(deleted.status, 204)
      assert.equal(deleted.text, '')
      assert.equal(await store.get('cas', 'k'), undefined)
    })

    it('If-Match on a missing key: PUT and DELETE are 412', async () => {
      assertProblem(await put(ctx.server, 'cas', 'none', 'v', { headers: { 'if-match': '"1"' } }), 412, 'ERR_PRECONDITION_FAILED')
      assertProblem(await request(ctx.server, 'DELETE', keyPath('cas', 'none'), { headers: { 'if-match': '"1"' } }), 412, 'ERR_PRECONDITION_FAILED')
      assert.equal(await ctx.store.get('cas', 'none'), undefined)
    })

    it('If-None-Match: * creates only: 201 when absent, 412 when present', async () => {
      const { server, store } = ctx
      const created = await put(server, 'cas', 'once', 'first', { headers: { 'if-none-match': '*' } })
      assert.equal(created.status, 201)
      assertProblem(await put(server, 'cas', 'once', 'second', { headers: { 'if-none-match': '*' } }), 412, 'ERR_PRECONDITION_FAILED')
      assert.equal(await store.get('cas', 'once'), 'first')
    })

    it('a malformed If-Match, or both headers, is 400 and changes nothing', async () => {
      const { server, store } = ctx
      await put(server, 'cas', 'm', 'v')
      const rev = (await get(server, 'cas', 'm')).json.revision
      for (const value of ['1', '"0"', '"-1"', '"abc"', 'W/"1"', '*', '"1", "2"', '""']) {
        assertProblem(await put(server, 'cas', 'm', 'x', { headers: { 'if-match': value } }), 400, 'ERR_INVALID')
        assertProblem(await request(server, 'DELETE', keyPath('cas', 'm'), { headers: { 'if-match': value } }), 400, 'ERR_INVALID')
      }
      const both = await put(server, 'cas', 'm', 'x', { headers: { 'if-match': `"${rev}"`, 'if-none-match': '*' } })
      assertProblem(both, 400, 'ERR_INVALID')
      const bothDelete = await request(server, 'DELETE', keyPath('cas', 'm'), { headers: { 'if-match': `"${rev}"`, 'if-none-match': '*' } })
      assertProblem(bothDelete, 400, 'ERR_INVALID')
      assert.equal(await store.get('cas', 'm'), 'v')
    })

    it('GET with If-None-Match of the current ETag is 304', async () => {
      const { server } = ctx
      const rev = (await put(server, 'cas', 'cached', 'v')).json.revision
      const res = await get(server, 'cas', 'cached', { headers: { 'if-none-match': `"${rev}"` } })
      assert.equal(res.status, 304)
      assert.equal((await get(server, 'cas', 'cached', { headers: { 'if-none-match': `"${rev + 1000}"` } })).status, 200)
    })

    it('DELETE: 204 when removed, 404 when absent', async () => {
      const { server } = ctx
      await put(server, 'del', 'k', 'v')
      assert.equal((await request(server, 'DELETE', keyPath('del', 'k'))).status, 204)
      assertProblem(await request(server, 'DELETE', keyPath('del', 'k')), 404, 'ERR_NOT_FOUND')
    })

    it('POST …/increment adds by (default 1), ttl only on create, 422 ERR_NOT_INTEGER on a non-integer', async () => {
      const { server, store } = ctx
      const inc = (key, body) => request(server, 'POST', `${keyPath('counters', key)}/increment`, { body, headers: { 'content-type': 'application/json' } })
      assert.deepEqual((await inc('hits')).json, { value: 1 })
      assert.deepEqual((await inc('hits', '{}')).json, { value: 2 })
      assert.deepEqual((await inc('hits', '{"by":40}')).json, { value: 42 })
      assert.deepEqual((await inc('hits', '{"by":-2}')).json, { value: 40 })
      const before = Date.now()
      assert.deepEqual((await inc('fresh', '{"by":5,"ttl":60000}')).json, { value: 5 })
      const entry = (await get(server, 'counters', 'fresh')).json
      assert.ok(entry.expiresAt >= before + 60_000)
      await store.set('counters', 'word', 'abc')
      assertProblem(await inc('word', '{"by":1}'), 422, 'ERR_NOT_INTEGER')
      assert.equal(await store.get('counters', 'word'), 'abc')
      // A missing key counts as 0; the answer is 200 with the new value, which is stored.
      assert.deepEqual((await inc('zero', '{"by":0}')).json, { value: 0 })
      assert.equal(await store.get('counters', 'zero'), '0')
      // Past the safe-integer range: the library's RangeError, 400, nothing changed.
      await store.set('counters', 'max', String(Number.MAX_SAFE_INTEGER))
      assertProblem(await inc('max', '{"by":1}'), 400, 'ERR_INVALID')
      assert.equal(await store.get('counters', 'max'), String(Number.MAX_SAFE_INTEGER))
    })

    it('increment with malformed JSON, a non-integer by, a bad ttl or an unknown field is 400', async () => {
      const { server, store } = ctx
      const inc = (body) => request(server, 'POST', `${keyPath('counters', 'bad')}/increment`, { body })
      for (const body of ['{', '[]', '"1"', '{"by":1.5}', '{"by":"1"}', '{"ttl":0}', '{"ttl":"5"}', '{"step":1}', 'null']) {
        assertProblem(await inc(body), 400, 'ERR_INVALID')
      }
      assertProblem(await inc(`{"by":${Number.MAX_SAFE_INTEGER + 10}}`), 400, 'ERR_INVALID')
      assert.equal(await store.get('counters', 'bad'), undefined)
    })
  })
}
