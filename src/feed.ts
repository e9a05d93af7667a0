/**
 * The change feed: gives every committed change a revision, records it in
 * the backend's change log inside the same transaction (file databases,
 * PostgreSQL), publishes it to this store's subscribers in revision order,
 * and reads back changes that other connections and processes committed.
 * A private in-memory database has no log: revisions are counted in
 * process and recent events are retained in memory for watchers that fall
 * behind. Not exported from the package.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { Backend, ChangeRecord, MaybePromise, NewChange, WriteQueries } from './backend/backend.js'
import { EventHub } from './events.js'
import type { ChangeSource, StoreEvent, StoreEventType } from './events.js'

/** How long and how much history the log keeps. */
export interface Retention {
  /** Milliseconds after which an entry is pruned; 0 for no limit by age. */
  maxAge: number
  /** Entries kept at most (the newest is always kept). */
  maxCount: number
}

/**
 * Changes of one write on their way from the transaction to the subscribers:
 * without a log, the changes as they are; with one, see {@link Logged}.
 */
export type Recorded = readonly NewChange[] | Logged

/** A write's changes in the log: its own, with revisions from `first` on, after the changes other connections committed before them. */
export interface Logged {
  readonly changes: readonly NewChange[]
  readonly first: number
  readonly before: readonly ChangeRecord[] | undefined
}

const RESOLVED = Promise.resolve()
const CATCH_UP_PAGE = 1000
/**
 * Pruning as writes happen: a write prunes when this many revisions were
 * recorded since the last prune, or {@link PRUNE_INTERVAL_MS} passed (by
 * the store's clock, for the age limit), looking at no more than the
 * {@link PRUNE_LIMIT} oldest revisions, plus as many as the write itself
 * logged (so that a large transaction does not outgrow the pruning): a
 * delete of at most that many rows, in the write's own transaction.
 */
const PRUNE_EVERY = 1000
const PRUNE_INTERVAL_MS = 1000
const PRUNE_LIMIT = 2000
/** A `before` that no timestamp is older than: no limit by age. */
const NO_AGE_LIMIT = Number.MIN_SAFE_INTEGER
/** At most this many recent events are kept in memory by a store without a log. */
export const MEMORY_HISTORY = 10_000

function isInProcess(recorded: Recorded): recorded is readonly NewChange[] {
  return Array.isArray(recorded)
}

function toEvent(c: NewChange, revision: number): StoreEvent {
  const timestamp = new Date(c.timestamp)
  return c.type === 'set'
    ? { type: c.type, group: c.group, key: c.key, value: c.value as string, timestamp, revision }
    : { type: c.type, group: c.group, key: c.key, timestamp, revision }
}

export class Feed implements ChangeSource {
  readonly hub: EventHub
  readonly #backend: Backend
  /** True when changes go to the backend's shared log. */
  readonly durable: boolean
  readonly #retention: Retention
  #delivered = 0
  /** The last revision recorded by a write of this store, committed or not yet. */
  #recorded = 0
  /** Without a log: recent changes, for watchers that resume or fall behind. */
  readonly #history: History
  #unsubscribe: (() => void) | undefined
  #catchingUp = false
  #again = false
  /** A write recording this revision or later prunes the log (see {@link PRUNE_EVERY}). */
  #pruneNext = 0
  /** A write at this time or later prunes the log. */
  #pruneAt = 0
  /**
   * Without a log: the revision before the changes published to nobody in
   * this turn of the event loop (a write with nobody subscribed may be
   * published during its call), until the turn's microtasks run.
   */
  #quietFrom: number | undefined
  readonly #endQuiet = (): void => {
    this.#quietFrom = undefined
  }

  private constructor(backend: Backend, durable: boolean, retention: Retention) {
    this.#backend = backend
    this.durable = durable
    this.#retention = retention
    this.#history = new History(durable ? 0 : Math.min(retention.maxCount, MEMORY_HISTORY))
    this.hub = new EventHub((active) => this.#setActive(active))
  }

  /** Opens the feed of a backend; `enabled: false` keeps events in process only. */
  static async open(backend: Backend, enabled: boolean, retention: Retention): Promise<Feed> {
    const durable = enabled && backend.changeLog
    const feed = new Feed(backend, durable, retention)
    if (durable) feed.#delivered = (await backend.read('Store.open', (q) => q.revisionRange())).latest
    return feed
  }

  get delivered(): number {
    return this.#delivered
  }

  /**
   * Inside a write: appends the write's changes to the log and answers them
   * with their revisions, preceded by changes other connections committed
   * since the last one published here (so that subscribers see every
   * revision in order). Without a log, answers them as they are.
   */
  record(q: WriteQueries, changes: readonly NewChange[]): MaybePromise<Recorded> {
    if (!this.durable) return changes
    return then(q.appendChanges(changes), (first) => {
      // Revisions this store recorded earlier in the same batch are not missing;
      // a revision handed out again means those earlier ones were rolled back.
      const from = first > this.#recorded ? Math.max(this.#delivered, this.#recorded) : this.#delivered
      const latest = first + changes.length - 1
      this.#recorded = latest
      const recorded = (before: readonly ChangeRecord[] | undefined): MaybePromise<Recorded> => {
        const logged = { changes, first, before }
        const now = (changes[0] as NewChange).timestamp
        if (latest < this.#pruneNext && now < this.#pruneAt) return logged
        return then(this.#pruneSome(q, latest, now, PRUNE_LIMIT + changes.length), () => logged)
      }
      if (first <= from + 1 || !this.hub.active) return recorded(undefined)
      return then(q.readChanges(from, first - 1 - from), recorded)
    })
  }

  /**
   * Inside a write: prunes the oldest entries past retention, a bounded
   * number of them (see {@link PRUNE_EVERY}), so that the log stays bounded
   * between purges without a long delete. After a delete that filled its
   * window, the next write prunes again.
   */
  #pruneSome(q: WriteQueries, latest: number, now: number, limit: number): MaybePromise<void> {
    this.#pruneAt = now + PRUNE_INTERVAL_MS
    this.#pruneNext = latest + PRUNE_EVERY
    return then(q.pruneChanges(this.#before(now), this.#retention.maxCount, limit), (deleted) => {
      if (deleted >= limit) this.#pruneNext = latest + 1
    })
  }

  /** Entries older than this are past retention. */
  #before(now: number): number {
    return this.#retention.maxAge > 0 ? now - this.#retention.maxAge : NO_AGE_LIMIT
  }

  /** After commit: publishes recorded changes in revision order. */
  deliver(recorded: Recorded): void {
    if (isInProcess(recorded)) {
      if (!this.hub.active && this.#quietFrom === undefined) {
        this.#quietFrom = this.#delivered
        // A promise reaction: cheaper than queueMicrotask, which makes an async resource each call.
        void RESOLVED.then(this.#endQuiet)
      }
      for (const c of recorded) this.#publishInProcess(c)
      return
    }
    const { changes, first, before } = recorded
    if (before !== undefined) for (const c of before) if (!this.#deliverLogged(c, c.revision)) return
    for (let i = 0; i < changes.length; i++) if (!this.#deliverLogged(changes[i] as NewChange, first + i)) return
  }

  /** Publishes one logged change unless already published; false when a gap sends the rest to {@link catchUp}. */
  #deliverLogged(c: NewChange, revision: number): boolean {
    if (revision <= this.#delivered) return true
    if (revision > this.#delivered + 1 && this.hub.active) {
      // Changes committed elsewhere are missing before this one: the log holds
      // them all, this write's included, so read them from there in order.
      this.catchUp()
      return false
    }
    if (this.hub.active) this.#publish(toEvent(c, revision))
    else this.#delivered = revision // nobody listens: no event to make
    return true
  }

  #publish(event: StoreEvent): void {
    this.#delivered = event.revision
    if (this.hub.active) this.hub.publish(event)
  }

  /** Without a log: gives the change the next revision, keeps it in the history, publishes it. */
  #publishInProcess(change: NewChange): void {
    const revision = ++this.#delivered
    this.#history.add(revision, change)
    if (this.hub.active) this.hub.publish(toEvent(change, revision))
  }

  /**
   * Where a watcher made now without `since` starts: before the changes
   * published to nobody in this turn, so that it sees a write whose call
   * returned just before it was made, as it would a write that commits
   * later (a file's). Undefined to start with the next change.
   */
  unannounced(): number | undefined {
    const from = this.#quietFrom
    return from !== undefined && from + 1 >= this.#history.first ? from : undefined
  }

  /** Reads and publishes what other connections committed since the last published revision. */
  catchUp(): void {
    if (!this.durable) return
    if (this.#catchingUp) {
      this.#again = true
      return
    }
    this.#catchingUp = true
    const step = (): Promise<void> =>
      this.#backend.read('store.watch', (q) => q.readChanges(this.#delivered, CATCH_UP_PAGE)).then((records) => {
        for (const r of records) if (r.revision > this.#delivered) this.#publish(toEvent(r, r.revision))
        if (records.length === CATCH_UP_PAGE || this.#again) {
          this.#again = false
          return step()
        }
        return undefined
      })
    step()
      .catch(() => {
        // The store is closing or the database failed; the next wake-up tries again.
      })
      .finally(() => {
        this.#catchingUp = false
      })
  }

  /** Events after `after` from the log or the in-process history. */
  read(after: number, limit: number): Promise<StoreEvent[]> {
    if (!this.durable) return Promise.resolve(this.#history.read(after, limit))
    return this.#backend
      .read('store.watch', (q) => q.readChanges(after, limit))
      .then((records) => records.map((r) => toEvent(r, r.revision)))
  }

  /** The latest committed revision: in the log (including other processes' writes) or in process. */
  revision(method: string): Promise<number> {
    if (!this.durable) return Promise.resolve(this.#delivered)
    return this.#backend.read(method, (q) => q.revisionRange()).then((r) => r.latest)
  }

  /** Inside the purge: prunes every entry past retention, by age and count. */
  prune(q: WriteQueries, now: number): MaybePromise<number> {
    if (!this.durable) return 0
    return q.pruneChanges(this.#before(now), this.#retention.maxCount)
  }

  #setActive(active: boolean): void {
    if (!active) {
      this.#unsubscribe?.()
      this.#unsubscribe = undefined
      return
    }
    if (!this.durable) return
    // Start from the log's head: earlier changes were made before anybody listened.
    this.#backend
      .read('store.watch', (q) => q.revisionRange())
      .then((r) => {
        if (r.latest > this.#delivered) this.#delivered = r.latest
      })
      .catch(() => {})
    this.#unsubscribe = this.#backend.subscribe(() => this.catchUp())
  }

  /** Stops listening to the backend. */
  close(): void {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
  }
}

/**
 * The changes of the latest `capacity` revisions of a store without a log,
 * in a ring of parallel arrays: a write keeps no object of its own, so that
 * writes nobody listens to leave little for the garbage collector to move.
 * Events are made only when read.
 */
class History {
  readonly #capacity: number
  readonly #types: StoreEventType[] = []
  readonly #groups: string[] = []
  readonly #keys: string[] = []
  readonly #values: (string | null)[] = []
  readonly #times: number[] = []
  /** The latest revision added, and how many up to it are kept. */
  #last = 0
  #count = 0

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  /** The oldest revision kept (one past {@link #last} when none is). */
  get first(): number {
    return this.#last - this.#count + 1
  }

  /** Keeps the change of `revision`, one more than the last added. */
  add(revision: number, change: NewChange): void {
    this.#last = revision
    if (this.#capacity === 0) return
    const i = (revision - 1) % this.#capacity
    this.#types[i] = change.type
    this.#groups[i] = change.group
    this.#keys[i] = change.key
    this.#values[i] = change.value
    this.#times[i] = change.timestamp
    if (this.#count < this.#capacity) this.#count++
  }

  /** Events after `after`, at most `limit`, of those kept. */
  read(after: number, limit: number): StoreEvent[] {
    const events: StoreEvent[] = []
    for (let r = Math.max(after + 1, this.first); r <= this.#last && events.length < limit; r++) {
      const i = (r - 1) % this.#capacity
      const change: NewChange = {
        type: this.#types[i] as StoreEventType,
        group: this.#groups[i] as string,
        key: this.#keys[i] as string,
        value: this.#values[i] as string | null,
        timestamp: this.#times[i] as number,
      }
      events.push(toEvent(change, r))
    }
    return events
  }
}
