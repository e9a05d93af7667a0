/**
 * Commands on one key: set, get, delete, ttl.
 *
 * @module
 */
import { withSession } from '../context.js'
import { notFound } from '../errors.js'
import { readAll, write, writeRaw } from '../io.js'
import { answer, formatDuration } from '../output.js'

/** Options every data command takes. */
export interface DataOptions {
  db?: string
  scope?: string
}

/** Options of commands with a `--json` switch. */
export interface JsonOptions extends DataOptions {
  json?: boolean
}

function absent(group: string, key: string): Error {
  return notFound(`no key ${JSON.stringify(key)} in group ${JSON.stringify(group)}`)
}

/** `set <group> <key> [value] [--ttl D]`: the value from stdin when omitted, byte for byte. */
export async function setCommand(group: string, key: string, value: string | undefined, options: DataOptions & { ttl?: number }): Promise<void> {
  if (value === undefined && process.stdin.isTTY === true) {
    process.stderr.write('reading the value from stdin; end it with Ctrl-D\n')
  }
  const text = value ?? (await readAll(process.stdin, 'the value'))
  await withSession(options.db, 'create', options.scope, (s) =>
    s.target.set(group, key, text, options.ttl === undefined ? undefined : { ttl: options.ttl }),
  )
}

/** `get <group> <key>`: the raw value; exit 1 when absent. */
export async function getCommand(group: string, key: string, options: JsonOptions): Promise<void> {
  const value = await withSession(options.db, 'existing', options.scope, (s) => s.target.get(group, key))
  if (value === undefined) throw absent(group, key)
  await (options.json === true ? write(process.stdout, `${JSON.stringify(value)}\n`) : writeRaw(value))
}

/** `delete <group> <key>`: exit 1 when there was no live key. */
export async function deleteCommand(group: string, key: string, options: DataOptions): Promise<void> {
  const deleted = await withSession(options.db, 'existing', options.scope, (s) => s.target.delete(group, key))
  if (!deleted) throw absent(group, key)
}

/** `ttl <group> <key>`: the time left; exit 1 when absent. */
export async function ttlCommand(group: string, key: string, options: JsonOptions): Promise<void> {
  const { ttl, now } = await withSession(options.db, 'existing', options.scope, async (s) => {
    const pinned = s.pin()
    return { ttl: await s.target.ttl(group, key), now: pinned }
  })
  if (ttl === undefined) throw absent(group, key)
  const plain = ttl === null ? 'no expiry' : `${formatDuration(ttl)} (${ttl} ms)`
  await answer(options.json === true, plain, { ttl, expiresAt: ttl === null ? null : now + ttl })
}
