/**
 * The watch route's streams of Server-Sent Events.
 *
 * Live events reach every stream through one `onChange` subscription of the
 * server: each event is formatted once and appended to the streams it
 * matches, and one timer writes what each stream holds a few milliseconds
 * later, so a thousand streams cost a thousand socket writes per flush, not
 * per event. A stream that resumes (`since`, `Last-Event-ID`) first reads
 * the change history through a library watcher, which never loses an event
 * the history holds, then joins the live subscription once the watcher has
 * sent every matching change the subscription saw meanwhile: revisions only
 * grow, so nothing is sent twice or skipped.
 *
 * A client that does not read cannot hold the server's memory: a live
 * stream whose unsent output passes a bound is dropped (its client resumes
 * with `Last-Event-ID`), and a resuming stream waits for the socket to
 * drain, for a bounded time, before it reads more history.
 *
 * @module
 */
import type { ServerResponse } from 'node:http'
import { matches } from '../events.js'
import type { StoreEvent, Watcher } from '../events.js'
import { FEED_READY } from '../store.js'
import type { Store } from '../store.js'
import type { ScopedStore } from '../scope.js'
import { describeFailure, Problem } from './problem.js'

/** Limits and timings of event streams. */
export interface StreamOptions {
  /** ms between comment lines that keep an idle stream open. @default 15000 */
  heartbeat?: number
  /**
   * The longest a live event waits before it is written, in ms. Events in
   * between share one write per stream; the wait grows with the number of
   * open streams (1 ms per 20), so that a thousand streams cost about 20,000
   * socket writes a second however many events there are, not one per event.
   * @default 50
   */
  flushDelay?: number
  /** Bytes a stream may hold unsent (its own and the socket's buffer) before the client is dropped. @default 4 MiB */
  maxPending?: number
  /** ms a resuming stream waits for a client that does not read before it drops it. @default 10000 */
  stallTimeout?: number
}

/** What one stream follows. */
export interface StreamRequest {
  /** The store to replay history from: the store, or the token's scope. */
  target: Store | ScopedStore
  /** The scope's namespace; events of other namespaces never reach the stream. */
  namespace: string | undefined
  group: string
  key: string
  /** Resume after this revision; undefined: only changes committed from now on. */
  since: number | undefined
}

interface Stream {
  readonly res: ServerResponse
  readonly namespace: string | undefined
  readonly prefix: string
  readonly group: string
  readonly key: string
  /** The last revision sent. */
  last: number
  /** True while the stream replays history through `watcher`. */
  replaying: boolean
  /** While replaying: the latest matching revision the live subscription has seen (and skipped). */
  liveLast: number | undefined
  watcher: Watcher | undefined
  /** Messages not yet written, and their length. */
  pending: string[]
  pendingLength: number
  closed: boolean
}

/** Streams written in one turn of the event loop. */
const FLUSH_SLICE = 100

/** Bytes of history a resuming stream gathers before it writes them. */
const REPLAY_CHUNK = 64 * 1024

/** One SSE message for `event`. */
export function formatEvent(event: StoreEvent): string {
  const data = JSON.stringify({ ...event, timestamp: event.timestamp.toISOString() })
  return `id: ${event.revision}\nevent: ${event.type}\ndata: ${data}\n\n`
}

/** The event streams of one server. */
export class EventStreams {
  readonly #store: Store
  readonly #log: (line: string) => void
  readonly #streams = new Set<Stream>()
  readonly #dirty = new Set<Stream>()
  readonly #heartbeat: number
  readonly #flushDelay: number
  readonly #maxPending: number
  readonly #stallTimeout: number
  #unsubscribe: (() => void) | undefined
  /** Streams waiting for the change feed before their headers (see {@link open}). */
  #opening = 0
  /** True once the server stops: no stream opens any more. */
  #stopped = false
  #flushTimer: NodeJS.Timeout | undefined
  /** The live messages since the last flush: a stream that holds exactly these shares one buffer. */
  #batch: string[] = []
  #heartbeatTimer: NodeJS.Timeout | undefined

  /**
   * @param log where a stream that fails while reading history reports it
   * (a storage failure; its client sees the stream cut and reconnects).
   */
  constructor(store: Store, options: StreamOptions = {}, log: (line: string) => void = () => {}) {
    this.#store = store
    this.#log = log
    this.#heartbeat = options.heartbeat ?? 15_000
    this.#flushDelay = options.flushDelay ?? 50
    this.#maxPending = options.maxPending ?? 4 * 1024 * 1024
    this.#stallTimeout = options.stallTimeout ?? 10_000
  }

  /** How many streams are open. */
  get size(): number {
    return this.#streams.size
  }

  /**
   * Opens a stream on `res`: checks the request with the library (a bad one
   * rejects before anything is sent), joins the live subscription, then sends
   * the headers (calling `beforeHeaders` first), so that every change
   * committed after them is carried. Rejects with a 503 problem when the
   * server stops before the headers are sent.
   */
  async open(res: ServerResponse, headers: Record<string, string>, request: StreamRequest, beforeHeaders: () => void): Promise<void> {
    const { target, namespace, group, key, since } = request
    // The library checks a resuming stream's arguments; a bad one throws before anything is sent.
    const watcher = since === undefined ? undefined : target.watch(group, key, { since })
    const stream: Stream = {
      res,
      namespace,
      prefix: namespace === undefined ? '' : `${namespace}:`,
      group,
      key,
      last: since ?? 0,
      replaying: watcher !== undefined,
      liveLast: undefined,
      watcher,
      pending: [],
      pendingLength: 0,
      closed: false,
    }
    res.on('close', () => this.#remove(stream))
    this.#listen()
    if (watcher === undefined) {
      // The first subscriber starts the store's change feed, which first reads where the change
      // log stands: a change another connection commits before that read counts as earlier, so
      // the headers wait for it.
      this.#opening++
      try {
        await this.#store[FEED_READY]()
      } finally {
        this.#opening--
      }
      if (stream.closed || this.#stopped) {
        this.#quiet()
        if (!stream.closed) throw new Problem('ERR_UNAVAILABLE', 'the server is stopping')
        beforeHeaders()
        return
      }
    }
    this.#streams.add(stream)
    beforeHeaders()
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    res.write(': groupstore event stream\nretry: 1000\n\n')
    res.socket?.setNoDelay(true)
    if (watcher !== undefined) void this.#replay(stream, watcher)
  }

  /** Ends every stream (the server is closing); a stream still opening is refused. */
  closeAll(): void {
    this.#stopped = true
    for (const stream of [...this.#streams]) {
      this.#flush(stream)
      stream.res.end()
      this.#remove(stream)
    }
  }

  /** Joins the store's live changes, if not yet. */
  #listen(): void {
    if (this.#unsubscribe !== undefined) return
    this.#unsubscribe = this.#store.onChange((event) => this.#publish(event))
    this.#heartbeatTimer = setInterval(() => this.#beat(), this.#heartbeat)
    this.#heartbeatTimer.unref()
  }

  /** Leaves the store's live changes once no stream is open or opening. */
  #quiet(): void {
    if (this.#streams.size > 0 || this.#opening > 0 || this.#unsubscribe === undefined) return
    this.#unsubscribe()
    this.#unsubscribe = undefined
    clearInterval(this.#heartbeatTimer)
  }

  #remove(stream: Stream): void {
    if (stream.closed) return
    stream.closed = true
    stream.watcher?.close()
    stream.pending = []
    this.#streams.delete(stream)
    this.#dirty.delete(stream)
    this.#quiet()
  }

  /** The live subscription: appends `event` to every live stream it matches. */
  #publish(event: StoreEvent): void {
    let plain: string | undefined
    for (const stream of this.#streams) {
      if (event.revision <= stream.last) continue
      let seen: StoreEvent | undefined = event
      if (stream.namespace !== undefined) {
        seen = event.group.startsWith(stream.prefix) ? { ...event, group: event.group.slice(stream.prefix.length) } : undefined
      }
      if (seen === undefined || !matches(seen, stream.group, stream.key)) continue
      if (stream.replaying) {
        // The history reader sends it; it may hand over once it has sent this one.
        stream.liveLast = event.revision
        continue
      }
      const message = seen === event ? (plain ??= formatEvent(event)) : formatEvent(seen)
      this.#send(stream, message, event.revision)
    }
    if (plain !== undefined) this.#batch.push(plain)
  }

  #send(stream: Stream, message: string, revision: number): void {
    stream.last = revision
    stream.pending.push(message)
    stream.pendingLength += message.length
    if (stream.pendingLength > this.#maxPending) {
      // It does not read: drop it; it resumes with Last-Event-ID.
      this.#drop(stream)
      return
    }
    this.#dirty.add(stream)
    this.#flushTimer ??= setTimeout(() => this.#flushAll(), Math.min(this.#flushDelay, 1 + Math.floor(this.#streams.size / 20)))
  }

  #drop(stream: Stream): void {
    stream.res.destroy()
    this.#remove(stream)
  }

  #flushAll(): void {
    this.#flushTimer = undefined
    const batch = this.#batch
    this.#batch = []
    // Take every stream's messages now; events published while the slices are written start new ones.
    const work: [Stream, string[]][] = []
    for (const stream of this.#dirty) {
      if (stream.pending.length > 0) work.push([stream, stream.pending])
      stream.pending = []
      stream.pendingLength = 0
    }
    this.#dirty.clear()
    let shared: Buffer | undefined
    // A slice of the streams per turn of the event loop, so that a thousand writes never stall it.
    const writeSlice = (from: number): void => {
      const to = Math.min(work.length, from + FLUSH_SLICE)
      for (let i = from; i < to; i++) {
        const [stream, messages] = work[i] as [Stream, string[]]
        // Most streams hold the same messages (the same strings): encode them once for all.
        if (messages.length === batch.length && messages.every((m, j) => m === batch[j])) {
          shared ??= Buffer.from(batch.join(''))
          this.#write(stream, shared)
        } else this.#write(stream, messages.join(''))
      }
      if (to < work.length) setImmediate(writeSlice, to)
    }
    writeSlice(0)
  }

  /** Writes what a resuming stream holds, at once. */
  #flush(stream: Stream): void {
    if (stream.pending.length === 0) return
    const data = stream.pending.join('')
    stream.pending = []
    stream.pendingLength = 0
    this.#write(stream, data)
  }

  #write(stream: Stream, data: string | Buffer): void {
    if (stream.closed) return
    if (stream.res.writableLength > this.#maxPending) this.#drop(stream)
    else stream.res.write(data)
  }

  #beat(): void {
    for (const stream of this.#streams) {
      if (stream.pending.length === 0 && !stream.res.writableNeedDrain) stream.res.write(':\n\n')
    }
  }

  /**
   * Sends history through the library watcher until it has sent the latest
   * matching revision the live subscription has seen meanwhile, then leaves
   * the rest to that subscription: everything up to there is sent, and every
   * later revision reaches the subscription after the hand-over, in order.
   * Until a matching change is committed, the watcher goes on alone.
   */
  async #replay(stream: Stream, watcher: Watcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (stream.closed) return
        if (event.revision <= stream.last) continue
        this.#send(stream, formatEvent(event), event.revision)
        if (stream.closed) return
        if (stream.liveLast !== undefined && event.revision >= stream.liveLast) {
          stream.replaying = false
          stream.watcher = undefined
          watcher.close()
          return
        }
        if (stream.pendingLength >= REPLAY_CHUNK) this.#flush(stream)
        if (stream.res.writableNeedDrain && !(await this.#drained(stream))) return
      }
      // The watcher ended: the store is closing.
      this.#flush(stream)
      stream.res.end()
      this.#remove(stream)
    } catch (err) {
      if (!stream.closed) {
        this.#log(`groupstore serve: a watch stream failed to read the change history: ${describeFailure(err)}`)
      }
      stream.res.destroy()
      this.#remove(stream)
    }
  }

  /** Waits for the socket to drain; false (and the client dropped) after the stall timeout or a close. */
  #drained(stream: Stream): Promise<boolean> {
    const res = stream.res
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer)
        res.off('drain', onDrain)
        res.off('close', onClose)
        if (!ok) {
          res.destroy()
          this.#remove(stream)
        }
        resolve(ok)
      }
      const onDrain = (): void => done(true)
      const onClose = (): void => done(false)
      const timer = setTimeout(() => done(false), this.#stallTimeout)
      res.once('drain', onDrain)
      res.once('close', onClose)
    })
  }
}
