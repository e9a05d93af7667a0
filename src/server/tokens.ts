/**
 * Access tokens of `groupstore serve`: reading and checking the tokens file,
 * and finding the grant a request's token carries, by its SHA-256 digest.
 *
 * @module
 */
import { hash, timingSafeEqual } from 'node:crypto'
import type { Quota } from '../operations.js'

/** What a token may do: `read` (GET, watch, render), `write` (also PUT, DELETE, increment), `admin` (everything). */
export type Access = 'read' | 'write' | 'admin'

/** One entry of the tokens file, checked. */
export interface Grant {
  /** The entry's position in the file, from 1, for messages. */
  readonly entry: number
  /** SHA-256 digest of the token. */
  readonly digest: Buffer
  readonly access: Access
  /** The namespace the token is confined to; undefined for the whole store. */
  readonly scope: string | undefined
  /** The scope's quota; only with a scope. */
  readonly quota: Quota | undefined
}

/** A tokens file that cannot be used; the message names the entry. */
export class TokensFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TokensFileError'
  }
}

const ACCESS: readonly string[] = ['read', 'write', 'admin']
const FIELDS = ['token', 'sha256', 'scope', 'access', 'quota']
const NAMESPACE = /^[a-zA-Z0-9-]+$/
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/

/** SHA-256 of a token, as raw bytes. */
export function digestOf(token: string): Buffer {
  return hash('sha256', token, 'buffer')
}

function checkQuota(where: string, quota: unknown): Quota {
  if (quota === null || typeof quota !== 'object' || Array.isArray(quota)) throw new TokensFileError(`${where}: "quota" must be an object`)
  const result: Quota = {}
  for (const [name, value] of Object.entries(quota)) {
    if (name !== 'maxKeys' && name !== 'maxGroups') {
      throw new TokensFileError(`${where}: unknown quota "${name}" (known: maxKeys, maxGroups)`)
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new TokensFileError(`${where}: quota.${name} must be a whole number, 0 or more`)
    }
    result[name] = value
  }
  return result
}

function checkEntry(raw: unknown, entry: number): Grant {
  const where = `tokens file entry ${entry}`
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TokensFileError(`${where}: must be an object`)
  const fields = raw as Record<string, unknown>
  for (const name of Object.keys(fields)) {
    if (!FIELDS.includes(name)) throw new TokensFileError(`${where}: unknown field "${name}" (known: ${FIELDS.join(', ')})`)
  }
  const { token, sha256, scope, access, quota } = fields
  let digest: Buffer
  if (token !== undefined && sha256 !== undefined) throw new TokensFileError(`${where}: give "token" or "sha256", not both`)
  if (token !== undefined) {
    if (typeof token !== 'string' || token === '') throw new TokensFileError(`${where}: "token" must be a non-empty string`)
    digest = digestOf(token)
  } else if (sha256 !== undefined) {
    if (typeof sha256 !== 'string' || !HEX_DIGEST.test(sha256)) {
      throw new TokensFileError(`${where}: "sha256" must be the 64 hex digits of the token's SHA-256 digest`)
    }
    digest = Buffer.from(sha256, 'hex')
  } else {
    throw new TokensFileError(`${where}: needs "token" or "sha256"`)
  }
  if (typeof access !== 'string' || !ACCESS.includes(access)) {
    throw new TokensFileError(`${where}: "access" must be "read", "write" or "admin", got ${JSON.stringify(access) ?? 'nothing'}`)
  }
  if (scope !== undefined && (typeof scope !== 'string' || !NAMESPACE.test(scope))) {
    throw new TokensFileError(`${where}: "scope" must be a namespace of letters, digits and -, got ${JSON.stringify(scope)}`)
  }
  if (scope !== undefined && access === 'admin') {
    throw new TokensFileError(`${where}: an admin token reaches every scope, so it takes no "scope"`)
  }
  if (quota !== undefined && scope === undefined) throw new TokensFileError(`${where}: a "quota" needs a "scope"`)
  return {
    entry,
    digest,
    access: access as Access,
    scope: scope as string | undefined,
    quota: quota === undefined ? undefined : checkQuota(where, quota),
  }
}

/**
 * The grants of a tokens file, found by the SHA-256 digest of the token a
 * request presents. Only digests are kept; finding one never compares the
 * token itself, so the time taken tells nothing about how much of a token
 * was right.
 */
export class TokenTable {
  readonly #byDigest = new Map<string, Grant>()

  /** Checks the parsed JSON of a tokens file; throws {@link TokensFileError}. */
  constructor(entries: unknown) {
    if (!Array.isArray(entries)) throw new TokensFileError('tokens file: must be a JSON array of entries')
    entries.forEach((raw, i) => {
      const grant = checkEntry(raw, i + 1)
      const key = grant.digest.toString('hex')
      const earlier = this.#byDigest.get(key)
      if (earlier !== undefined) {
        throw new TokensFileError(`tokens file entry ${grant.entry}: the same token as entry ${earlier.entry}`)
      }
      this.#byDigest.set(key, grant)
    })
  }

  /** Parses and checks the text of a tokens file. */
  static parse(text: string): TokenTable {
    let entries: unknown
    try {
      entries = JSON.parse(text)
    } catch (err) {
      throw new TokensFileError(`tokens file: not JSON (${err instanceof Error ? err.message : String(err)})`)
    }
    return new TokenTable(entries)
  }

  /** Every grant, in file order. */
  get grants(): Grant[] {
    return [...this.#byDigest.values()]
  }

  /** The grant of `token`, or undefined for an unknown token. */
  find(token: string): Grant | undefined {
    const digest = digestOf(token)
    const grant = this.#byDigest.get(digest.toString('hex'))
    // The map answers by digest; the constant-time comparison confirms it.
    return grant !== undefined && timingSafeEqual(grant.digest, digest) ? grant : undefined
  }
}
