/**
 * The HTTP server of `groupstore serve`, as a Fastify instance built from an
 * open Store: the `/v1` API, the watch stream, `/healthz` and the console.
 * The command line and the tests build it the same way.
 *
 * @module
 */
import { createServer, METHODS } from 'node:http'
import type { RequestListener } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SHARE_READS } from '../store.js'
import type { Store } from '../store.js'
import { Authenticator } from './auth.js'
import type { Need, Principal } from './auth.js'
import { registerConsole } from './console.js'
import { methodNotAllowed } from './method-not-allowed.js'
import { clientErrorResponse, describeFailure, Problem, sendProblem, toProblem } from './problem.js'
import { registerRoutes } from './routes.js'
import { EventStreams } from './sse.js'
import type { StreamOptions } from './sse.js'
import type { TokenTable } from './tokens.js'
import { TurnBatch } from './turn-batch.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The access the route needs; `public` routes need no token. */
    need?: Need
    /** The route also takes the token as `?access_token=` (EventSource cannot set headers). */
    queryToken?: boolean
  }
  interface FastifyRequest {
    /** Who sent the request; set before any handler runs. */
    principal: Principal
  }
}

/** Options of {@link buildServer}. */
export interface ServerOptions {
  /** The tokens; undefined gives every request full access. */
  tokens?: TokenTable | undefined
  /** Largest request body in bytes, on every route. @default 1048576 */
  maxBody?: number
  /** ms a client has to send its request headers. @default 10000 */
  headersTimeout?: number
  /** ms a client has to send its whole request. @default 30000 */
  requestTimeout?: number
  /** Event stream limits. */
  streams?: StreamOptions
  /** Where the server reports its own failures. @default a line on stderr */
  log?: (line: string) => void
}

/** Default {@link ServerOptions.maxBody}: 1 MiB. */
export const DEFAULT_MAX_BODY = 1024 * 1024

/** The most bytes of request line and headers taken (Node's default is 16 KiB). */
const MAX_HEADER_SIZE = 512 * 1024

/** True when `text` decodes as percent-encoded UTF-8. */
function validPercentEncoding(text: string): boolean {
  try {
    decodeURIComponent(text)
    return true
  } catch {
    return false
  }
}

/** A media type as RFC 9110 writes one (`type/subtype`, then parameters); anything else is read as bytes. */
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+[\t ]*(;[\t ]*[!#$%&'*+.^_`|~0-9A-Za-z-]+=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[^"\\]|\\.)*")[\t ]*)*$/

/** ms between closings of idle connections while the server stops. */
const IDLE_SWEEP_MS = 20

/** ms a connection refused with 413 goes on reading (and dropping) what its client still sends. */
const LINGER_MS = 2000

/**
 * Closes `socket` gently once the answer now being sent (with `Connection:
 * close`) is written. A client refused with 413 may still be sending the body
 * it announced; a socket closed with bytes unread answers them with a reset,
 * which makes a client that is still writing lose the 413 it was sent. So the
 * server ends its side, and reads and drops what still arrives until the
 * client closes, for {@link LINGER_MS} at most.
 */
function lingerAfterAnswer(socket: Socket): void {
  // Node calls destroySoon on a connection once its last answer is written.
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (this.destroyed) return
    const timer = setTimeout(() => this.destroy(), LINGER_MS)
    timer.unref()
    this.once('close', () => clearTimeout(timer))
    this.once('end', () => this.destroy())
    this.end()
    this.resume()
  }
}

/** True for a request that only reads: GET or HEAD. */
function isRead(request: FastifyRequest): boolean {
  return request.method === 'GET' || request.method === 'HEAD'
}

/** Headers of every API response: never sniffed as another type, never cached. */
const API_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
}

/**
 * Builds the server for `store` (not yet listening). Closing it ends every
 * event stream; the store stays open and is the caller's to close.
 *
 * @example
 * ```ts
 * const app = buildServer(store, { tokens: TokenTable.parse(text) })
 * await app.listen({ host: '127.0.0.1', port: 8080 })
 * ```
 */
export function buildServer(store: Store, options: ServerOptions = {}): FastifyInstance {
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const auth = new Authenticator(store, options.tokens)
  const streams = new EventStreams(store, options.streams, log)
  const app = Fastify({
    logger: false,
    bodyLimit: maxBody,
    routerOptions: { maxParamLength: 65_536, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false },
    // Node's own timeouts bound slow clients; headers are checked every second.
    serverFactory: (handler: RequestListener) =>
      createServer(
        {
          headersTimeout: options.headersTimeout ?? 10_000,
          requestTimeout: options.requestTimeout ?? 30_000,
          connectionsCheckingInterval: Math.min(1000, options.headersTimeout ?? 1000),
          // The request line may carry long percent-encoded names: a group and a key of
          // 10,000 characters each, of up to 4 bytes each, take 240 KB encoded.
          maxHeaderSize: MAX_HEADER_SIZE,
        },
        handler,
      ),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // A request that arrives while the server stops is refused below, as problem+json.
    return503OnClosing: false,
    // What Node's parser refuses before any route (headers too large or too slow, malformed HTTP) is problem+json too.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return
      if (socket.writable) socket.write(clientErrorResponse(err, MAX_HEADER_SIZE))
      socket.destroy(err)
    },
    // A path that is not valid percent-encoded UTF-8 matches no route: 401 without a token, else 400.
    frameworkErrors: (_err: Error, request: FastifyRequest, reply: FastifyReply) => {
      try {
        auth.authenticate(request, 'read', false)
      } catch (problem) {
        return sendProblem(reply.headers(API_HEADERS), problem as Problem)
      }
      return sendProblem(reply.headers(API_HEADERS), new Problem('ERR_INVALID', 'the path is not valid percent-encoded UTF-8'))
    },
  })
  // Every method Node's parser takes is routed (CONNECT goes elsewhere in Node), so that a
  // known path asked with TRACE or PROPFIND is a 405 like PATCH, not a 404.
  for (const method of METHODS) {
    if (method !== 'CONNECT' && !app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true })
  }
  app.decorateRequest('principal', null as unknown as Principal)
  let stopping = false

  // Every body is taken as bytes; the routes decide what they mean.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req: FastifyRequest, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body))

  // The answers to reads, complete within the turn their requests arrived in, leave together at
  // its end (see TurnBatch). A write's answer waits for its commit, which answers the writes of a
  // commit group together already: holding it too would only delay it.
  const answers = new TurnBatch()
  app.addHook('onSend', (request: FastifyRequest, _reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
    if (isRead(request)) answers.defer(() => done(null, payload))
    else done(null, payload)
  })
  // A callback hook, not an async one: no promise on every request's path.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    try {
      if (stopping) {
        // Requests in flight finish; one that arrives on a kept-alive connection now is told to come back.
        reply.headers({ ...API_HEADERS, 'retry-after': '1', connection: 'close' })
        throw new Problem('ERR_UNAVAILABLE', 'the server is stopping')
      }
      const config = request.routeOptions.config
      const need = config.need ?? 'read'
      if (need !== 'public') {
        reply.headers(API_HEADERS)
        request.principal = auth.authenticate(request, need, config.queryToken === true)
        // The reads of this turn's requests share one snapshot: under load a turn answers dozens.
        if (isRead(request)) store[SHARE_READS]()
      }
      // A query string that is not valid percent-encoded UTF-8 is refused, as such a path is, rather than read literally.
      const query = request.url.indexOf('?')
      if (query >= 0 && request.url.includes('%', query) && !validPercentEncoding(request.url.slice(query + 1))) {
        throw new Problem('ERR_INVALID', 'the query string is not valid percent-encoded UTF-8')
      }
      // The body is the value whatever its type: a type the framework could not parse is read as bytes too.
      const type = request.headers['content-type']
      if (type !== undefined && !MEDIA_TYPE.test(type)) request.headers['content-type'] = 'application/octet-stream'
      const length = Number(request.headers['content-length'] ?? 0)
      if (length > maxBody) {
        // Refused before reading; the connection is closed, so the rest is never stored.
        reply.header('connection', 'close')
        lingerAfterAnswer(request.raw.socket)
        throw new Problem('ERR_TOO_LARGE', `the request body is ${length} bytes; the limit is ${maxBody}`)
      }
    } catch (err) {
      return done(err as Error)
    }
    done()
  })

  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { problem, internal } = toProblem(err)
    if (internal) log(`groupstore serve: ${request.method} ${request.routeOptions.url ?? 'unknown route'} failed: ${describeFailure(err)}`)
    if (problem.status === 413) {
      reply.header('connection', 'close')
      lingerAfterAnswer(request.raw.socket)
    }
    return sendProblem(reply, problem)
  })
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(reply, new Problem('ERR_NOT_FOUND', `no route answers ${request.method} on this path; see /v1 in the server's documentation`)),
  )

  app.get('/healthz', { config: { need: 'public' } }, async () => ({ ok: true }))
  methodNotAllowed(app, '/healthz', ['GET', 'HEAD'], 'public')
  registerRoutes(app, streams)
  registerConsole(app, auth)

  app.addHook('preClose', async () => {
    stopping = true
    streams.closeAll()
    // Node closes the connections idle now; a request in flight leaves its connection kept alive once
    // answered: close those as they become idle too, so that the server stops once its last answer is sent.
    if (app.server.listening) {
      const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS)
      sweep.unref()
      app.server.once('close', () => clearInterval(sweep))
    }
  })
  return app
}

