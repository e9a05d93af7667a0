/**
 * `watch [group] [key]`: one JSON line per event until SIGINT or SIGTERM.
 *
 * @module
 */
import { withSession } from '../context.js'
import type { StoreEvent } from '../../events.js'
import { write } from '../io.js'
import type { DataOptions } from './keys.js'

/** Events a watcher holds while stdout is busy before it drops (and reports) new ones. */
const BUFFER_SIZE = 65_536

/** An event as a JSON line: every field the event carries, the timestamp in ISO 8601. */
export function eventLine(event: StoreEvent): string {
  return `${JSON.stringify({ ...event, timestamp: event.timestamp.toISOString() })}\n`
}

/**
 * Prints every matching event until the first SIGINT or SIGTERM, then closes
 * the watcher and the store and ends with exit code 0. A second signal ends
 * the process at once (exit 130). The database file is created when missing,
 * so that writes by other processes can be followed from the start.
 */
export async function watchCommand(group: string | undefined, key: string | undefined, options: DataOptions): Promise<void> {
  const g = group ?? '*'
  const k = key ?? '*'
  const controller = new AbortController()
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130)
    controller.abort()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // A watcher holds no handle of its own: this keeps the process waiting for events.
  const keepAlive = setInterval(() => {}, 2 ** 30)
  try {
    await withSession(options.db, 'create', options.scope, async (s) => {
      const watcher = s.target.watch(g, k, { bufferSize: BUFFER_SIZE, signal: controller.signal })
      const where = options.scope === undefined ? s.location : `${s.location}, scope ${options.scope}`
      process.stderr.write(`watching group ${JSON.stringify(g)} key ${JSON.stringify(k)} in ${where} (Ctrl-C to stop)\n`)
      let reported = 0
      for await (const event of watcher) {
        await write(process.stdout, eventLine(event))
        if (watcher.dropped > reported) {
          process.stderr.write(`groupstore: ${watcher.dropped - reported} events dropped: stdout is not keeping up\n`)
          reported = watcher.dropped
        }
      }
    })
  } finally {
    clearInterval(keepAlive)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
