/**
 * `watch [group] [key]`: one JSON line per event until SIGINT or SIGTERM.
 *
 * @module
 */
import { shownLocation } from '../../backend/open.js'
import type { StoreEvent } from '../../index.js'
import { withSession } from '../context.js'
import { write } from '../io.js'
import type { DataOptions } from './keys.js'

/**
 * An event as a JSON line: every field the event carries (`type`, `group`,
 * `key`, `value` for a set, `timestamp` in ISO 8601, `revision`, and
 * `missed` after a gap), in that order.
 */
export function eventLine(event: StoreEvent): string {
  return `${JSON.stringify({ ...event, timestamp: event.timestamp.toISOString() })}\n`
}

/**
 * Prints every matching event, those after revision `since` first, until the
 * first SIGINT or SIGTERM, then closes the watcher and the store and ends
 * with exit code 0. A second signal ends
 * the process at once (exit 130). The database file is created when missing,
 * so that writes by other processes can be followed from the start.
 */
export async function watchCommand(group: string | undefined, key: string | undefined, options: DataOptions & { since?: number }): Promise<void> {
  const g = group ?? '*'
  const k = key ?? '*'
  const controller = new AbortController()
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130)
    controller.abort()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  try {
    await withSession(options.db, 'create', options.scope, async (s) => {
      const watcher = s.target.watch(g, k, { signal: controller.signal, since: options.since })
      // A postgres:// location may hold a password: stderr never shows it.
      const shown = shownLocation(s.location)
      const where = options.scope === undefined ? shown : `${shown}, scope ${options.scope}`
      process.stderr.write(`watching group ${JSON.stringify(g)} key ${JSON.stringify(k)} in ${where} (Ctrl-C to stop)\n`)
      let reported = 0
      for await (const event of watcher) {
        await write(process.stdout, eventLine(event))
        if (watcher.dropped > reported) {
          process.stderr.write(`groupstore: ${watcher.dropped - reported} events were pruned from the change log before they could be read\n`)
          reported = watcher.dropped
        }
      }
    })
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
