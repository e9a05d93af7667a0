/**
 * Change events: the hub that fans committed changes out to watchers and
 * `onChange` callbacks.
 *
 * @module
 */

/** What happened to a key or group. */
export type StoreEventType = 'set' | 'delete' | 'delete_group' | 'expire'

/** One committed change. */
export interface StoreEvent {
  type: StoreEventType
  group: string
  /** The key, or '' for `delete_group`. */
  key: string
  /** The new value; set only. */
  value?: string
  /** When the change was committed, by the store's clock. */
  timestamp: Date
}

/**
 * An async iterator of the events that match a `watch(group, key)`.
 *
 * @example
 * ```ts
 * const watcher = store.watch('config', '*')
 * for await (const event of watcher) console.log(event.type, event.key)
 * ```
 */
export interface Watcher extends AsyncIterableIterator<StoreEvent> {
  /** Events lost because the buffer was full. */
  readonly dropped: number
  /** Ends the iteration. Idempotent. */
  close(): void
}

/** Options of `watch`. */
export interface WatchOptions {
  /**
   * How many undelivered events the watcher holds before it drops new ones
   * (and counts them in `dropped`).
   * @default 1024
   */
  bufferSize?: number
  /** Aborting it closes the watcher. */
  signal?: AbortSignal
}

/** Default {@link WatchOptions.bufferSize}. */
export const DEFAULT_BUFFER_SIZE = 1024

/** A subscription: which events it wants, and how it sees them. */
interface Subscriber {
  /** Answers the event as the subscriber sees it, or undefined to skip it. */
  view: (event: StoreEvent) => StoreEvent | undefined
  deliver: (event: StoreEvent) => void
}

/** True when `event` matches `watch(group, key)`, `*` being a wildcard. */
export function matches(event: StoreEvent, group: string, key: string): boolean {
  if (group !== '*' && group !== event.group) return false
  return key === '*' || event.type === 'delete_group' || key === event.key
}

const done: IteratorResult<StoreEvent> = { done: true, value: undefined }

class BufferedWatcher implements Watcher {
  #buffer: StoreEvent[] = []
  #head = 0
  #dropped = 0
  #closed = false
  #waiting: ((result: IteratorResult<StoreEvent>) => void) | undefined
  readonly #capacity: number
  readonly #onClose: () => void
  readonly #signal: AbortSignal | undefined
  readonly #abort = (): void => this.close()

  constructor(capacity: number, signal: AbortSignal | undefined, onClose: () => void) {
    this.#capacity = capacity
    this.#onClose = onClose
    this.#signal = signal
    signal?.addEventListener('abort', this.#abort, { once: true })
  }

  get dropped(): number {
    return this.#dropped
  }

  push(event: StoreEvent): void {
    if (this.#closed) return
    const waiting = this.#waiting
    if (waiting !== undefined) {
      this.#waiting = undefined
      waiting({ done: false, value: event })
      return
    }
    if (this.#buffer.length - this.#head >= this.#capacity) {
      this.#dropped++
      return
    }
    this.#buffer.push(event)
  }

  next(): Promise<IteratorResult<StoreEvent>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++] as StoreEvent
      if (this.#head === this.#buffer.length) {
        this.#buffer = []
        this.#head = 0
      } else if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head)
        this.#head = 0
      }
      return Promise.resolve({ done: false, value })
    }
    if (this.#closed) return Promise.resolve(done)
    if (this.#waiting !== undefined) {
      return Promise.reject(new TypeError('watcher.next: a previous next() is still pending'))
    }
    return new Promise((resolve) => {
      this.#waiting = resolve
    })
  }

  /**
   * Ends the watcher the way a store's close does: no new events, but those
   * already buffered are still delivered before the iteration ends.
   */
  end(): void {
    if (this.#closed) return
    if (this.#head >= this.#buffer.length) {
      this.close()
      return
    }
    this.#closed = true
    this.#signal?.removeEventListener('abort', this.#abort)
    this.#onClose()
  }

  return(): Promise<IteratorResult<StoreEvent>> {
    this.close()
    return Promise.resolve(done)
  }

  close(): void {
    if (this.#closed) {
      // ended by the store with events still buffered: closing discards them
      this.#buffer = []
      this.#head = 0
      return
    }
    this.#closed = true
    this.#buffer = []
    this.#head = 0
    this.#signal?.removeEventListener('abort', this.#abort)
    this.#onClose()
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.(done)
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StoreEvent> {
    return this
  }
}

/**
 * Fans events out, after commit and in commit order, to watchers (buffered,
 * never blocking the writer) and callbacks (synchronous, isolated from each
 * other's failures).
 */
export class EventHub {
  #subscribers: Subscriber[] = []
  #watchers = new Set<BufferedWatcher>()

  /** True when somebody listens; writers skip building events otherwise. */
  get active(): boolean {
    return this.#subscribers.length > 0
  }

  publish(event: StoreEvent): void {
    // A snapshot: subscribing or unsubscribing from a callback takes effect for the next event.
    const subscribers = this.#subscribers
    for (let i = 0; i < subscribers.length; i++) {
      const s = subscribers[i] as Subscriber
      const seen = s.view(event)
      if (seen !== undefined) s.deliver(seen)
    }
  }

  #add(s: Subscriber): () => void {
    this.#subscribers = [...this.#subscribers, s]
    let removed = false
    return () => {
      if (removed) return
      removed = true
      this.#subscribers = this.#subscribers.filter((x) => x !== s)
    }
  }

  /** A watcher of the events that `view` keeps. */
  watch(view: Subscriber['view'], options: { bufferSize: number; signal: AbortSignal | undefined }): Watcher {
    let remove: () => void = () => {}
    const watcher = new BufferedWatcher(options.bufferSize, options.signal, () => {
      remove()
      this.#watchers.delete(watcher)
    })
    if (options.signal?.aborted === true) {
      watcher.close()
      return watcher
    }
    remove = this.#add({ view, deliver: (e) => watcher.push(e) })
    this.#watchers.add(watcher)
    return watcher
  }

  /** Calls `fn` with each event `view` keeps; answers an idempotent unsubscribe. */
  onChange(view: Subscriber['view'], fn: (event: StoreEvent) => void): () => void {
    return this.#add({
      view,
      deliver: (e) => {
        try {
          fn(e)
        } catch (err) {
          process.emitWarning(`an onChange callback threw: ${err instanceof Error ? err.message : String(err)}`, {
            type: 'GroupstoreWarning',
            detail: err instanceof Error ? err.stack : undefined,
          })
        }
      },
    })
  }

  /** Ends every watcher (after it has delivered what it holds) and forgets every callback. */
  closeAll(): void {
    for (const w of [...this.#watchers]) w.end()
    this.#subscribers = []
  }
}
