// The watch route: Server-Sent Events, filters, resume with since and Last-Event-ID.
import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it } from 'node:test'
import { openStream, request, seg, serve, until } from './http.js'
import { assertProblem } from './suite.js'

export function watchTests(ctx) {
  // A lost event would leave a take() waiting: fail instead of hanging.
  describe('watch', { timeout: 30_000 }, () => {
    it('streams text/event-stream: id = revision, event = type, data = the event as JSON with an ISO timestamp', async (t) => {
      const { server, store } = ctx
      const stream = await openStream(server, '/v1/watch?group=w1')
      t.after(() => stream.close())
      assert.equal(stream.status, 200)
      assert.equal(stream.headers['content-type'], 'text/event-stream')
      await store.set('w1', 'k', 'v\nwith "newline"')
      await store.delete('w1', 'k')
      await store.set('w1', 'x', '1')
      await store.deleteGroup('w1')
      const [set, del, , group] = await stream.take(4)
      assert.equal(set.event, 'set')
      assert.equal(set.id, String(set.data.revision))
      assert.deepEqual(Object.keys(set.data).sort(), ['group', 'key', 'revision', 'timestamp', 'type', 'value'])
      assert.equal(set.data.value, 'v\nwith "newline"')
      assert.equal(new Date(set.data.timestamp).toISOString(), set.data.timestamp)
      assert.equal(del.event, 'delete')
      assert.equal(Number(del.id), set.data.revision + 1)
      assert.deepEqual(Object.keys(del.data).sort(), ['group', 'key', 'revision', 'timestamp', 'type'], 'no value but on set')
      assert.deepEqual([group.event, group.data.group, group.data.key], ['delete_group', 'w1', ''])
    })

    it('without since, a change committed right after the headers arrive is carried', async (t) => {
      const { server, store } = ctx
      for (let i = 0; i < 5; i++) {
        const stream = await openStream(server, `/v1/watch?group=w2&key=k${i}`)
        t.after(() => stream.close())
        await store.set('w2', `k${i}`, String(i))
        const message = await stream.next()
        assert.deepEqual([message.data.key, message.data.value], [`k${i}`, String(i)])
      }
    })

    it('without since, a change another connection commits right after the headers arrive is carried, however busy the store', async (t) => {
      // A server whose store has no subscriber yet: its first stream starts the change feed.
      const store = await ctx.open()
      const other = await ctx.open()
      const server = await serve(store, { streams: { heartbeat: 100, flushDelay: 1 } })
      t.after(async () => {
        await server.close()
        await Promise.all([store.close(), other.close()])
      })
      await other.setMany('w7 busy', Array.from({ length: 200 }, (_, i) => [`k${i}`, 'x'.repeat(10_000)]))
      // Reads that hold every connection the store reads on while the stream opens.
      const busy = Promise.all(Array.from({ length: 30 }, () => store.getAll('w7 busy')))
      const stream = await openStream(server, '/v1/watch?group=w7')
      t.after(() => stream.close())
      await other.set('w7', 'after-headers', '1')
      await busy
      await other.set('w7', 'later', '2')
      assert.equal((await stream.next()).data.key, 'after-headers')
      assert.equal((await stream.next()).data.key, 'later')
    })

    it('group and key filter the events (G and K default to *); a key watch sees its delete_group', async (t) => {
      const { server, store } = ctx
      const all = await openStream(server, '/v1/watch')
      const group = await openStream(server, `/v1/watch?group=${seg('w3/g')}`)
      const key = await openStream(server, `/v1/watch?group=${seg('w3/g')}&key=${seg('a b')}`)
      t.after(() => [all, group, key].forEach((s) => s.close()))
      await store.set('w3/other', 'a b', '0')
      await store.set('w3/g', 'c', '1')
      await store.set('w3/g', 'a b', '2')
      await store.deleteGroup('w3/g')
      const seen = async (stream, n) => (await stream.take(n)).map((m) => `${m.event} ${m.data.group} ${m.data.key}`)
      assert.deepEqual(await seen(all, 4), ['set w3/other a b', 'set w3/g c', 'set w3/g a b', 'delete_group w3/g '])
      assert.deepEqual(await seen(group, 3), ['set w3/g c', 'set w3/g a b', 'delete_group w3/g '])
      assert.deepEqual(await seen(key, 2), ['set w3/g a b', 'delete_group w3/g '])
    })

    it('since=R replays after R; Last-Event-ID takes precedence; a resumed stream has no gap and no duplicate', async (t) => {
      const { server, store } = ctx
      const start = await store.revision()
      for (let i = 0; i < 10; i++) await store.set('w4', `k${i}`, String(i))
      const replay = await openStream(server, `/v1/watch?group=w4&since=${start}`)
      t.after(() => replay.close())
      const first = await replay.take(4)
      assert.deepEqual(first.map((m) => m.data.key), ['k0', 'k1', 'k2', 'k3'])
      replay.close()
      // Written while nobody listens, and while the resumed stream replays.
      for (let i = 10; i < 15; i++) await store.set('w4', `k${i}`, String(i))
      const resumed = await openStream(server, '/v1/watch?group=w4&since=0', { headers: { 'last-event-id': first[3].id } })
      t.after(() => resumed.close())
      const writing = (async () => {
        for (let i = 15; i < 40; i++) await store.set('w4', `k${i}`, String(i))
      })()
      const rest = await resumed.take(36)
      await writing
      assert.deepEqual(
        rest.map((m) => m.data.key),
        Array.from({ length: 36 }, (_, i) => `k${i + 4}`),
      )
      const ids = rest.map((m) => Number(m.id))
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b))
      await store.set('w4', 'after', 'x')
      assert.equal((await resumed.next()).data.key, 'after')
      assert.equal(resumed.pending(), 0)
    })

    it('an empty Last-Event-ID is no id: since applies', async (t) => {
      const { server, store } = ctx
      const start = await store.revision()
      await store.set('w6', 'a', '1')
      await store.set('w6', 'b', '2')
      const stream = await openStream(server, `/v1/watch?group=w6&since=${start + 1}`, { headers: { 'last-event-id': '' } })
      t.after(() => stream.close())
      assert.equal(stream.status, 200)
      assert.equal((await stream.next()).data.key, 'b')
    })

    it('a stream resumed during a burst of writes hands over from history to live with no gap and no duplicate', async (t) => {
      const { server, store } = ctx
      const start = await store.revision()
      for (let i = 0; i < 200; i++) await store.set('w5', `h${i}`, 'x')
      const resumed = await openStream(server, '/v1/watch?group=w5', { headers: { 'last-event-id': String(start) } })
      t.after(() => resumed.close())
      // Concurrent writes: many are committed and published while the stream still reads history.
      const burst = Promise.all(Array.from({ length: 300 }, (_, i) => store.set('w5', `b${i}`, 'y')))
      const got = await resumed.take(500)
      await burst
      const ids = got.map((m) => Number(m.id))
      assert.equal(new Set(ids).size, 500, 'no duplicate')
      assert.deepEqual(ids, Array.from({ length: 500 }, (_, i) => start + 1 + i), 'every revision, in order')
    })

    it('idle streams get a comment line at the heartbeat', async (t) => {
      const stream = await openStream(ctx.server, '/v1/watch?group=quiet')
      t.after(() => stream.close())
      await until('a comment line', () => stream.comments >= 2)
    })

    it('a bad since or Last-Event-ID is 400 before any stream starts', async () => {
      for (const q of ['since=-1', 'since=x', 'since=1.5', 'since=1e3', 'since=', 'since=99999999999999999999', 'since=1&since=2', 'bogus=1']) {
        assertProblem(await request(ctx.server, 'GET', `/v1/watch?${q}`), 400, 'ERR_INVALID')
      }
      for (const id of ['abc', '-1', '1.5', '99999999999999999999']) {
        assertProblem(await request(ctx.server, 'GET', '/v1/watch', { headers: { 'last-event-id': id } }), 400, 'ERR_INVALID')
      }
    })

    it('Last-Event-ID takes precedence over a later since too', async (t) => {
      const { server, store } = ctx
      const start = await store.revision()
      for (const key of ['a', 'b', 'c']) await store.set('w8', key, key)
      const stream = await openStream(server, `/v1/watch?group=w8&since=${start + 2}`, { headers: { 'last-event-id': String(start) } })
      t.after(() => stream.close())
      assert.deepEqual((await stream.take(3)).map((m) => m.data.key), ['a', 'b', 'c'])
    })

    it('each message is exactly id, event and data lines and a blank line; an expiry is an expire event', async (t) => {
      const { server, store } = ctx
      // The stream's text as it arrives, not parsed.
      let text = ''
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/v1/watch?group=w9', agent: false }, (res) => {
        res.setEncoding('utf8').on('data', (d) => (text += d))
      })
      t.after(() => req.destroy())
      await until('the stream to open', () => text !== '')
      const set = await store.set('w9', 'k', 'line\r\nbreak', { ttl: 20 })
      await new Promise((resolve) => setTimeout(resolve, 40))
      assert.equal(await store.get('w9', 'k'), undefined)
      await until('two messages', () => (text.match(/^id: /gm) ?? []).length >= 2)
      const message = /^id: (.*)\nevent: (.*)\ndata: (.*)\n\n/gm
      const messages = [...text.matchAll(message)]
      assert.equal(messages.length, 2, text)
      // Besides them, only comment lines and the reconnection delay.
      assert.match(text.replace(message, ''), /^(:.*\n|retry: \d+\n|\n)*$/)
      const [first, second] = messages.map((m) => ({ id: m[1], event: m[2], data: JSON.parse(m[3]) }))
      assert.deepEqual([first.id, first.event, first.data.value], [String(set), 'set', 'line\r\nbreak'])
      assert.deepEqual([second.event, second.data.type, second.data.group, second.data.key], ['expire', 'expire', 'w9', 'k'])
      assert.equal(second.id, String(second.data.revision))
      assert.ok(second.data.revision > set)
    })

    it('a stream resumed from before the retained history carries missed on its first event, then every later one', async (t) => {
      const store = await ctx.open({ db: 'retained', changeRetention: { maxCount: 3 } })
      const server = await serve(store, { streams: { flushDelay: 1 } })
      t.after(async () => {
        await server.close()
        await store.close()
      })
      const start = await store.revision()
      for (let i = 0; i < 20; i++) await store.set('w10', `k${i}`, 'v')
      await store.purgeExpired()
      const stream = await openStream(server, `/v1/watch?since=${start}`)
      t.after(() => stream.close())
      const first = await stream.next()
      assert.ok(first.data.missed > 0, JSON.stringify(first.data))
      assert.equal(first.data.missed, first.data.revision - start - 1, 'every revision between since and the first one sent')
      assert.equal(first.data.key, `k${first.data.revision - start - 1}`)
      const rest = await stream.take(20 - 1 - first.data.missed)
      assert.deepEqual(rest.map((m) => Number(m.id)), Array.from({ length: rest.length }, (_, i) => first.data.revision + 1 + i))
      assert.ok(rest.every((m) => m.data.missed === undefined))
      await store.set('w10', 'live', 'v')
      assert.equal((await stream.next()).data.key, 'live')
    })
  })
}
