// Jobs held until the end of a turn of the event loop (src/server/turn-batch.ts):
// the batch itself, and the server's answers, which leave together once
// the turn has handled every request that arrived in it.
import assert from 'node:assert/strict'
import net from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { Store } from 'groupstore'
import { TurnBatch } from '../dist/server/turn-batch.js'
import { serve } from './server/http.js'

describe('TurnBatch', () => {
  it('runs the jobs of a turn together at its end, in order, and those of the next turn at the next one', async () => {
    const batch = new TurnBatch()
    const ran = []
    batch.defer(() => ran.push('a'))
    batch.defer(() => ran.push('b'))
    await Promise.resolve()
    assert.deepEqual(ran, [], 'nothing runs within the turn')
    await nextTurn()
    assert.deepEqual(ran, ['a', 'b'])
    batch.defer(() => ran.push('c'))
    await nextTurn()
    assert.deepEqual(ran, ['a', 'b', 'c'])
  })

  it('run answers what the job answers, and a job that throws rejects without stopping the others', async () => {
    const batch = new TurnBatch()
    const failing = batch.run(() => {
      throw new Error('at once')
    })
    const rejecting = batch.run(() => Promise.reject(new Error('later')))
    const answering = batch.run(() => Promise.resolve(42))
    await assert.rejects(failing, /at once/)
    await assert.rejects(rejecting, /later/)
    assert.equal(await answering, 42)
  })
})

describe('groupstore serve: answers of one turn', () => {
  it('sends the answers to requests that arrived in one turn after all of them were handled, each of them whole', async (t) => {
    const store = await Store.open()
    await store.set('g', 'k', 'value')
    const server = await serve(store)
    t.after(async () => {
      await server.close()
      await store.close()
    })
    const count = 5
    // For each write of an answer, how many requests the server had handled by then.
    let handled = 0
    const seenAtWrite = []
    server.app.server.on('request', () => handled++)
    let connections = 0
    server.app.server.on('connection', (socket) => {
      connections++
      for (const name of ['_write', '_writev']) {
        const original = socket[name].bind(socket)
        socket[name] = (...args) => {
          seenAtWrite.push(handled)
          return original(...args)
        }
      }
    })
    const sockets = await Promise.all(
      Array.from({ length: count }, () => new Promise((resolve, reject) => net.connect(server.port, '127.0.0.1').on('connect', function () { resolve(this) }).on('error', reject))),
    )
    const answers = sockets.map(
      (socket) =>
        new Promise((resolve, reject) => {
          let received = ''
          socket.setEncoding('latin1')
          socket.on('data', (chunk) => {
            received += chunk
            if (received.endsWith('}')) resolve(received)
          })
          socket.on('error', reject)
        }),
    )
    // Once the server holds every connection, the requests are written in one go, so that it finds all of them in one turn.
    while (connections < count) await nextTurn()
    for (const socket of sockets) socket.write('GET /v1/groups/g/keys/k HTTP/1.1\r\nHost: x\r\n\r\n')
    for (const text of await Promise.all(answers)) assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*"value":"value"/)
    for (const socket of sockets) socket.destroy()
    assert.deepEqual(seenAtWrite, Array(count).fill(count), 'no answer left before the turn had handled every request')
  })
})
