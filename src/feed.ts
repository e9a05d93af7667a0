/**
 * The change feed: records every committed change, with the revision the
 * backend gave it, in the backend's change log inside the same transaction
 * (file databases, PostgreSQL), publishes it to this store's subscribers in
 * revision order, and reads back changes that other connections and
 * processes committed. Without a log (a private in-memory database, or
 * `changeLog: false`) recent events are retained in memory (see
 * `history.ts`) for watchers that fall behind. Not exported from the package.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { Backend, MaybePromise } from './backend/backend.js'
import type { ChangeRecord, NewChange, WriteQueries } from './backend/queries.js'
import { EventHub } from './events.js'
import type { ChangeSource, StoreEvent } from './events.js'
import { History, toEvent } from './history.js'

/** How long and how much history the log keeps. */
export interface Retention {
  /** Milliseconds after which an entry is pruned; 0 for no limit by age. */
  maxAge: number
  /** Entries kept at most (the newest is always kept). */
  maxCount: number
}

/**
 * Changes of one write on their way from the transaction to the subscribers:
 * without a log, the changes as they are; with one, the changes as they are
 * when no revision before them can be missing (most writes: nothing to
 * allocate), else see {@link Logged}.
 */
export type Recorded = readonly NewChange[] | Logged

/**
 * A write's changes in the log: its own, after the changes other
 * connections committed before them. `checked`: the log was read up to the
 * write's first change (or nothing could be missing), so revisions missing
 * there were never logged and are not waited for.
 */
export interface Logged {
  readonly changes: readonly NewChange[]
  readonly before: readonly ChangeRecord[] | undefined
  readonly checked: boolean
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
/** ms before a failed catch-up is tried again; the pause doubles after each failure, up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 50
const MAX_RETRY_MS = 2000

/** At most this many recent events are kept in memory by a store without a log. */
export const MEMORY_HISTORY = 10_000

function isChanges(recorded: Recorded): recorded is readonly NewChange[] {
  return Array.isArray(recorded)
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
  /** The next try of a catch-up that failed, while anybody listens (see {@link catchUp}). */
  #retry: NodeJS.Timeout | undefined
  #retryMs = FIRST_RETRY_MS
  /** The read of the log's head made when the first subscriber came (see #setActive), and its number. */
  #head: Promise<void> = Promise.resolve()
  #activation = 0
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
   * revision in order). Without a log, answers them as they are. Prunes
   * the log now and then (see {@link PRUNE_EVERY}), unless `prune` is false
   * (a write that must run no other statement leaves it to the next).
   */
  record(q: WriteQueries, changes: readonly NewChange[], prune = true): MaybePromise<Recorded> {
    if (!this.durable) return changes
    // No closure when SQLite answers at once: this runs for every write.
    const appended = q.appendChanges(changes)
    if (appended instanceof Promise) return appended.then(() => this.#logged(q, changes, prune))
    return this.#logged(q, changes, prune)
  }

  /** After `changes` were appended to the log: what to deliver at commit (see {@link Recorded}). */
  #logged(q: WriteQueries, changes: readonly NewChange[], prune: boolean): MaybePromise<Recorded> {
    const first = (changes[0] as NewChange).revision
    // Revisions this store recorded earlier in the same batch are not missing;
    // a revision handed out again means those earlier ones were rolled back.
    const from = first > this.#recorded ? Math.max(this.#delivered, this.#recorded) : this.#delivered
    this.#recorded = (changes[changes.length - 1] as NewChange).revision
    if (first <= from + 1) return this.#pruned(q, changes, changes, prune)
    if (!this.hub.active) return this.#pruned(q, changes, { changes, before: undefined, checked: false }, prune)
    return then(q.readChanges(from, first - 1 - from), (before) => this.#pruned(q, changes, { changes, before, checked: true }, prune))
  }

  /** Prunes the log now and then (see {@link PRUNE_EVERY}) unless `prune` is false; answers `recorded`. */
  #pruned(q: WriteQueries, changes: readonly NewChange[], recorded: Recorded, prune: boolean): MaybePromise<Recorded> {
    const latest = (changes[changes.length - 1] as NewChange).revision
    const now = (changes[0] as NewChange).timestamp
    if (!prune || (latest < this.#pruneNext && now < this.#pruneAt)) return recorded
    return then(this.#pruneSome(q, latest, now, PRUNE_LIMIT + changes.length), () => recorded)
  }

  /**
   * Whether the next write this store records at `now` would prune the log
   * (see {@link PRUNE_EVERY}); a write that must run no other statement
   * asks, so as to run as one that may when it would.
   */
  pruneDue(now: number): boolean {
    return this.durable && (this.#recorded + 1 >= this.#pruneNext || now >= this.#pruneAt)
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
    if (isChanges(recorded)) {
      if (this.durable) {
        for (const c of recorded) this.#deliverLogged(c, true)
        return
      }
      if (!this.hub.active && this.#quietFrom === undefined) {
        this.#quietFrom = this.#delivered
        // A promise reaction: cheaper than queueMicrotask, which makes an async resource each call.
        void RESOLVED.then(this.#endQuiet)
      }
      for (const c of recorded) this.#publishInProcess(c)
      return
    }
    const { changes, before, checked } = recorded
    if (before !== undefined) for (const c of before) this.#deliverLogged(c, true)
    for (const c of changes) if (!this.#deliverLogged(c, checked)) return
  }

  /**
   * Publishes one logged change unless already published; false when a gap
   * sends the rest to {@link catchUp}. `checked`: the log holds nothing
   * unpublished before it.
   */
  #deliverLogged(c: NewChange, checked: boolean): boolean {
    const revision = c.revision
    if (revision <= this.#delivered) return true
    if (!checked && revision > this.#delivered + 1 && this.hub.active) {
      // Changes committed elsewhere are missing before this one: the log holds
      // them all, this write's included, so read them from there in order.
      this.catchUp()
      return false
    }
    if (this.hub.active) this.#publish(toEvent(c))
    else this.#delivered = revision // nobody listens: no event to make
    return true
  }

  #publish(event: StoreEvent): void {
    this.#delivered = event.revision
    if (this.hub.active) this.hub.publish(event)
  }

  /** Without a log: keeps the change in the history, publishes it. */
  #publishInProcess(change: NewChange): void {
    this.#delivered = change.revision
    this.#history.add(change)
    if (this.hub.active) this.hub.publish(toEvent(change))
  }

  /**
   * Where a watcher made now without `since` starts: before the changes
   * published to nobody in this turn, so that it sees a write whose call
   * returned just before it was made, as it would a write that commits
   * later (a file's). Undefined to start with the next change.
   */
  unannounced(): number | undefined {
    const from = this.#quietFrom
    return from !== undefined && this.#history.keptFrom <= from + 1 ? from : undefined
  }

  /**
   * Settles once the read of the log's head that the first subscriber
   * started is done: from then on, subscribers see every change committed,
   * by any connection (one committed before that read counts as earlier).
   */
  ready(): Promise<void> {
    return this.#head
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
        for (const r of records) if (r.revision > this.#delivered) this.#publish(toEvent(r))
        if (records.length === CATCH_UP_PAGE || this.#again) {
          this.#again = false
          return step()
        }
        return undefined
      })
    this.#head
      .then(step)
      .then(
        () => {
          this.#retryMs = FIRST_RETRY_MS
        },
        () => {
          // The store is closing, or the read failed (a connection cut): changes already
          // committed would wait for the next write's wake-up, which may never come.
          this.#retryCatchUp()
        },
      )
      .finally(() => {
        this.#catchingUp = false
      })
  }

  /** Tries the catch-up again after a pause that doubles, up to {@link MAX_RETRY_MS}, while anybody listens. */
  #retryCatchUp(): void {
    if (this.#unsubscribe === undefined || this.#retry !== undefined) return
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      if (this.#unsubscribe !== undefined) this.catchUp()
    }, this.#retryMs)
    this.#retry.unref()
    this.#retryMs = Math.min(2 * this.#retryMs, MAX_RETRY_MS)
  }

  #stopListening(): void {
    this.#activation++
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    clearTimeout(this.#retry)
    this.#retry = undefined
  }

  /** Events after `after` from the log or the in-process history, and the oldest revision held. */
  read(after: number, limit: number): Promise<{ events: StoreEvent[]; oldest: number | undefined }> {
    if (!this.durable) return Promise.resolve({ events: this.#history.read(after, limit), oldest: this.#history.keptFrom })
    return this.#head.then(() =>
      this.#backend.read('store.watch', (q) =>
        then(q.readChanges(after, limit), (records) =>
          then(q.revisionRange(), (range) => ({ events: records.map((r) => toEvent(r)), oldest: range.oldest ?? undefined })),
        ),
      ),
    )
  }

  /**
   * The latest committed revision: the backend's counter (including other
   * processes' writes, logged or not) or, in a private in-memory database,
   * the latest published.
   */
  revision(method: string): Promise<number> {
    if (!this.#backend.changeLog) return Promise.resolve(this.#delivered)
    return this.#backend.read(method, (q) => q.revisionRange()).then((r) => r.latest)
  }

  /** Inside the purge: prunes every entry past retention, by age and count. */
  prune(q: WriteQueries, now: number): MaybePromise<number> {
    if (!this.durable) return 0
    return q.pruneChanges(this.#before(now), this.#retention.maxCount)
  }

  #setActive(active: boolean): void {
    if (!active) return this.#stopListening()
    if (!this.durable) return
    // Start from the log's head: earlier changes were made before anybody listened. Catch-ups
    // and reads of the log wait for this read, so that a watcher reading the log back never
    // counts itself caught up with a head that then moves past what it read, unpublished.
    const activation = ++this.#activation
    this.#head = this.#backend
      .read('store.watch', (q) => q.revisionRange())
      .then((r) => {
        if (activation === this.#activation && r.latest > this.#delivered) this.#delivered = r.latest
      })
      .catch(() => {})
    this.#unsubscribe = this.#backend.subscribe(() => this.catchUp())
  }

  /** Stops listening to the backend. */
  close(): void {
    this.#stopListening()
  }
}
