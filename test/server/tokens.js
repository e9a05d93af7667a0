// Tokens, access levels and tenant scopes of the HTTP contract, on the
// suite's backend: names relative to the scope on every route, quotas
// (which the backend enforces atomically) and scoped event streams.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { keyPath, openStream, request, seg, serve } from './http.js'
import { assertProblem } from './suite.js'

const TOKENS = [
  { token: 'admin-token', access: 'admin' },
  { token: 'read-token', access: 'read' },
  { token: 'write-token', access: 'write' },
  { token: 'scoped-token', scope: 'sc', access: 'write' },
  { token: 'scoped-read-token', scope: 'sc', access: 'read' },
  { token: 'keys-quota-token', scope: 'qk', access: 'write', quota: { maxKeys: 3 } },
  { token: 'groups-quota-token', scope: 'qg', access: 'write', quota: { maxGroups: 2 } },
]

export function tokenTests(ctx) {
  describe('tokens and scopes', { timeout: 30_000 }, () => {
    // A second server on the suite's store, with a tokens file.
    let server
    before(async () => {
      server = await serve(ctx.store, { tokens: TOKENS, streams: { heartbeat: 100, flushDelay: 1 } })
    })
    after(() => server?.close())

    it('no token or an unknown one is 401 on every route but /healthz, before any 404 or 405', async () => {
      const routes = [
        ['GET', '/v1/groups'],
        ['GET', '/v1/groups/t1'],
        ['DELETE', '/v1/groups/t1'],
        ['GET', '/v1/groups/t1/keys'],
        ['GET', keyPath('t1', 'k')],
        ['PUT', keyPath('t1', 'k'), 'v'],
        ['DELETE', keyPath('t1', 'k')],
        ['POST', `${keyPath('t1', 'k')}/increment`, '{}'],
        ['POST', '/v1/groups/t1/render', 'x'],
        ['GET', '/v1/watch'],
        ['GET', '/v1/nope'],
        ['PATCH', keyPath('t1', 'k'), ''],
      ]
      for (const [method, path, body] of routes) {
        for (const token of [undefined, 'unknown-token']) {
          assertProblem(await request(server, method, path, { token, body }), 401, 'ERR_UNAUTHORIZED')
        }
      }
      assertProblem(await request(server, 'GET', '/v1/watch?access_token=unknown-token'), 401, 'ERR_UNAUTHORIZED')
      assert.deepEqual((await request(server, 'GET', '/healthz')).json, { ok: true })
      assert.equal(await ctx.store.get('t1', 'k'), undefined)
    })

    it('a read token reads, watches and renders; every write is 403 and changes nothing', async (t) => {
      const { store } = ctx
      await store.set('t2', 'k', 'v')
      const token = 'read-token'
      assert.equal((await request(server, 'GET', keyPath('t2', 'k'), { token })).json.value, 'v')
      assert.deepEqual((await request(server, 'GET', '/v1/groups/t2', { token })).json, { group: 't2', count: 1 })
      assert.equal((await request(server, 'GET', '/v1/groups/t2/keys', { token })).json.entries.length, 1)
      assert.ok((await request(server, 'GET', '/v1/groups?prefix=t2', { token })).json.groups.includes('t2'))
      assert.equal((await request(server, 'POST', '/v1/groups/t2/render', { token, body: '{{ k }}' })).text, 'v')
      const stream = await openStream(server, '/v1/watch?group=t2', { token })
      t.after(() => stream.close())
      assert.equal(stream.status, 200)
      for (const [method, path, body] of [
        ['PUT', keyPath('t2', 'k'), 'x'],
        ['PUT', keyPath('t2', 'new'), 'x'],
        ['DELETE', keyPath('t2', 'k')],
        ['DELETE', '/v1/groups/t2'],
        ['POST', `${keyPath('t2', 'n')}/increment`, '{}'],
      ]) {
        assertProblem(await request(server, method, path, { token, body }), 403, 'ERR_FORBIDDEN')
      }
      assert.deepEqual({ ...(await store.getAll('t2')) }, { k: 'v' })
      // A write token writes.
      assert.equal((await request(server, 'PUT', keyPath('t2', 'k'), { token: 'write-token', body: 'w' })).status, 200)
      assert.equal(await store.get('t2', 'k'), 'w')
    })

    it('a scoped token works inside its namespace on every route, names relative to it', async () => {
      const { store } = ctx
      const token = 'scoped-token'
      const put = await request(server, 'PUT', keyPath('cfg', 'k'), { token, body: 'mine' })
      assert.equal(put.status, 201)
      assert.equal(put.headers.etag, `"${put.json.revision}"`)
      assert.equal(await store.get('sc:cfg', 'k'), 'mine')
      assert.deepEqual((await request(server, 'GET', keyPath('cfg', 'k'), { token })).json, {
        group: 'cfg',
        key: 'k',
        value: 'mine',
        revision: put.json.revision,
        expiresAt: null,
      })
      assert.deepEqual((await request(server, 'POST', `${keyPath('cfg', 'n')}/increment`, { token, body: '{"by":3}' })).json, { value: 3 })
      assert.equal(await store.get('sc:cfg', 'n'), '3')
      assert.deepEqual((await request(server, 'GET', '/v1/groups/cfg', { token })).json, { group: 'cfg', count: 2 })
      const page = (await request(server, 'GET', '/v1/groups/cfg/keys', { token })).json
      assert.deepEqual(page.entries.map((e) => [e.key, e.value]), [['k', 'mine'], ['n', '3']])
      assert.equal((await request(server, 'POST', '/v1/groups/cfg/render', { token, body: '{{ k }}/{{ n }}' })).text, 'mine/3')
      await request(server, 'PUT', keyPath('a/b', 'k'), { token, body: 'x' })
      assert.deepEqual((await request(server, 'GET', '/v1/groups', { token })).json, { groups: ['a/b', 'cfg'] })
      assert.deepEqual((await request(server, 'GET', '/v1/groups?prefix=c', { token })).json, { groups: ['cfg'] })
      assert.equal((await request(server, 'DELETE', keyPath('cfg', 'n'), { token })).status, 204)
      assert.deepEqual((await request(server, 'DELETE', `/v1/groups/${seg('a/b')}`, { token })).json, { deleted: 1 })
      assert.equal(await store.count('sc:a/b'), 0)
      // The admin token reaches the same keys by their full names.
      assert.equal((await request(server, 'GET', keyPath('sc:cfg', 'k'), { token: 'admin-token' })).json.value, 'mine')
    })

    it('a scoped token never reads, writes, counts, lists or watches outside its namespace', async (t) => {
      const { store } = ctx
      const stream = await openStream(server, '/v1/watch', { token: 'scoped-read-token' })
      t.after(() => stream.close())
      // Names that a prefix match would confuse with the namespace's, or LIKE patterns would match.
      const outside = ['scx:g', 'sc', 's%:g', 's_:g', 'g', 'other:sc:g']
      for (const group of outside) await store.set(group, 'k', 'secret')
      await store.set('sc:%', 'k', 'own')
      await store.set('sc:_x', 'k', 'own')
      const token = 'scoped-token'
      const listed = (await request(server, 'GET', '/v1/groups', { token })).json.groups
      assert.ok(listed.includes('%') && listed.includes('_x'), listed.join())
      for (const group of listed) assert.ok((await store.count(`sc:${group}`)) > 0, `${group} is the scope's own`)
      assert.deepEqual((await request(server, 'GET', `/v1/groups?prefix=${seg('%')}`, { token })).json, { groups: ['%'] })
      assert.deepEqual((await request(server, 'GET', `/v1/groups?prefix=${seg('_')}`, { token })).json, { groups: ['_x'] })
      for (const name of [...outside, 'x:g', '', ':g', '..']) {
        assertProblem(await request(server, 'GET', keyPath(name, 'k'), { token }), 404, 'ERR_NOT_FOUND')
        assert.deepEqual((await request(server, 'GET', `/v1/groups/${seg(name)}`, { token })).json, { group: name, count: 0 })
        assert.deepEqual((await request(server, 'GET', `/v1/groups/${seg(name)}/keys`, { token })).json, { entries: [] })
        assert.equal((await request(server, 'POST', `/v1/groups/${seg(name)}/render`, { token, body: '{{ k }}' })).text, '')
        assertProblem(await request(server, 'DELETE', keyPath(name, 'k'), { token }), 404, 'ERR_NOT_FOUND')
        assert.deepEqual((await request(server, 'DELETE', `/v1/groups/${seg(name)}`, { token })).json, { deleted: 0 })
      }
      for (const group of outside) assert.equal(await store.get(group, 'k'), 'secret', `${group} untouched`)
      // The stream carries the namespace's changes only, group names relative.
      const own = await stream.take(2)
      assert.deepEqual(own.map((m) => [m.event, m.data.group, m.data.value]), [['set', '%', 'own'], ['set', '_x', 'own']])
      await store.set('sc:mark', 'k', 'end')
      assert.equal((await stream.next()).data.group, 'mark')
    })

    it('a scoped stream resumed with since or Last-Event-ID replays its namespace only, names relative', async (t) => {
      const { store } = ctx
      const start = await store.revision()
      await store.set('scx:g', 'k', 'secret')
      await store.set('sc:r', 'a', '1')
      await store.set('g', 'k', 'secret')
      await store.set('sc:r', 'b', '2')
      const bySince = await openStream(server, `/v1/watch?since=${start}`, { token: 'scoped-read-token' })
      t.after(() => bySince.close())
      const replayed = await bySince.take(2)
      assert.deepEqual(replayed.map((m) => [m.data.group, m.data.key]), [['r', 'a'], ['r', 'b']])
      assert.equal(replayed[0].id, String((await store.getEntry('sc:r', 'a')).revision))
      const resumeHeaders = { 'last-event-id': replayed[0].id }
      const byId = await openStream(server, '/v1/watch?group=r&since=0&access_token=scoped-read-token', { headers: resumeHeaders })
      t.after(() => byId.close())
      assert.deepEqual((await byId.next()).data, replayed[1].data)
      await store.set('sc:r', 'c', '3')
      assert.equal((await byId.next()).data.key, 'c')
      assert.equal((await bySince.next()).data.key, 'c')
    })

    it('a quota is 409 ERR_QUOTA_EXCEEDED with namespace and limit, and holds against concurrent writes', async () => {
      const { store } = ctx
      const put = (token, group, key, body = 'v') => request(server, 'PUT', keyPath(group, key), { token, body })
      const keys = await Promise.all(Array.from({ length: 12 }, (_, i) => put('keys-quota-token', 'g', `k${i}`)))
      assert.deepEqual(keys.map((r) => r.status).sort(), [...Array(3).fill(201), ...Array(9).fill(409)])
      for (const over of keys.filter((r) => r.status === 409)) {
        assertProblem(over, 409, 'ERR_QUOTA_EXCEEDED')
        assert.deepEqual([over.json.namespace, over.json.limit], ['qk', 'maxKeys'])
      }
      assert.equal(await store.countAll('qk:'), 3)
      const written = keys.findIndex((r) => r.status === 201)
      assert.equal((await put('keys-quota-token', 'g', `k${written}`, 'again')).status, 200, 'replacing uses no quota')
      const counter = await request(server, 'POST', `${keyPath('g', 'n')}/increment`, { token: 'keys-quota-token', body: '{}' })
      assertProblem(counter, 409, 'ERR_QUOTA_EXCEEDED')
      const groups = await Promise.all(Array.from({ length: 12 }, (_, i) => put('groups-quota-token', `g${i}`, 'k')))
      assert.deepEqual(groups.map((r) => r.status).sort(), [...Array(2).fill(201), ...Array(10).fill(409)])
      const over = groups.find((r) => r.status === 409)
      assertProblem(over, 409, 'ERR_QUOTA_EXCEEDED')
      assert.deepEqual([over.json.namespace, over.json.limit], ['qg', 'maxGroups'])
      assert.equal((await store.groups('qg:')).length, 2)
    })
  })
}
