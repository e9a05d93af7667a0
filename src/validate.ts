/** Argument checks shared by every method: exact messages naming method and argument. */

/** Throws a TypeError unless `value` is a string that SQLite stores exactly. */
export function checkString(method: string, name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new TypeError(`${method}: ${name} must be a string, got ${describe(value)}`)
  }
  if (!value.isWellFormed()) {
    throw new TypeError(`${method}: ${name} contains a lone UTF-16 surrogate, which cannot be stored exactly`)
  }
}

/** Like {@link checkString}, for an optional argument. */
export function checkOptionalString(method: string, name: string, value: unknown): asserts value is string | undefined {
  if (value !== undefined) checkString(method, name, value)
}

/** Throws unless `options` is undefined or a plain object with only `allowed` keys. */
export function checkOptions(method: string, options: unknown, allowed: readonly string[]): void {
  if (options === undefined) return
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${method}: options must be an object, got ${Array.isArray(options) ? 'an array' : describe(options)}`)
  }
  // The own enumerable names, as Object.keys has them, without an array per call.
  for (const name in options) {
    if (Object.hasOwn(options, name) && !allowed.includes(name)) {
      throw new TypeError(`${method}: unknown option '${name}' (known: ${allowed.join(', ')})`)
    }
  }
}

/** A TTL in ms: finite and > 0. */
export function checkTtl(method: string, ttl: unknown): number {
  if (typeof ttl !== 'number') throw new TypeError(`${method}: options.ttl must be a number of ms, got ${describe(ttl)}`)
  if (!Number.isFinite(ttl) || ttl <= 0) {
    throw new RangeError(`${method}: options.ttl must be a finite number of ms greater than 0, got ${ttl}`)
  }
  return ttl
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}
