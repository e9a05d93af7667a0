/**
 * The storage seam: the {@link Backend} interface, what a write is, and the
 * helpers both sides of the seam share. A backend stores `(group, key) ->
 * value` rows with an optional expiry and knows nothing of events, scopes,
 * quotas or templates; the Store knows nothing of SQL. Every backend runs
 * the shared conformance suite under `test/conformance/`. The queries a
 * backend implements are in `queries.ts`.
 *
 * Query methods may answer synchronously (embedded SQLite) or with a promise
 * (a network database); callers combine them with {@link then}.
 *
 * @module
 */
import type { ReadQueries, StoredValue, WriteQueries } from './queries.js'

/** A value or a promise of it: synchronous backends skip the promise. */
export type MaybePromise<T> = T | Promise<T>

/** True when `row` is a live row at `now`: there is one, and it has no expiry or expires after `now`. */
export function live(row: StoredValue | undefined, now: number): row is StoredValue {
  return row !== undefined && (row.expiresAt === null || row.expiresAt > now)
}

/**
 * What a write is; how many statements it takes and whether it needs
 * `BEGIN` is the backend's to decide (it knows its own queries, and whether
 * the store appends each write's changes to its log in the same write):
 * - `'point'`: writes one key with one write query (`set`, `setIf`,
 *   `increment`, `delete`, `deleteIf`, `deleteExpired`), nothing else;
 * - `'checked'`: reads (a quota check), then writes one key as a point write;
 * - `'multi'`: anything else the store itself writes (a group, a prefix,
 *   the purge): atomic whatever it runs;
 * - `'transaction'`: a transaction callback running the caller's code: it
 *   may take long and act outside the queries, so a backend that runs
 *   writes on several connections gives it one of its own for its whole
 *   life, and never runs it twice (a failure that another write would retry
 *   is surfaced instead).
 */
export type WriteKind = 'point' | 'checked' | 'multi' | 'transaction'

/**
 * The rows an operation touches: one key of a group, or every key of the
 * group (no `key`). A read's footprint says which writes could change its
 * answer; a write's, which rows it may change. No footprint: any row.
 */
export interface Footprint {
  readonly group: string
  readonly key?: string | undefined
}

/** True when a write to `write` could change the answer of a read of `read`. */
export function overlaps(write: Footprint | undefined, read: Footprint): boolean {
  if (write === undefined) return true
  if (write.group !== read.group) return false
  return write.key === undefined || read.key === undefined || write.key === read.key
}

/** What a write is, so the backend can pick the cheapest safe way to run it. */
export interface WriteOptions {
  /** See {@link WriteKind}. @default 'multi' */
  kind?: WriteKind
  /**
   * A point write whose one query is a set or removal given its `now`, a
   * conditional write or an increment (`set`, `delete`, `deleteIf`,
   * `setIf`, `increment`), whose change the backend may record in the same
   * statement, followed only by the change record and reads: a backend that
   * can send a whole transaction at once (PostgreSQL) may send it with its
   * `BEGIN` and `COMMIT` when it runs alone. Such a write prunes no change log.
   * @default false
   */
  oneStatement?: boolean
  /**
   * The write's `committed` runs none of the caller's code (nobody is
   * subscribed to the write's events), so a backend that commits the write
   * during the call may also run `committed` and settle the write then, as
   * long as every earlier write's `committed` has run.
   * @default false
   */
  inline?: boolean
}

/**
 * A write as the store hands it to a backend, in one object that a backend
 * may queue as it is: under a burst of writes, what each queued write holds
 * is what the garbage collector copies (see `docs/performance.md`).
 */
export interface Write<T> {
  /** The public method that issued it, for errors. */
  readonly method: string
  /**
   * The only rows it may change: a backend that queues writes may answer a
   * read whose footprint it does not overlap before the write commits, as
   * the read's answer is the same either way. Undefined: any row.
   */
  readonly footprint: Footprint | undefined
  /** The work, inside a transaction that holds the write lock (see {@link Backend}). */
  run(q: WriteQueries): MaybePromise<T>
  /** Runs synchronously right after the transaction committed, in commit order, before the write's promise resolves. */
  committed?(result: T): void
}

/** A {@link Write} of a function and, optionally, a commit callback and a footprint. */
export function writeOf<T>(
  method: string,
  run: (q: WriteQueries) => MaybePromise<T>,
  committed?: (result: T) => void,
  footprint?: Footprint,
): Write<T> {
  return { method, footprint, run, committed }
}

/**
 * A storage engine. Reads see every write issued before them on this
 * backend. Writes are atomic and serialised: a write's `run` runs inside a
 * transaction that holds the database's write lock, and its `committed`
 * runs synchronously right after that transaction commits, in commit order,
 * before the write's promise resolves. A write that throws is rolled back
 * alone.
 */
export interface Backend {
  /** Short name of the engine, for messages. */
  readonly name: string
  /**
   * True when the backend keeps a durable change log that other connections
   * and processes write and read (a database file, PostgreSQL); false for a
   * private in-memory database, whose changes only this process can see.
   */
  readonly changeLog: boolean
  /**
   * Calls `wake` soon after another connection commits (it may also wake
   * when nothing changed); answers an idempotent unsubscribe. Backends
   * without a shared change log never call it.
   */
  subscribe(wake: () => void): () => void
  /**
   * Runs a read. `method` names the public method in errors. The read sees
   * every write issued before it; with a `footprint` (the only rows it
   * reads), a backend may answer it before queued writes that cannot change
   * those rows (see {@link Backend.write}).
   */
  read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>, footprint?: Footprint): Promise<T>
  /** Runs an atomic write (see the interface note and {@link Write}). */
  write<T>(write: Write<T>, options?: WriteOptions): Promise<T>
  /**
   * Optional: lets the reads issued from now until the end of this
   * event-loop turn share one snapshot, where one per read costs more (a
   * file in WAL mode). A write issued meanwhile ends it before it begins.
   */
  shareReadsThisTurn?(): void
  /**
   * The error to raise for `err` thrown by a query of this backend inside
   * `method`: driver errors become StoreErrors naming the method; anything
   * else is returned unchanged.
   */
  error(method: string, err: unknown): unknown
  /** Waits for work in flight, then releases the database. Idempotent. */
  close(): Promise<void>
}

/** Applies `fn` to a value that may be a promise, without a promise when it is not. */
export function then<T, U>(value: MaybePromise<T>, fn: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value)
}

/**
 * The exclusive upper bound of the strings that start with `prefix`, in
 * code-point (UTF-8 byte) order, or undefined when there is none. Any string
 * `s` with `prefix <= s < upper` starts with `prefix`.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix)
  while (points.length > 0) {
    const last = points.pop() as string
    let cp = last.codePointAt(0) as number
    if (cp === 0x10ffff) continue
    cp += 1
    if (cp === 0xd800) cp = 0xe000 // skip the surrogate range, which stored text never holds
    return points.join('') + String.fromCodePoint(cp)
  }
  return undefined
}
