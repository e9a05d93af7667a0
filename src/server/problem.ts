/**
 * Errors as `application/problem+json`: the codes and statuses of the HTTP
 * contract, and the mapping from library errors to them. Nothing of a stack
 * or of the storage's own message reaches a client.
 *
 * @module
 */
import type { FastifyError, FastifyReply } from 'fastify'
import { QuotaExceededError, StoreError } from '../errors.js'

/** The `code` of a problem response. */
export type ProblemCode =
  | 'ERR_INVALID'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_FORBIDDEN'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_QUOTA_EXCEEDED'
  | 'ERR_PRECONDITION_FAILED'
  | 'ERR_TOO_LARGE'
  | 'ERR_TIMEOUT'
  | 'ERR_HEADERS_TOO_LARGE'
  | 'ERR_TEMPLATE'
  | 'ERR_NOT_INTEGER'
  | 'ERR_STORE'
  | 'ERR_UNAVAILABLE'

const TITLES: Record<ProblemCode, [status: number, title: string]> = {
  ERR_INVALID: [400, 'Bad request'],
  ERR_UNAUTHORIZED: [401, 'Unauthorized'],
  ERR_FORBIDDEN: [403, 'Forbidden'],
  ERR_NOT_FOUND: [404, 'Not found'],
  ERR_METHOD_NOT_ALLOWED: [405, 'Method not allowed'],
  ERR_QUOTA_EXCEEDED: [409, 'Quota exceeded'],
  ERR_PRECONDITION_FAILED: [412, 'Precondition failed'],
  ERR_TOO_LARGE: [413, 'Payload too large'],
  // Answered by Node's HTTP parser before any route (see clientErrorResponse).
  ERR_TIMEOUT: [408, 'Request timeout'],
  ERR_HEADERS_TOO_LARGE: [431, 'Request header fields too large'],
  ERR_TEMPLATE: [422, 'Template error'],
  ERR_NOT_INTEGER: [422, 'Not an integer'],
  ERR_STORE: [500, 'Storage failure'],
  ERR_UNAVAILABLE: [503, 'Service unavailable'],
}

/** A problem response to send: thrown by handlers and hooks, answered by the error handler. */
export class Problem extends Error {
  readonly code: ProblemCode
  readonly status: number
  readonly extra: Record<string, string> | undefined

  constructor(code: ProblemCode, detail: string, extra?: Record<string, string>) {
    super(detail)
    this.name = 'Problem'
    this.code = code
    this.status = TITLES[code][0]
    this.extra = extra
  }
}

/** The body of a problem response. */
export function problemBody(problem: Problem): string {
  const [status, title] = TITLES[problem.code]
  return JSON.stringify({ status, code: problem.code, title, detail: problem.message, ...problem.extra })
}

/**
 * Sends `problem` as `application/problem+json` (a 401 with
 * `WWW-Authenticate: Bearer`). The type goes without a charset, as HTTP.md
 * names it (JSON is UTF-8 by definition): bytes, so that the framework adds none.
 */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  // RFC 9110: a 401 names the scheme it wants.
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer')
  return reply.code(problem.status).type('application/problem+json').send(Buffer.from(problemBody(problem)))
}

/**
 * The raw answer to a request that Node's HTTP parser refused before any
 * route saw it (a request line and headers past the limit, a client too
 * slow to send them, a malformed request), as problem+json like every other
 * error; the connection is closed after it. `maxHeaderSize`: the limit, for
 * the message.
 */
export function clientErrorResponse(err: { code?: string }, maxHeaderSize: number): string {
  let problem: Problem
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    problem = new Problem('ERR_TIMEOUT', 'the request line and headers did not arrive in time')
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    problem = new Problem('ERR_HEADERS_TOO_LARGE', `the request line and headers exceed ${maxHeaderSize} bytes`)
  } else {
    problem = new Problem('ERR_INVALID', 'the request is not valid HTTP/1.1')
  }
  const body = problemBody(problem)
  const [status, title] = TITLES[problem.code]
  return (
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n` +
    `Connection: close\r\n\r\n${body}`
  )
}

const LIBRARY_MESSAGE = /^[A-Za-z]+\.[A-Za-z]+: /

function isFastifyError(err: unknown): err is FastifyError {
  return err instanceof Error && typeof (err as FastifyError).code === 'string' && (err as FastifyError).code.startsWith('FST_')
}

/**
 * The problem for any error a request ran into, and whether it is the
 * server's own failure (to be logged). Library argument errors and
 * Fastify's request errors keep their message, which names the argument;
 * storage failures say only that they happened.
 */
export function toProblem(err: unknown): { problem: Problem; internal: boolean } {
  if (err instanceof Problem) return { problem: err, internal: false }
  if (err instanceof QuotaExceededError) {
    return { problem: new Problem('ERR_QUOTA_EXCEEDED', err.message, { namespace: err.namespace, limit: err.limit }), internal: false }
  }
  if (err instanceof StoreError) {
    const code: string = err.code
    if (code === 'ERR_TEMPLATE') return { problem: new Problem('ERR_TEMPLATE', err.message), internal: false }
    if (code === 'ERR_NOT_INTEGER') return { problem: new Problem('ERR_NOT_INTEGER', err.message), internal: false }
    return { problem: new Problem('ERR_STORE', 'the store could not complete the request; the server logged the cause'), internal: true }
  }
  // The library's argument errors name the method (`store.set: …`); any other TypeError is a bug of the server's.
  if ((err instanceof TypeError || err instanceof RangeError) && LIBRARY_MESSAGE.test(err.message)) {
    return { problem: new Problem('ERR_INVALID', err.message), internal: false }
  }
  if (isFastifyError(err)) {
    if (err.validation !== undefined) return { problem: new Problem('ERR_INVALID', err.message), internal: false }
    const status = err.statusCode ?? 500
    if (status === 413) return { problem: new Problem('ERR_TOO_LARGE', 'the request body is larger than the limit'), internal: false }
    if (status >= 400 && status < 500) return { problem: new Problem('ERR_INVALID', err.message), internal: false }
  }
  return { problem: new Problem('ERR_STORE', 'the server could not complete the request; it logged the cause'), internal: true }
}

/** A failure as the server's log gives it: the message, and its cause's when there is one. Never sent to a client. */
export function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : ''
  return `${err.message}${cause}`
}
