// Helpers of the server tests: a server on a real port, raw HTTP requests
// (paths sent exactly as given, `..` and all), and a reader of event streams.
import http from 'node:http'
import { buildServer } from '../../dist/server/app.js'
import { TokenTable } from '../../dist/server/tokens.js'


/**
 * Starts a server for `store` on 127.0.0.1 and a free port; `close()` stops
 * it. `tokens` is the tokens file's content, as an array.
 */
export async function serve(store, { tokens, ...options } = {}) {
  const app = buildServer(store, { log: () => {}, ...options, tokens: tokens === undefined ? undefined : new TokenTable(tokens) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address()
  const agent = new http.Agent({ keepAlive: true })
  return {
    app,
    port,
    base: `http://127.0.0.1:${port}`,
    agent,
    close: async () => {
      agent.destroy()
      await app.close()
    },
  }
}

/** A path segment, percent-encoded the way a URL-standard client encodes it. */
export const seg = (name) => encodeURIComponent(name)

/** `/v1/groups/<group>/keys/<key>`, both encoded. */
export const keyPath = (group, key) => `/v1/groups/${seg(group)}/keys/${seg(key)}`

/**
 * Sends one request with `path` as it is. Answers the status, headers, body
 * bytes, text and (for JSON bodies) the parsed JSON.
 */
export function request(server, method, path, { headers = {}, body, token } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers }
    if (token !== undefined) h.authorization = `Bearer ${token}`
    if (body !== undefined && h['content-length'] === undefined) h['content-length'] = Buffer.byteLength(body)
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path, headers: h, agent: server.agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const bytes = Buffer.concat(chunks)
        const text = bytes.toString('utf8')
        const type = res.headers['content-type'] ?? ''
        const json = /json/.test(type) && text !== '' ? JSON.parse(text) : undefined
        resolve({ status: res.statusCode, headers: res.headers, bytes, text, json })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Opens an event stream; `next()` answers the next message
 * (`{ id, event, data }` with data parsed), `comments` counts comment lines.
 */
export function openStream(server, path, { headers = {}, token } = {}) {
  return new Promise((resolve, reject) => {
    const h = { accept: 'text/event-stream', ...headers }
    if (token !== undefined) h.authorization = `Bearer ${token}`
    const req = http.request({ host: '127.0.0.1', port: server.port, path, headers: h, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }))
        return
      }
      const messages = []
      const waiting = []
      const stream = { status: 200, headers: res.headers, comments: 0, ended: false, res, req }
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (text) => {
        buffered += text
        let i
        while ((i = buffered.indexOf('\n\n')) !== -1) {
          const block = buffered.slice(0, i)
          buffered = buffered.slice(i + 2)
          const message = {}
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) stream.comments++
            else if (line.startsWith('id: ')) message.id = line.slice(4)
            else if (line.startsWith('event: ')) message.event = line.slice(7)
            else if (line.startsWith('data: ')) message.data = JSON.parse(line.slice(6))
          }
          if (message.id !== undefined) messages.push(message)
        }
        while (messages.length > 0 && waiting.length > 0) waiting.shift().resolve(messages.shift())
      })
      res.on('close', () => {
        stream.ended = true
        for (const w of waiting.splice(0)) w.reject(new Error('the stream ended'))
      })
      stream.next = () =>
        messages.length > 0 ? Promise.resolve(messages.shift()) : new Promise((resolve, reject) => waiting.push({ resolve, reject }))
      stream.take = async (n) => {
        const out = []
        for (let i = 0; i < n; i++) out.push(await stream.next())
        return out
      }
      stream.pending = () => messages.length
      stream.close = () => req.destroy()
      resolve(stream)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Polls `probe` until it answers a truthy value (waiting for a state, never asserting a time). */
export async function until(what, probe, attempts = 500) {
  for (let i = 0; i < attempts; i++) {
    const value = await probe()
    if (value) return value
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}
