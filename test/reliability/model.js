// A simple in-memory model of the store's contract (API.md), for the
// model-based fuzz test. Rows are kept physically, expired or not, so that
// purgeExpired's count can be predicted: an expired row leaves when a point
// read or a delete finds it, or when it is purged.
//
// Every operation answers { value } or { errors: [names] }: the error
// classes any of which the store may raise (when several arguments are
// invalid, which one is reported first is the implementation's choice).

/** Order of stored text: Unicode code points (SQLite compares UTF-8 bytes). */
export function compareText(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** The largest time a Date holds: a later expiry is stored as it. */
const MAX_TIME = 8.64e15
const MAX_LIMIT = 10_000

export class Model {
  /** @param {number} now */
  constructor(now) {
    this.now = now
    /** @type {Map<string, Map<string, { value: string, expiresAt: number | null }>>} */
    this.rows = new Map()
  }

  clone() {
    const copy = new Model(this.now)
    for (const [g, keys] of this.rows) copy.rows.set(g, new Map([...keys].map(([k, r]) => [k, { ...r }])))
    return copy
  }

  live(row) {
    return row !== undefined && (row.expiresAt === null || row.expiresAt > this.now)
  }

  row(g, k) {
    return this.rows.get(g)?.get(k)
  }

  remove(g, k) {
    const keys = this.rows.get(g)
    if (keys === undefined) return
    keys.delete(k)
    if (keys.size === 0) this.rows.delete(g)
  }

  liveKeys(g) {
    return [...(this.rows.get(g) ?? [])].filter(([, r]) => this.live(r)).map(([k]) => k)
  }

  liveGroups(prefix) {
    return [...this.rows.keys()].filter((g) => g.startsWith(prefix) && this.liveKeys(g).length > 0).sort(compareText)
  }

  /** A point read: an expired row is removed by it. */
  point(g, k) {
    const row = this.row(g, k)
    if (row === undefined) return undefined
    if (this.live(row)) return row
    this.remove(g, k)
    return undefined
  }
}

const bad = (value) => typeof value !== 'string' || !value.isWellFormed()
const badOptional = (value) => value !== undefined && bad(value)

/** Errors of an options argument: not an object, or unknown names. */
function optionErrors(options, allowed) {
  if (options === undefined) return []
  if (options === null || typeof options !== 'object') return ['TypeError']
  return Object.keys(options).some((n) => !allowed.includes(n)) ? ['TypeError'] : []
}

/**
 * A view of the model through a store (`prefix` ''), a scope (`'<ns>:'`,
 * with its quota) or a transaction of either.
 */
export class View {
  /**
   * @param {Model} model
   * @param {string} prefix
   * @param {{ maxKeys: number, maxGroups: number } | undefined} quota
   */
  constructor(model, prefix, quota) {
    this.model = model
    this.prefix = prefix
    this.quota = quota
  }

  /** Runs one operation `{ name, args }` on the model. */
  apply(name, args) {
    const errors = this.#errors(name, args)
    if (errors.length > 0) return { errors: [...new Set(errors)] }
    if (name === 'set') {
      const full = this.#quota(this.prefix + args[0], args[1])
      if (full !== undefined) return { errors: full.map((limit) => `QuotaExceededError:${limit}`) }
    }
    return { value: this.#run(name, args) }
  }

  #errors(name, args) {
    const [a, b, c, d] = args
    const e = []
    switch (name) {
      case 'get':
      case 'has':
      case 'ttl':
      case 'delete':
        if (bad(a) || bad(b)) e.push('TypeError')
        break
      case 'set': {
        if (bad(a) || bad(b) || bad(c)) e.push('TypeError')
        e.push(...optionErrors(d, ['ttl']))
        const ttl = d !== null && typeof d === 'object' ? d.ttl : undefined
        if (ttl !== undefined) {
          if (typeof ttl !== 'number') e.push('TypeError')
          else if (!Number.isFinite(ttl) || ttl <= 0) e.push('RangeError')
        }
        break
      }
      case 'deleteGroup':
      case 'count':
      case 'getAll':
        if (bad(a)) e.push('TypeError')
        break
      case 'deletePrefix':
        if (bad(a)) e.push('TypeError')
        break
      case 'countAll':
      case 'groups':
        if (badOptional(a)) e.push('TypeError')
        break
      case 'page': {
        if (bad(a)) e.push('TypeError')
        e.push(...optionErrors(b, ['after', 'limit', 'prefix']))
        if (b !== null && typeof b === 'object') {
          if (badOptional(b.after) || badOptional(b.prefix)) e.push('TypeError')
          const limit = b.limit
          if (limit !== undefined) {
            if (typeof limit !== 'number') e.push('TypeError')
            else if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) e.push('RangeError')
          }
        }
        break
      }
      case 'entries':
        if (bad(a)) e.push('TypeError')
        e.push(...optionErrors(b, ['prefix']))
        if (b !== null && typeof b === 'object' && badOptional(b.prefix)) e.push('TypeError')
        break
      case 'purgeExpired':
        break
      default:
        throw new Error(`model: unknown operation ${name}`)
    }
    return e
  }

  #run(name, args) {
    const m = this.model
    const p = this.prefix
    const [a, b, c, d] = args
    switch (name) {
      case 'get':
        return m.point(p + a, b)?.value
      case 'has':
        return m.point(p + a, b) !== undefined
      case 'ttl': {
        const row = m.point(p + a, b)
        if (row === undefined) return undefined
        return row.expiresAt === null ? null : row.expiresAt - m.now
      }
      case 'set': {
        const g = p + a
        const ttl = d?.ttl
        if (!m.rows.has(g)) m.rows.set(g, new Map())
        // Whole ms, rounded up, at least 1 ms ahead, at most the largest Date.
        const expiresAt = ttl === undefined ? null : Math.min(MAX_TIME, Math.max(Math.ceil(m.now + ttl), Math.floor(m.now) + 1))
        m.rows.get(g).set(b, { value: c, expiresAt })
        return undefined
      }
      case 'delete': {
        const row = m.row(p + a, b)
        if (row === undefined) return false
        m.remove(p + a, b)
        return m.live(row)
      }
      case 'deleteGroup': {
        const n = m.liveKeys(p + a).length
        m.rows.delete(p + a)
        return n
      }
      case 'deletePrefix': {
        let n = 0
        for (const g of [...m.rows.keys()]) {
          if (!g.startsWith(p + a)) continue
          n += m.liveKeys(g).length
          m.rows.delete(g)
        }
        return n
      }
      case 'count':
        return m.liveKeys(p + a).length
      case 'countAll':
        return m.liveGroups(p + (a ?? '')).reduce((n, g) => n + m.liveKeys(g).length, 0)
      case 'groups':
        return m.liveGroups(p + (a ?? '')).map((g) => g.slice(p.length))
      case 'getAll': {
        const out = Object.create(null)
        for (const k of m.liveKeys(p + a)) out[k] = m.row(p + a, k).value
        return out
      }
      case 'page': {
        const limit = b?.limit ?? 100
        const all = this.#sorted(p + a, b?.prefix).filter(([k]) => b?.after === undefined || compareText(k, b.after) > 0)
        const entries = all.slice(0, limit)
        return all.length > limit ? { entries, next: entries[limit - 1][0] } : { entries }
      }
      case 'entries':
        return this.#sorted(p + a, b?.prefix)
      case 'purgeExpired': {
        let n = 0
        for (const [g, keys] of [...m.rows]) {
          for (const [k, r] of [...keys]) {
            if (!m.live(r)) {
              m.remove(g, k)
              n++
            }
          }
        }
        return n
      }
    }
  }

  #sorted(g, prefix) {
    return this.model
      .liveKeys(g)
      .filter((k) => prefix === undefined || k.startsWith(prefix))
      .sort(compareText)
      .map((k) => [k, this.model.row(g, k).value])
  }

  /** The quota a new key `(g, k)` would exceed, if any. */
  #quota(g, k) {
    const q = this.quota
    if (q === undefined) return undefined
    const m = this.model
    if (m.live(m.row(g, k))) return undefined
    const groups = m.liveGroups(this.prefix)
    const keys = groups.reduce((n, x) => n + m.liveKeys(x).length, 0)
    const full = []
    if (q.maxKeys > 0 && keys >= q.maxKeys) full.push('maxKeys')
    if (q.maxGroups > 0 && m.liveKeys(g).length === 0 && groups.length >= q.maxGroups) full.push('maxGroups')
    return full.length > 0 ? full : undefined
  }
}
