/**
 * Change events: their types, the matching of `watch(group, key)`, and the
 * hub that fans committed changes out to watchers (see watcher.ts) and
 * `onChange` callbacks.
 *
 * @module
 */
import { messageOf, Warnings } from './warnings.js'
import { FeedWatcher } from './watcher.js'

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
  /** When the change was made, by the store's clock. */
  timestamp: Date
  /**
   * The store's revision of this change: greater than every earlier one,
   * across the whole database (every group, scope and process), and the
   * revision `getEntry` reports for the key it wrote. Pass the last one you
   * handled as `since` to resume.
   */
  revision: number
  /**
   * Set on the first event a watcher yields after a gap: how many revisions
   * before it were pruned from the change log before the watcher could read
   * them (they are also counted in `dropped`).
   */
  missed?: number
}

/**
 * An async iterator of the events that match a `watch(group, key)`.
 *
 * @example
 * ```ts
 * const watcher = store.watch('config', '*')
 * for await (const event of watcher) console.log(event.revision, event.type, event.key)
 * ```
 */
export interface Watcher extends AsyncIterableIterator<StoreEvent> {
  /**
   * Matching events lost: pruned from the change history (the log, or a
   * store's in-memory history) before the watcher, its buffer full, read
   * them back; received plus dropped accounts for every matching event.
   * Revisions pruned before a watcher resuming with `since` was made count
   * whether they matched or not (nothing tells which did).
   */
  readonly dropped: number
  /** Ends the iteration. Idempotent. */
  close(): void
}

/** Options of `watch`. */
export interface WatchOptions {
  /**
   * How many undelivered events the watcher holds in memory; past that it
   * reads further events back from the change log when the consumer asks.
   * @default 1024
   */
  bufferSize?: number
  /** Aborting it closes the watcher. */
  signal?: AbortSignal
  /**
   * Replay the retained events after this revision first, then go live,
   * with no gap and no duplicate at the seam.
   */
  since?: number
}

/** Default {@link WatchOptions.bufferSize}. */
export const DEFAULT_BUFFER_SIZE = 1024

/** Where a watcher reads events back from when it has fallen behind. */
export interface ChangeSource {
  /** The latest revision published to subscribers. */
  readonly delivered: number
  /**
   * Events after `after`, ascending, at most `limit` (fewer when the log
   * holds no more), and the oldest revision the source still holds
   * (undefined when it holds none): revisions missing above it were never
   * logged (a write without the log, or made outside the package), below
   * it they may have been pruned.
   */
  read(after: number, limit: number): Promise<{ events: StoreEvent[]; oldest: number | undefined }>
}

/** True when `event` matches `watch(group, key)`, `*` being a wildcard. */
export function matches(event: StoreEvent, group: string, key: string): boolean {
  if (group !== '*' && group !== event.group) return false
  return key === '*' || event.type === 'delete_group' || key === event.key
}

/** Answers the event as a subscriber sees it, or undefined to skip it. */
export type EventView = (event: StoreEvent) => StoreEvent | undefined

/**
 * Fans events out in revision order to watchers (buffered, never blocking
 * the writer) and callbacks (synchronous, isolated from each other's
 * failures). Tells its owner when the first subscriber arrives and the last
 * one leaves, so cross-process polling runs only while somebody listens.
 */
export class EventHub {
  readonly #warnings = new Warnings()
  #subscribers: ((event: StoreEvent) => void)[] = []
  #watchers = new Set<FeedWatcher>()
  readonly #onActive: (active: boolean) => void

  constructor(onActive: (active: boolean) => void = () => {}) {
    this.#onActive = onActive
  }

  /** True when somebody listens; writers skip building events otherwise. */
  get active(): boolean {
    return this.#subscribers.length > 0
  }

  publish(event: StoreEvent): void {
    // A snapshot: subscribing or unsubscribing from a callback takes effect for the next event.
    const subscribers = this.#subscribers
    for (let i = 0; i < subscribers.length; i++) (subscribers[i] as (event: StoreEvent) => void)(event)
  }

  #add(s: (event: StoreEvent) => void): () => void {
    this.#subscribers = [...this.#subscribers, s]
    if (this.#subscribers.length === 1) this.#onActive(true)
    let removed = false
    return () => {
      if (removed) return
      removed = true
      this.#subscribers = this.#subscribers.filter((x) => x !== s)
      if (this.#subscribers.length === 0) this.#onActive(false)
    }
  }

  /** A watcher of the events that `view` keeps. */
  watch(
    source: ChangeSource,
    view: EventView,
    options: { bufferSize: number; signal: AbortSignal | undefined; since: number | undefined },
  ): Watcher {
    let remove: () => void = () => {}
    const watcher = new FeedWatcher(source, view, options, () => {
      remove()
      this.#watchers.delete(watcher)
    })
    if (options.signal?.aborted === true) {
      watcher.close()
      return watcher
    }
    remove = this.#add((e) => watcher.push(e))
    this.#watchers.add(watcher)
    return watcher
  }

  /** Calls `fn` with each event `view` keeps; answers an idempotent unsubscribe. */
  onChange(view: EventView, fn: (event: StoreEvent) => void): () => void {
    return this.#add((event) => {
      const seen = view(event)
      if (seen === undefined) return
      try {
        fn(seen)
      } catch (err) {
        this.#warnings.warn('GROUPSTORE_ONCHANGE_CALLBACK', `an onChange callback threw: ${messageOf(err)}`, err instanceof Error ? err.stack : undefined)
      }
    })
  }

  /**
   * The store is closing: every watcher takes the events still to come and
   * reads back what it fell behind on (see `FeedWatcher.drain`). Answers a
   * promise only when a watcher has something to read back.
   */
  drain(): Promise<void> | undefined {
    const reads: Promise<void>[] = []
    for (const w of this.#watchers) {
      const read = w.drain()
      if (read !== undefined) reads.push(read)
    }
    return reads.length === 0 ? undefined : Promise.all(reads).then(() => undefined)
  }

  /** Ends every watcher (after it has delivered what it holds) and forgets every callback. */
  closeAll(): void {
    for (const w of [...this.#watchers]) w.end()
    if (this.#subscribers.length > 0) {
      this.#subscribers = []
      this.#onActive(false)
    }
  }
}
