import type { Client } from 'pg'
import { messageOf, Warnings } from '../../warnings.js'

const FIRST_RETRY_MS = 50

/** Listening never keeps the process alive: a watcher awaiting an event does that itself. */
function unref(client: Client): void {
  const socket = (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream
  socket?.unref?.()
}
const MAX_RETRY_MS = 5000

/**
 * One `LISTEN` connection shared by every subscriber of a backend. It is
 * opened with the first subscriber and closed with the last. When the
 * connection drops it reconnects with backoff and, once listening again,
 * wakes every subscriber so that readers catch up from their last revision:
 * notifications sent while it was away are lost, the log is not.
 */
export class ChangeListener {
  readonly #warnings = new Warnings()
  readonly #connect: () => Client
  readonly #channel: string
  readonly #wakers = new Set<() => void>()
  #client: Client | undefined
  #retryMs = FIRST_RETRY_MS
  #timer: NodeJS.Timeout | undefined
  #closed = false

  /** `connect` makes an unconnected client; `channel` is a NOTIFY channel of `[a-z0-9_]`. */
  constructor(connect: () => Client, channel: string) {
    this.#connect = connect
    this.#channel = channel
  }

  /** Calls `wake` soon after each commit that appends to the log; answers an idempotent unsubscribe. */
  subscribe(wake: () => void): () => void {
    const entry = (): void => wake()
    this.#wakers.add(entry)
    if (this.#wakers.size === 1 && this.#client === undefined && this.#timer === undefined) this.#start()
    let done = false
    return () => {
      if (done) return
      done = true
      this.#wakers.delete(entry)
      if (this.#wakers.size === 0) this.#stop()
    }
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakers]) {
      try {
        wake()
      } catch (err) {
        this.#warnings.warn('GROUPSTORE_SUBSCRIBER', `a change-log subscriber threw: ${messageOf(err)}`)
      }
    }
  }

  #start(): void {
    if (this.#closed || this.#wakers.size === 0) return
    const client = this.#connect()
    this.#client = client
    unref(client)
    const lost = (): void => this.#lost(client)
    client.on('error', lost)
    client.on('end', lost)
    client.on('notification', (msg) => {
      if (msg.channel === this.#channel && this.#client === client) this.#wakeAll()
    })
    client
      .connect()
      .then(() => client.query(`LISTEN "${this.#channel}"`))
      .then(
        () => {
          if (this.#client !== client) return
          this.#retryMs = FIRST_RETRY_MS
          // Commits made before LISTEN took effect sent no notification here.
          this.#wakeAll()
        },
        () => lost(),
      )
  }

  #lost(client: Client): void {
    if (this.#client !== client) return
    this.#client = undefined
    client.end().catch(() => {})
    if (this.#closed || this.#wakers.size === 0) return
    const delay = this.#retryMs
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#start()
    }, delay)
    this.#timer.unref()
  }

  #stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const client = this.#client
    this.#client = undefined
    client?.end().catch(() => {})
  }

  /** Stops listening for good. */
  close(): void {
    this.#closed = true
    this.#wakers.clear()
    this.#stop()
  }
}
