// The console's client of the /v1 API: one request helper that adds the
// token and turns problem+json answers into errors the views can show.

/** An answer the API gave as application/problem+json (or any failure). */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail)
    this.status = status
    this.code = code
  }
}

const enc = encodeURIComponent

/** Paths of the API, with group and key percent-encoded as path segments. */
export const paths = {
  groups: (prefix) => `/v1/groups?prefix=${enc(prefix)}`,
  group: (group) => `/v1/groups/${enc(group)}`,
  keys: (group, { prefix, after, limit }) => {
    const q = new URLSearchParams({ prefix, limit: String(limit) })
    if (after !== undefined) q.set('after', after)
    return `/v1/groups/${enc(group)}/keys?${q}`
  },
  key: (group, key) => `/v1/groups/${enc(group)}/keys/${enc(key)}`,
}

export class Api {
  /** @param {string} token the bearer token; '' when the server runs without tokens */
  constructor(token) {
    this.token = token
  }

  /** Sends a request; answers { status, body, etag }, or throws ApiError. */
  async request(method, path, { body, headers = {} } = {}) {
    const h = { ...headers }
    if (this.token !== '') h.authorization = `Bearer ${this.token}`
    if (body !== undefined) h['content-type'] = 'text/plain; charset=utf-8'
    let res
    try {
      res = await fetch(path, { method, headers: h, body, cache: 'no-store' })
    } catch (err) {
      throw new ApiError(0, 'ERR_NETWORK', `the server cannot be reached (${err.message})`)
    }
    const type = res.headers.get('content-type') ?? ''
    const text = await res.text()
    const parsed = /json/.test(type) && text !== '' ? JSON.parse(text) : text
    if (!res.ok) {
      const problem = typeof parsed === 'object' && parsed !== null ? parsed : { code: 'ERR_HTTP', detail: text }
      throw new ApiError(res.status, problem.code, problem.detail ?? res.statusText)
    }
    return { status: res.status, body: parsed, etag: res.headers.get('etag') }
  }

  /** The URL of the event stream (EventSource cannot send headers, so the token goes in the query). */
  watchUrl() {
    return this.token === '' ? '/v1/watch' : `/v1/watch?access_token=${enc(this.token)}`
  }
}
