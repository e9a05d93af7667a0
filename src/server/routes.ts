/**
 * The `/v1` routes: groups, keys, counters, templates and the watch stream,
 * each a thin call into the library through the request's principal.
 *
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ENTRY_PAGE } from '../entry-page.js'
import { SET_REPORTING } from '../operations.js'
import { methodNotAllowed } from './method-not-allowed.js'
import { Problem } from './problem.js'
import { TurnBatch } from './turn-batch.js'
import type { EventStreams } from './sse.js'

interface GroupParams {
  group: string
}
interface KeyParams extends GroupParams {
  key: string
}

const WHOLE = '^(0|[1-9][0-9]{0,15})$'
/** A ttl in ms as decimal text (a fraction allowed, as the library takes any finite ttl above 0; 0 is its RangeError). */
const DECIMAL = '^[0-9]{1,20}(\\.[0-9]{1,20})?$'

function query(properties: Record<string, object>): object {
  return { type: 'object', properties, additionalProperties: false }
}
const groupParams = { type: 'object', properties: { group: { type: 'string' } }, required: ['group'] }
const keyParams = { type: 'object', properties: { group: { type: 'string' }, key: { type: 'string' } }, required: ['group', 'key'] }
const text = { type: 'string' }

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A request body as UTF-8 text, byte for byte; invalid UTF-8 is a 400. */
export function bodyText(body: unknown): string {
  if (body === undefined || body === null) return ''
  if (!(body instanceof Uint8Array)) throw new Problem('ERR_INVALID', 'the request body could not be read')
  try {
    return strictUtf8.decode(body)
  } catch {
    throw new Problem('ERR_INVALID', 'the request body is not valid UTF-8')
  }
}

const ETAG = /^"([1-9][0-9]{0,15})"$/

/** The revision of an `If-Match: "<revision>"` header; undefined when absent. */
function ifMatch(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match']
  if (header === undefined) return undefined
  const revision = ETAG.exec(header.trim())?.[1]
  if (revision === undefined || !Number.isSafeInteger(Number(revision))) {
    throw new Problem('ERR_INVALID', 'If-Match must be one revision in quotes, as the ETag gives it: "<positive integer>"')
  }
  if (request.headers['if-none-match'] !== undefined) throw new Problem('ERR_INVALID', 'send If-Match or If-None-Match, not both')
  return Number(revision)
}

const etag = (revision: number): string => `"${revision}"`

function optionalNumber(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value)
}

/** Registers the `/v1` routes on `app`. */
export function registerRoutes(app: FastifyInstance, streams: EventStreams): void {
  app.get<{ Querystring: { prefix?: string } }>(
    '/v1/groups',
    { schema: { querystring: query({ prefix: text }) } },
    async (request) => ({ groups: await request.principal.target.groups(request.query.prefix ?? '') }),
  )
  methodNotAllowed(app, '/v1/groups', ['GET', 'HEAD'])

  app.get<{ Params: GroupParams }>('/v1/groups/:group', { schema: { params: groupParams, querystring: query({}) } }, async (request) => {
    const { group } = request.params
    return { group, count: await request.principal.target.count(group) }
  })
  app.delete<{ Params: GroupParams }>(
    '/v1/groups/:group',
    { schema: { params: groupParams, querystring: query({}) }, config: { need: 'write' } },
    async (request) => ({ deleted: await request.principal.target.deleteGroup(request.params.group) }),
  )
  methodNotAllowed(app, '/v1/groups/:group', ['GET', 'HEAD', 'DELETE'])

  app.get<{ Params: GroupParams; Querystring: { prefix?: string; after?: string; limit?: string } }>(
    '/v1/groups/:group/keys',
    { schema: { params: groupParams, querystring: query({ prefix: text, after: text, limit: { type: 'string', pattern: WHOLE } }) } },
    async (request) => {
      const { group } = request.params
      const { prefix, after, limit } = request.query
      // One read: each key with its revision and expiry, as of one snapshot. The library checks the limit (1 to 10,000).
      const page = await request.principal.target[ENTRY_PAGE](group, { prefix, after, limit: optionalNumber(limit) })
      const entries = page.entries.map(([key, value, expiresAt, revision]) => ({ key, value, revision, expiresAt }))
      return page.next === undefined ? { entries } : { entries, next: page.next }
    },
  )
  methodNotAllowed(app, '/v1/groups/:group/keys', ['GET', 'HEAD'])

  registerKeyRoutes(app)

  app.post<{ Params: GroupParams; Querystring: { strict?: 'true' | 'false' } }>(
    '/v1/groups/:group/render',
    { schema: { params: groupParams, querystring: query({ strict: { type: 'string', enum: ['true', 'false'] } }) } },
    async (request, reply) => {
      const template = bodyText(request.body)
      const result = await request.principal.target.render(template, request.params.group, { strict: request.query.strict === 'true' })
      // `text/plain` as HTTP.md names it; the bytes are UTF-8, as every body of the API.
      return reply.type('text/plain').send(result)
    },
  )
  methodNotAllowed(app, '/v1/groups/:group/render', ['POST'])

  app.get<{ Querystring: { group?: string; key?: string; since?: string; access_token?: string } }>(
    '/v1/watch',
    {
      exposeHeadRoute: false,
      config: { queryToken: true },
      schema: { querystring: query({ group: text, key: text, since: { type: 'string', pattern: WHOLE }, access_token: text }) },
    },
    async (request, reply) => {
      // An empty Last-Event-ID is no id at all (an EventSource never sends one): `since` applies.
      const lastEventId = (request.headers['last-event-id'] as string | undefined)?.trim()
      let since = optionalNumber(request.query.since)
      if (lastEventId !== undefined && lastEventId !== '') {
        if (!new RegExp(WHOLE).test(lastEventId)) throw new Problem('ERR_INVALID', 'Last-Event-ID must be a revision: a whole number')
        since = Number(lastEventId)
      }
      const { target, namespace } = request.principal
      const headers = reply.getHeaders() as Record<string, string>
      await streams.open(reply.raw, headers, { target, namespace, group: request.query.group ?? '*', key: request.query.key ?? '*', since }, () =>
        reply.hijack(),
      )
    },
  )
  methodNotAllowed(app, '/v1/watch', ['GET'])
}

function registerKeyRoutes(app: FastifyInstance): void {
  const url = '/v1/groups/:group/keys/:key'
  // Unconditional PUTs of one turn start together (see TurnBatch).
  const writes = new TurnBatch()
  const entry = {
    type: 'object',
    properties: { group: text, key: text, value: text, revision: { type: 'integer' }, expiresAt: { type: ['integer', 'null'] } },
    required: ['group', 'key', 'value', 'revision', 'expiresAt'],
  }
  // The response schema lets Fastify serialise the entry with a compiled function.
  app.get<{ Params: KeyParams }>(url, { schema: { params: keyParams, querystring: query({}), response: { 200: entry } } }, async (request, reply) => {
    const { group, key } = request.params
    const entry = await request.principal.target.getEntry(group, key)
    if (entry === undefined) throw new Problem('ERR_NOT_FOUND', 'no live key by that name')
    const tag = etag(entry.revision)
    reply.header('etag', tag)
    const inm = request.headers['if-none-match']
    if (inm !== undefined && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === tag))) {
      return reply.code(304).send()
    }
    return { group, key, ...entry }
  })

  app.put<{ Params: KeyParams; Querystring: { ttl?: string } }>(
    url,
    { schema: { params: keyParams, querystring: query({ ttl: { type: 'string', pattern: DECIMAL } }) }, config: { need: 'write' } },
    async (request, reply) => putKey(request, reply, writes),
  )

  app.delete<{ Params: KeyParams }>(url, { schema: { params: keyParams, querystring: query({}) }, config: { need: 'write' } }, async (request, reply) => {
    const { group, key } = request.params
    if (request.headers['if-none-match'] !== undefined && request.headers['if-match'] === undefined) {
      throw new Problem('ERR_INVALID', 'DELETE takes If-Match, not If-None-Match')
    }
    const ifRevision = ifMatch(request)
    const target = request.principal.target
    const deleted = await target.delete(group, key, ifRevision === undefined ? undefined : { ifRevision })
    if (!deleted && ifRevision !== undefined) throw new Problem('ERR_PRECONDITION_FAILED', `the key is not at revision ${ifRevision}`)
    if (!deleted) throw new Problem('ERR_NOT_FOUND', 'no live key by that name')
    return reply.code(204).send()
  })
  methodNotAllowed(app, url, ['GET', 'HEAD', 'PUT', 'DELETE'])

  app.post<{ Params: KeyParams; Body: { by?: number; ttl?: number } }>(
    `${url}/increment`,
    {
      schema: {
        params: keyParams,
        querystring: query({}),
        body: {
          type: 'object',
          properties: { by: { type: 'integer' }, ttl: { type: 'number', exclusiveMinimum: 0 } },
          additionalProperties: false,
        },
      },
      config: { need: 'write' },
      // The body arrives as bytes: read it as JSON here, so that the schema checks it.
      preValidation: async (request: FastifyRequest) => {
        const source = bodyText(request.body)
        try {
          request.body = source.trim() === '' ? {} : (JSON.parse(source) as unknown)
        } catch {
          throw new Problem('ERR_INVALID', 'the body must be JSON: {"by"?: integer, "ttl"?: ms}')
        }
      },
    },
    async (request) => {
      const { group, key } = request.params
      const { by, ttl } = request.body
      const value = await request.principal.target.increment(group, key, by ?? 1, ttl === undefined ? undefined : { ttl })
      return { value }
    },
  )
  methodNotAllowed(app, `${url}/increment`, ['POST'])
}

async function putKey(
  request: FastifyRequest<{ Params: KeyParams; Querystring: { ttl?: string } }>,
  reply: FastifyReply,
  writes: TurnBatch,
): Promise<FastifyReply> {
  const { group, key } = request.params
  const value = bodyText(request.body)
  const ttl = optionalNumber(request.query.ttl)
  const ifRevision = ifMatch(request)
  const inm = request.headers['if-none-match']
  if (inm !== undefined && inm.trim() !== '*') throw new Problem('ERR_INVALID', 'PUT takes If-None-Match: * only (create the key only if absent)')
  const options = ttl === undefined ? {} : { ttl }
  const target = request.principal.target
  let revision: number | false
  let created: boolean
  if (ifRevision !== undefined) {
    revision = await writes.run(() => target.set(group, key, value, { ...options, ifRevision }))
    if (revision === false) throw new Problem('ERR_PRECONDITION_FAILED', `the key is not at revision ${ifRevision}`)
    created = false
  } else if (inm !== undefined) {
    revision = await writes.run(() => target.set(group, key, value, { ...options, ifAbsent: true }))
    if (revision === false) throw new Problem('ERR_PRECONDITION_FAILED', 'the key exists')
    created = true
  } else {
    // One write that reads whether the key was live, so that 201 and 200 are true against any other writer.
    ;[created, revision] = await writes.run(() => target[SET_REPORTING](group, key, value, options))
  }
  return reply
    .code(created ? 201 : 200)
    .header('etag', etag(revision))
    .send({ revision })
}
