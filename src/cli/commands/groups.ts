/**
 * Commands on groups: list, count, groups, delete-group, delete-prefix, purge.
 *
 * @module
 */
import { withSession } from '../context.js'
import { usageError } from '../errors.js'
import { write } from '../io.js'
import { answer } from '../output.js'
import type { JsonOptions } from './keys.js'

/** Entries fetched per page by `list`. */
const LIST_PAGE = 1000

/**
 * `list <group> [--prefix P] [--limit N] [--json]`: a page at a time, each
 * printed before the next is read, so a large group starts printing at once
 * and is never held whole. Plain: `key<TAB>value` lines; `--json`: one
 * `{"key","value"}` object per line.
 */
export async function listCommand(group: string, options: JsonOptions & { prefix?: string; limit?: number }): Promise<void> {
  const json = options.json === true
  await withSession(options.db, 'existing', options.scope, async (s) => {
    let remaining = options.limit ?? Number.POSITIVE_INFINITY
    let after: string | undefined
    do {
      const page = await s.target.page(group, { after, prefix: options.prefix, limit: Math.min(remaining, LIST_PAGE) })
      let text = ''
      for (const [key, value] of page.entries) {
        text += json ? `${JSON.stringify({ key, value })}\n` : `${key}\t${value}\n`
      }
      if (text !== '') await write(process.stdout, text)
      remaining -= page.entries.length
      after = page.next
    } while (after !== undefined && remaining > 0)
  })
}

/** `count <group>` or `count --all [--prefix P]`. */
export async function countCommand(group: string | undefined, options: JsonOptions & { all?: boolean; prefix?: string }): Promise<void> {
  const all = options.all === true
  if (all && group !== undefined) throw usageError('count: give a group or --all, not both')
  if (!all && group === undefined) throw usageError('count: give a group, or --all to count every group')
  if (!all && options.prefix !== undefined) throw usageError('count: --prefix goes with --all')
  const count = await withSession(options.db, 'existing', options.scope, (s) =>
    all ? s.target.countAll(options.prefix ?? '') : s.target.count(group as string),
  )
  await answer(options.json === true, String(count), { count })
}

/** `groups [prefix]`: one name per line, or a JSON array. */
export async function groupsCommand(prefix: string | undefined, options: JsonOptions): Promise<void> {
  const groups = await withSession(options.db, 'existing', options.scope, (s) => s.target.groups(prefix ?? ''))
  if (options.json === true) await write(process.stdout, `${JSON.stringify(groups)}\n`)
  else if (groups.length > 0) await write(process.stdout, `${groups.join('\n')}\n`)
}

/** `delete-group <group>`: prints how many live keys were removed. */
export async function deleteGroupCommand(group: string, options: JsonOptions): Promise<void> {
  const removed = await withSession(options.db, 'existing', options.scope, (s) => s.target.deleteGroup(group))
  await answer(options.json === true, String(removed), { removed })
}

/** `delete-prefix <prefix>`: removes every group starting with the prefix; prints how many live keys went. */
export async function deletePrefixCommand(prefix: string, options: JsonOptions): Promise<void> {
  const removed = await withSession(options.db, 'existing', options.scope, (s) => s.target.deletePrefix(prefix))
  await answer(options.json === true, String(removed), { removed })
}

/** `purge`: removes expired keys for good; prints how many. */
export async function purgeCommand(options: Omit<JsonOptions, 'scope'>): Promise<void> {
  const purged = await withSession(options.db, 'existing', undefined, (s) => s.store.purgeExpired())
  await answer(options.json === true, String(purged), { purged })
}

