/**
 * The watcher of `watch()`: a buffer of live events that, once full (or
 * resuming with `since`), reads the rest back from the change history
 * instead of dropping events, answers `next()` calls in the order made, and
 * counts what was pruned before it could be read as `dropped`.
 *
 * @module
 */
import type { ChangeSource, EventView, StoreEvent, Watcher } from './events.js'

const done: IteratorResult<StoreEvent> = { done: true, value: undefined }
const READ_PAGE = 512

/**
 * Keeps the process alive while any consumer awaits an event, as an open
 * socket would: one timer for every watcher, referenced while one waits
 * (making and clearing a timer for each wait cost every event about a
 * microsecond).
 */
let waiting = 0
let keepAlive: NodeJS.Timeout | undefined
function hold(): void {
  if (waiting++ > 0) return
  keepAlive ??= setInterval(() => {}, 2 ** 30)
  keepAlive.ref()
}
function unhold(): void {
  if (--waiting === 0) keepAlive?.unref()
}

export class FeedWatcher implements Watcher {
  #buffer: StoreEvent[] = []
  #head = 0
  #dropped = 0
  #closed = false
  /** The last revision this watcher has considered, matching or not. */
  #seen: number | undefined
  /** True while events must be read back from the source rather than taken live. */
  #behind: boolean
  #missed = 0
  /**
   * While behind: the matching events published live that the read-back
   * had not reached, and the first and last of their revisions. Each that
   * the read-back then finds is taken off; those left once it has caught
   * up were lost (see {@link #readBack}).
   */
  #owed = 0
  #owedFrom: number | undefined
  #owedTo = 0
  /** Settles when the last read-back or queued `next()` has answered; later calls answer after it. */
  #pending: Promise<void> | undefined
  /** The answer of the `next()` waiting for a live event, while it waits: later calls answer after it. */
  #waitingAnswer: Promise<IteratorResult<StoreEvent>> | undefined
  #waiting: ((result: IteratorResult<StoreEvent>) => void) | undefined
  #waitingFailed: ((reason: unknown) => void) | undefined
  /** True while this watcher keeps the process alive (see {@link hold}). */
  #holding = false
  /** True once the store is closing: live events are buffered whatever the buffer's size (see {@link drain}). */
  #draining = false
  /** The read of one page of the source in progress, shared by whoever needs it. */
  #reading: Promise<void> | undefined
  readonly #capacity: number
  readonly #view: EventView
  readonly #source: ChangeSource
  readonly #onClose: () => void
  readonly #signal: AbortSignal | undefined
  readonly #abort = (): void => this.close()

  constructor(
    source: ChangeSource,
    view: EventView,
    options: { bufferSize: number; signal: AbortSignal | undefined; since: number | undefined },
    onClose: () => void,
  ) {
    this.#source = source
    this.#view = view
    this.#capacity = options.bufferSize
    this.#onClose = onClose
    this.#signal = options.signal
    this.#seen = options.since
    this.#behind = options.since !== undefined
    options.signal?.addEventListener('abort', this.#abort, { once: true })
  }

  get dropped(): number {
    return this.#dropped
  }

  /** Takes a live event (every event the store publishes, in revision order). */
  push(event: StoreEvent): void {
    if (this.#closed) return
    if (this.#behind) return this.#owe(event, this.#view(event))
    if (this.#seen !== undefined) {
      if (event.revision <= this.#seen) return
      if (event.revision > this.#seen + 1) {
        // The live feed skipped revisions this watcher has not seen (it may
        // start again from the log's head after nobody listened): read them back.
        this.#fallBehind(event, this.#view(event))
        const waiting = this.#waiting
        const failed = this.#waitingFailed
        if (waiting !== undefined) {
          this.#release()
          this.#queue(this.#readBack()).then(waiting, failed)
        }
        return
      }
    }
    const seen = this.#view(event)
    if (seen === undefined) {
      this.#seen = event.revision
      return
    }
    const waiting = this.#waiting
    if (waiting !== undefined) {
      this.#seen = event.revision
      this.#release()
      waiting({ done: false, value: this.#mark(seen) })
      return
    }
    if (this.#draining || this.#buffer.length - this.#head < this.#capacity) {
      this.#seen = event.revision
      this.#buffer.push(seen)
      return
    }
    // Full: stop taking live events and read the rest back when asked.
    this.#fallBehind(event, seen)
  }

  /** Stops taking live events from `event` on: they are read back when asked (see {@link #owe}). */
  #fallBehind(event: StoreEvent, seen: StoreEvent | undefined): void {
    this.#behind = true
    this.#owe(event, seen)
  }

  /** While behind: counts a live event (`seen`: as the watcher sees it) that matches and is not read back yet. */
  #owe(event: StoreEvent, seen: StoreEvent | undefined): void {
    if (seen === undefined || (this.#seen !== undefined && event.revision <= this.#seen)) return
    this.#owed++
    this.#owedFrom ??= event.revision
    this.#owedTo = event.revision
  }

  /**
   * Of the revisions after `after` up to `last`, missing from the source,
   * how many to count as dropped now: all but those among the owed ones
   * (which are counted as the matching events they were, once caught up).
   */
  #unowed(after: number, last: number): number {
    const from = this.#owedFrom
    if (from === undefined) return last - after
    return last - after - Math.max(0, Math.min(last, this.#owedTo) - Math.max(after + 1, from) + 1)
  }

  /** The event with the pending gap count attached, if any. */
  #mark(event: StoreEvent): StoreEvent {
    if (this.#missed === 0) return event
    const marked = { ...event, missed: this.#missed }
    this.#missed = 0
    return marked
  }

  #shift(): StoreEvent | undefined {
    if (this.#head >= this.#buffer.length) return undefined
    const value = this.#buffer[this.#head++] as StoreEvent
    if (this.#head === this.#buffer.length) {
      this.#buffer = []
      this.#head = 0
    }
    return this.#mark(value)
  }

  /**
   * The next event. Calls made before earlier ones have answered (several
   * `next()` at once) answer one after another, in the order made.
   */
  next(): Promise<IteratorResult<StoreEvent>> {
    const earlier = this.#pending ?? this.#waitingAnswer
    if (earlier !== undefined) {
      const after = (): IteratorResult<StoreEvent> | Promise<IteratorResult<StoreEvent>> => this.#next()
      return this.#queue(earlier.then(after, after))
    }
    const answer = this.#next()
    if (!(answer instanceof Promise)) return Promise.resolve(answer)
    // A wait for a live event (the usual case, one per event for a consumer that keeps up) is
    // known by #waiting, which push and close clear as they settle it: no promise is added
    // to watch it. A read-back is watched, so that calls made meanwhile wait behind it.
    if (this.#waiting === undefined) return this.#queue(answer)
    this.#waitingAnswer = answer
    return answer
  }

  /** Makes later `next()` calls wait for `answer`. */
  #queue(answer: Promise<IteratorResult<StoreEvent>>): Promise<IteratorResult<StoreEvent>> {
    const settled = answer.then(
      () => {},
      () => {},
    )
    this.#pending = settled
    void settled.then(() => {
      if (this.#pending === settled) this.#pending = undefined
    })
    return answer
  }

  /** The next event, at once when one is held; called only when no earlier call is still answering. */
  #next(): IteratorResult<StoreEvent> | Promise<IteratorResult<StoreEvent>> {
    const value = this.#shift()
    if (value !== undefined) return { done: false, value }
    if (this.#closed) return done
    if (this.#behind) return this.#readBack()
    return new Promise((resolve, reject) => {
      this.#waiting = resolve
      this.#waitingFailed = reject
      this.#holding = true
      hold()
    })
  }

  #release(): void {
    this.#waiting = undefined
    this.#waitingFailed = undefined
    this.#waitingAnswer = undefined
    if (!this.#holding) return
    this.#holding = false
    unhold()
  }

  /** Reads events after the last one seen from the source until caught up with the live feed. */
  async #readBack(): Promise<IteratorResult<StoreEvent>> {
    for (;;) {
      await this.#readPage()
      if (this.#closed) return done
      const value = this.#shift()
      if (value !== undefined) return { done: false, value }
      if (!this.#behind) return this.#next()
    }
  }

  /** Reads the next page of events after the last one seen into the buffer (one read at a time). */
  #readPage(): Promise<void> {
    this.#reading ??= this.#readOnePage().finally(() => {
      this.#reading = undefined
    })
    return this.#reading
  }

  async #readOnePage(): Promise<void> {
    // Every revision up to here had committed before the read began, so the read sees those the log holds.
    const published = this.#source.delivered
    const after = this.#seen ?? published
    const { events, oldest } = await this.#source.read(after, READ_PAGE)
    if (this.#closed) return
    const first = events[0]
    // Only revisions below the oldest one held can have been pruned.
    const gap =
      oldest !== undefined
        ? Math.min(oldest, first?.revision ?? oldest) - after - 1
        : first === undefined
          ? published - after
          : first.revision - after - 1
    if (gap > 0) {
      this.#dropped += this.#unowed(after, after + gap)
      this.#missed += gap
    }
    const from = this.#owedFrom ?? Infinity
    for (const event of events) {
      const revision = event.revision
      this.#seen = revision
      const seen = this.#view(event)
      if (seen === undefined) continue
      if (revision >= from && revision <= this.#owedTo) this.#owed--
      this.#buffer.push(seen)
    }
    // The log holds nothing more up to what was published when the read began: the
    // revisions left before that were pruned (counted above) or never logged (holes).
    if (events.length < READ_PAGE && (this.#seen ?? 0) < published) this.#seen = published
    // Caught up when the source holds nothing newer than what was published live:
    // from here on live events continue exactly where the read stopped, and
    // the owed events not found were lost.
    if (events.length < READ_PAGE && (this.#seen ?? 0) >= this.#source.delivered) {
      this.#behind = false
      this.#dropOwed()
    }
  }

  /** Counts the owed events that were not read back as dropped: they are lost. */
  #dropOwed(): void {
    this.#dropped += this.#owed
    this.#owed = 0
    this.#owedFrom = undefined
  }

  /**
   * The store is closing: from now on live events are buffered whatever the
   * buffer's size, and a watcher that has fallen behind reads the rest back
   * while the database is still open, so that the events it delivers after
   * the store has ended it, plus `dropped`, account for every matching
   * event. Answers undefined when there is nothing to read back.
   */
  drain(): Promise<void> | undefined {
    this.#draining = true
    if (!this.#behind || this.#closed) return undefined
    return this.#drainBehind()
  }

  async #drainBehind(): Promise<void> {
    try {
      while (this.#behind && !this.#closed) await this.#readPage()
    } catch {
      // The log could not be read: the matching events published live and not read back are lost.
      this.#behind = false
      this.#dropOwed()
    }
  }

  return(): Promise<IteratorResult<StoreEvent>> {
    this.close()
    return Promise.resolve(done)
  }

  /**
   * Ends the watcher the way a store's close does: no new events, but those
   * already in the buffer are still delivered before the iteration ends.
   */
  end(): void {
    if (this.#closed) return
    const buffer = this.#buffer
    const head = this.#head
    this.close()
    this.#buffer = buffer
    this.#head = head
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
    this.#release()
    waiting?.(done)
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StoreEvent> {
    return this
  }
}
