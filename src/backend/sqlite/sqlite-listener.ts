/**
 * Notices other connections' commits to a database file by polling
 * `PRAGMA data_version`, the SQLite counterpart of the PostgreSQL backend's
 * LISTEN connection.
 *
 * @module
 */
import { messageOf, Warnings } from '../../warnings.js'

/** How often a subscribed backend checks whether another connection committed. */
export const POLL_INTERVAL_MS = 50

/** What the listener needs from its backend. */
export interface PollHost {
  /** Reads `PRAGMA data_version` (outside any batch); may throw when the file is busy. */
  dataVersion(): unknown
  /** True while this connection is writing: its own commits are not news. */
  busy(): boolean
}

/**
 * Polls `PRAGMA data_version`, which changes when another connection
 * commits, every {@link POLL_INTERVAL_MS} ms while anybody is subscribed:
 * a cheap check that reads no table. The timer never keeps the process alive.
 */
export class ChangeListener {
  readonly #host: PollHost
  readonly #wakers = new Set<() => void>()
  #poller: NodeJS.Timeout | undefined
  #closed = false
  readonly #warnings = new Warnings()

  constructor(host: PollHost) {
    this.#host = host
  }

  /** Calls `wake` after another connection commits; answers an idempotent unsubscribe. */
  subscribe(wake: () => void): () => void {
    if (this.#closed) return () => {}
    const waker = (): void => wake()
    this.#wakers.add(waker)
    if (this.#poller === undefined) this.#start()
    return () => {
      this.#wakers.delete(waker)
      if (this.#wakers.size === 0) this.#stop()
    }
  }

  #start(): void {
    let seen = this.#host.dataVersion()
    this.#poller = setInterval(() => {
      if (this.#host.busy() || this.#closed) return
      let version: unknown
      try {
        version = this.#host.dataVersion() // rare: every 50 ms while watched
      } catch {
        return // the next tick looks again
      }
      if (version === seen) return
      seen = version
      for (const wake of [...this.#wakers]) {
        try {
          wake()
        } catch (err) {
          this.#warnings.warn('GROUPSTORE_SUBSCRIBER', `a change-log subscriber threw: ${messageOf(err)}`)
        }
      }
    }, POLL_INTERVAL_MS)
    this.#poller.unref()
  }

  #stop(): void {
    if (this.#poller !== undefined) clearInterval(this.#poller)
    this.#poller = undefined
  }

  /** Stops polling and forgets every subscriber. */
  close(): void {
    this.#closed = true
    this.#stop()
    this.#wakers.clear()
  }
}
