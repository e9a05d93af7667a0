/**
 * The in-memory history of a store without a change log (a private
 * in-memory database, or `changeLog: false`): its latest changes, kept for
 * watchers that resume or fall behind; and the event a change is published
 * as ({@link toEvent}), which the feed makes of logged changes too. Not
 * exported from the package.
 *
 * @module
 */
import type { NewChange } from './backend/queries.js'
import type { StoreEvent, StoreEventType } from './events.js'

/** The event a recorded change is published as. */
export function toEvent(c: NewChange, revision = c.revision): StoreEvent {
  const timestamp = new Date(c.timestamp)
  return c.type === 'set'
    ? { type: c.type, group: c.group, key: c.key, value: c.value as string, timestamp, revision }
    : { type: c.type, group: c.group, key: c.key, timestamp, revision }
}

/**
 * The latest `capacity` changes of a store without a log, in a ring of
 * parallel arrays: a write keeps no object of its own, so that writes
 * nobody listens to leave little for the garbage collector to move. Events
 * are made only when read. Revisions increase but need not be consecutive
 * (other processes' writes, rolled-back ones).
 */
export class History {
  readonly #capacity: number
  readonly #revisions: number[] = []
  readonly #types: StoreEventType[] = []
  readonly #groups: string[] = []
  readonly #keys: string[] = []
  readonly #values: (string | null)[] = []
  readonly #times: number[] = []
  /** Changes added so far, and how many of the latest are kept. */
  #added = 0
  #count = 0
  /** The latest revision dropped to make room (0: none): every later one is kept. */
  #dropped = 0

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  /** The revisions from here on are all kept (those that were added). */
  get keptFrom(): number {
    return this.#dropped + 1
  }

  /** The ring slot of the `n`th kept change, oldest first. */
  #slot(n: number): number {
    return (this.#added - this.#count + n) % this.#capacity
  }

  /** Keeps a change whose revision is greater than any added before. */
  add(change: NewChange): void {
    if (this.#capacity === 0) {
      this.#dropped = change.revision
      return
    }
    const i = this.#added % this.#capacity
    if (this.#count === this.#capacity) this.#dropped = this.#revisions[i] as number
    this.#revisions[i] = change.revision
    this.#types[i] = change.type
    this.#groups[i] = change.group
    this.#keys[i] = change.key
    this.#values[i] = change.value
    this.#times[i] = change.timestamp
    this.#added++
    if (this.#count < this.#capacity) this.#count++
  }

  /** Events after `after`, at most `limit`, of those kept. */
  read(after: number, limit: number): StoreEvent[] {
    // The first kept change past `after`, by binary search over the kept ones in order.
    let lo = 0
    let hi = this.#count
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.#revisions[this.#slot(mid)] as number) > after) hi = mid
      else lo = mid + 1
    }
    const events: StoreEvent[] = []
    for (let n = lo; n < this.#count && events.length < limit; n++) {
      const i = this.#slot(n)
      events.push(
        toEvent({
          revision: this.#revisions[i] as number,
          type: this.#types[i] as StoreEventType,
          group: this.#groups[i] as string,
          key: this.#keys[i] as string,
          value: this.#values[i] as string | null,
          timestamp: this.#times[i] as number,
        }),
      )
    }
    return events
  }
}
