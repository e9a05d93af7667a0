/**
 * Commands on one key: set, get, delete, incr, ttl.
 *
 * @module
 */
import { withSession } from '../context.js'
import { notFound } from '../errors.js'
import { readStdin, write } from '../io.js'
import { absentKey, answer, formatDuration, printGet } from '../output.js'

/** Options every data command takes. */
export interface DataOptions {
  db?: string
  scope?: string
}

/** Options of commands with a `--json` switch. */
export interface JsonOptions extends DataOptions {
  json?: boolean
}

/** Options of `set`. */
export interface SetCommandOptions extends JsonOptions {
  ttl?: number
  ifRevision?: number
  ifAbsent?: boolean
}

/**
 * `set <group> <key> [value] [--ttl D] [--if-revision N | --if-absent] [--json]`:
 * the value from stdin when omitted, byte for byte. A condition that does
 * not hold writes nothing and exits 1. `--json` prints the write's revision.
 */
export async function setCommand(group: string, key: string, value: string | undefined, options: SetCommandOptions): Promise<void> {
  if (value === undefined && process.stdin.isTTY === true) {
    process.stderr.write('reading the value from stdin; end it with Ctrl-D\n')
  }
  const text = value ?? (await readStdin('the value on stdin'))
  const revision = await withSession(options.db, 'create', options.scope, (s) => {
    if (options.ifRevision !== undefined) return s.target.set(group, key, text, { ttl: options.ttl, ifRevision: options.ifRevision })
    if (options.ifAbsent === true) return s.target.set(group, key, text, { ttl: options.ttl, ifAbsent: true })
    return s.target.set(group, key, text, options.ttl === undefined ? undefined : { ttl: options.ttl })
  })
  if (revision === false) {
    throw notFound(
      options.ifAbsent === true
        ? `key ${JSON.stringify(key)} in group ${JSON.stringify(group)} already exists; nothing written`
        : `key ${JSON.stringify(key)} in group ${JSON.stringify(group)} is not at revision ${options.ifRevision}; nothing written`,
    )
  }
  if (options.json === true) await write(process.stdout, `${JSON.stringify({ group, key, revision })}\n`)
}

/**
 * `get <group> <key> [--json]`: the raw value, or with `--json` the entry
 * `{"group","key","value","revision","expiresAt"}`; exit 1 when absent.
 */
export async function getCommand(group: string, key: string, options: JsonOptions): Promise<void> {
  const json = options.json === true
  const found = await withSession(options.db, 'existing', options.scope, async (s) => {
    if (json) return s.target.getEntry(group, key)
    const value = await s.target.get(group, key)
    return value === undefined ? undefined : { value }
  })
  await printGet(group, key, json, found)
}

/**
 * `delete <group> <key> [--if-revision N]`: exit 1 when there was no live
 * key, or (with `--if-revision`) when its revision was another.
 */
export async function deleteCommand(group: string, key: string, options: DataOptions & { ifRevision?: number }): Promise<void> {
  const ifRevision = options.ifRevision
  const deleted = await withSession(options.db, 'existing', options.scope, (s) =>
    ifRevision === undefined ? s.target.delete(group, key) : s.target.delete(group, key, { ifRevision }),
  )
  if (deleted) return
  if (ifRevision === undefined) throw absentKey(group, key)
  throw notFound(`no key ${JSON.stringify(key)} in group ${JSON.stringify(group)} at revision ${ifRevision}; nothing deleted`)
}

/** `incr <group> <key> [by] [--ttl D]`: adds `by` (default 1) and prints the new value. */
export async function incrCommand(group: string, key: string, by: number | undefined, options: DataOptions & { ttl?: number }): Promise<void> {
  const value = await withSession(options.db, 'create', options.scope, (s) =>
    s.target.increment(group, key, by ?? 1, options.ttl === undefined ? undefined : { ttl: options.ttl }),
  )
  await write(process.stdout, `${value}\n`)
}

/** `ttl <group> <key>`: the time left; exit 1 when absent. */
export async function ttlCommand(group: string, key: string, options: JsonOptions): Promise<void> {
  const { ttl, now } = await withSession(options.db, 'existing', options.scope, async (s) => {
    const pinned = s.pin()
    return { ttl: await s.target.ttl(group, key), now: pinned }
  })
  if (ttl === undefined) throw absentKey(group, key)
  const plain = ttl === null ? 'no expiry' : `${formatDuration(ttl)} (${ttl} ms)`
  await answer(options.json === true, plain, { ttl, expiresAt: ttl === null ? null : now + ttl })
}
