/**
 * Who a request is: the token it presents, what that token may do, and the
 * store (or tenant scope) its requests reach.
 *
 * @module
 */
import type { FastifyRequest } from 'fastify'
import type { Store } from '../store.js'
import type { ScopedStore } from '../scope.js'
import { Problem } from './problem.js'
import type { Access, TokenTable } from './tokens.js'

/** What an authenticated request may reach. */
export interface Principal {
  readonly access: Access
  /** The store, or the scope of the token's namespace. */
  readonly target: Store | ScopedStore
  /** The token's namespace; undefined for the whole store. */
  readonly namespace: string | undefined
}

/** The access a route needs. */
export type Need = 'public' | 'read' | 'write'

const BEARER = /^Bearer[ ]+(\S+)[ ]*$/i

/** The token of a request: `Authorization: Bearer …`, or `?access_token=` where the route allows it. */
function tokenOf(request: FastifyRequest, queryToken: boolean): string | undefined {
  const header = request.headers.authorization
  if (header !== undefined) return BEARER.exec(header)?.[1] ?? ''
  if (queryToken) {
    const value = (request.query as Record<string, unknown> | undefined)?.access_token
    if (typeof value === 'string') return value
  }
  return undefined
}

/** Answers the principal of each request, from a tokens table or, without one, with full access. */
export class Authenticator {
  readonly #tokens: TokenTable | undefined
  readonly #open: Principal
  readonly #principals = new Map<number, Principal>()
  /**
   * The last Authorization header each connection presented and what it
   * granted: a keep-alive client sends the same header on every request, and
   * comparing it with what the same connection sent before reveals nothing
   * that the client does not already know.
   */
  readonly #connections = new WeakMap<object, { header: string; found: Principal }>()

  constructor(store: Store, tokens: TokenTable | undefined) {
    this.#tokens = tokens
    this.#open = principal('admin', store, undefined)
    for (const grant of tokens?.grants ?? []) {
      const scoped = grant.scope === undefined ? store : store.scope(grant.scope, grant.quota === undefined ? undefined : { quota: grant.quota })
      this.#principals.set(grant.entry, principal(grant.access, scoped, grant.scope))
    }
  }

  /** The principal of `request`, or a 401 / 403 problem. */
  authenticate(request: FastifyRequest, need: Exclude<Need, 'public'>, queryToken: boolean): Principal {
    if (this.#tokens === undefined) return this.#open
    const header = request.headers.authorization
    const socket = request.raw.socket
    const known = header === undefined ? undefined : this.#connections.get(socket)
    let found: Principal
    if (known !== undefined && known.header === header) {
      found = known.found
    } else {
      const token = tokenOf(request, queryToken)
      if (token === undefined) throw new Problem('ERR_UNAUTHORIZED', 'a token is needed: send Authorization: Bearer <token>')
      const grant = this.#tokens.find(token)
      if (grant === undefined) throw new Problem('ERR_UNAUTHORIZED', 'the token is not known')
      found = this.#principals.get(grant.entry) as Principal
      if (header !== undefined) this.#connections.set(socket, { header, found })
    }
    if (need === 'write' && found.access === 'read') throw new Problem('ERR_FORBIDDEN', 'this token may only read')
    return found
  }
}

function principal(access: Access, store: Store | ScopedStore, namespace: string | undefined): Principal {
  return { access, target: store, namespace }
}
