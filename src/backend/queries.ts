/**
 * The queries a backend implements, and the rows and changes they take and
 * answer: {@link ReadQueries}, what {@link Backend.read} hands its function,
 * and {@link WriteQueries}, what {@link Backend.write} hands a write's. The
 * Store calls them; each backend's query classes implement them.
 *
 * @module
 */
import type { MaybePromise } from './backend.js'

/** A stored row as a point read sees it, expired or not. */
export interface StoredValue {
  value: string
  /** Unix milliseconds, or null for no expiry. */
  expiresAt: number | null
}

/**
 * The row a removal took away. `revision`: the revision the backend gave
 * the removal when it recorded the change itself in the same statement
 * (then the store records it under that revision and takes none of its own).
 */
export interface RemovedValue extends StoredValue {
  revision?: number
}

/** A stored row with its revision, as {@link ReadQueries.getEntry} reads it. */
export interface StoredEntry extends StoredValue {
  /**
   * The revision of the change that last wrote the row; null for a row
   * written before revisions were kept (an old file), not yet given one.
   */
  revision: number | null
}

/** The condition of a conditional write; exactly one field is set. */
export interface WriteCondition {
  /** Write only if the key is live with exactly this revision. */
  ifRevision?: number | undefined
  /** Write only if there is no live key. */
  ifAbsent?: boolean | undefined
}

/**
 * What a conditional write or an increment did: `revision` of the write, or
 * false when it wrote nothing, with (for an increment) the row it found,
 * live or expired, so that the caller can say why.
 */
export type WriteOutcome =
  | { revision: number; value: string }
  | { revision: false; found: StoredEntry | undefined }

/** A group that a prefix delete removed, with how many live keys it held. */
export interface RemovedGroup {
  group: string
  live: number
}

/** A key that was physically removed because it had expired. */
export interface ExpiredKey {
  group: string
  key: string
}

/** The kinds of change the log records. */
export type ChangeType = 'set' | 'delete' | 'delete_group' | 'expire'

/** A committed change, with its revision. */
export interface NewChange {
  /** The store's revision of this change (see {@link WriteQueries.nextRevision}). */
  revision: number
  type: ChangeType
  group: string
  /** The key, or '' for `delete_group`. */
  key: string
  /** The new value for `set`, else null. */
  value: string | null
  /** Unix milliseconds, by the store's clock. */
  timestamp: number
}

/** An entry of the change log. */
export type ChangeRecord = NewChange

/** The revisions a change log holds. */
export interface RevisionRange {
  /** The oldest retained revision, or null when the log is empty. */
  oldest: number | null
  /**
   * The latest revision given to a change, logged or not, 0 when none
   * (pruning does not lower it). Inside a write, including its own.
   */
  latest: number
}

/** A row of {@link ReadQueries.rangeEntries}: key, value, expiry (Unix ms, or null), revision (or null). */
export type RangeEntry = [key: string, value: string, expiresAt: number | null, revision: number | null]

/** Options of a ranged read inside one group. */
export interface RangeOptions {
  /** Only keys strictly greater than this. */
  after?: string | undefined
  /** Only keys starting with this literal prefix. */
  prefix?: string | undefined
  /** At most this many rows. */
  limit: number
}

/**
 * Storage primitives that only read: what {@link Backend.read} hands its
 * function, so that a read cannot call a write (a compile-time error).
 * `now` is the caller's clock in Unix milliseconds: a row is live while
 * `expiresAt === null || expiresAt > now`. Prefixes are literal (no
 * wildcards) and must be served from the `(grp, key)` index.
 */
export interface ReadQueries {
  /** The row, live or expired, or undefined. */
  get(group: string, key: string): MaybePromise<StoredValue | undefined>
  /** The row with its revision, live or expired, or undefined. */
  getEntry(group: string, key: string): MaybePromise<StoredEntry | undefined>
  /** The live values of `keys` at `now` in one consistent read, in the order of `keys` (undefined where none). */
  getMany(group: string, keys: readonly string[], now: number): MaybePromise<(string | undefined)[]>
  /** Live keys in a group. */
  count(group: string, now: number): MaybePromise<number>
  /**
   * Live keys in groups whose name starts with prefix. A backend may keep
   * counts per namespace (the group name up to its first `:`, the way
   * scopes name groups) and answer from them for a prefix that ends with its
   * only `:`: the groups starting with such a prefix are exactly those whose
   * text up to the first `:` equals it, whoever wrote them, so the answer is
   * the same as a scan's.
   */
  countAll(prefix: string, now: number): MaybePromise<number>
  /** Distinct groups starting with prefix holding a live key, ascending. */
  groups(prefix: string, now: number): MaybePromise<string[]>
  /** Number of distinct groups starting with prefix holding a live key. */
  countGroups(prefix: string, now: number): MaybePromise<number>
  /** True when the group holds a live key. */
  groupExists(group: string, now: number): MaybePromise<boolean>
  /** Every live pair of a group, in a null-prototype object filled in ascending key order. */
  getAll(group: string, now: number): MaybePromise<Record<string, string>>
  /** Live pairs of a group in ascending key order. */
  range(group: string, now: number, options: RangeOptions): MaybePromise<[string, string][]>
  /**
   * As {@link range}, each pair with its expiry (Unix ms, or null) and
   * revision (null for a row written before revisions, which
   * {@link WriteQueries.assignRevision} gives one): `[key, value, expiresAt, revision]`.
   */
  rangeEntries(group: string, now: number, options: RangeOptions): MaybePromise<RangeEntry[]>
  /** Log entries with a revision greater than `after`, ascending, at most `limit`. */
  readChanges(after: number, limit: number): MaybePromise<ChangeRecord[]>
  /** The oldest retained and the latest committed revision. */
  revisionRange(): MaybePromise<RevisionRange>
}

/**
 * Every storage primitive, the reads and those that write: what
 * {@link Backend.write} hands its function.
 */
export interface WriteQueries extends ReadQueries {
  /**
   * Takes the next revision of the store, for a change that writes no row
   * (a delete, an expiry). Revisions are strictly increasing across the
   * database, every process and every writer included.
   */
  nextRevision(): number
  /**
   * Where the revision counter stands, and putting it back there after a
   * write that took revisions was rolled back, for a backend that counts
   * revisions in memory (a private in-memory database; a file within its
   * write transaction) and so does not see the rollback.
   */
  revisionMark?(): number
  rewindRevisions?(mark: number): void
  /**
   * Inserts or replaces a row, with the next revision; answers it. `now`:
   * the store's time of the write, for a backend that logs the change in
   * the same statement (a one-statement write, see
   * {@link WriteOptions.oneStatement}).
   */
  set(group: string, key: string, value: string, expiresAt: number | null, now?: number): MaybePromise<number>
  /**
   * Optional: replaces the row only if it is live at `now`, with the next
   * revision, and answers it; undefined (nothing written, no revision
   * taken) when there is no live row. One statement where the backend has
   * it: the server's PUT, which must tell a replaced key from a created one,
   * otherwise reads the row first.
   */
  replaceLive?(group: string, key: string, value: string, expiresAt: number | null, now: number): MaybePromise<number | undefined>
  /**
   * Inserts or replaces a row only if `condition` holds at `now`, with the
   * next revision. Takes a revision only when it writes.
   */
  setIf(
    group: string,
    key: string,
    value: string,
    expiresAt: number | null,
    condition: WriteCondition,
    now: number,
  ): MaybePromise<WriteOutcome>
  /**
   * Adds `by` to the row's value read as a base-10 integer (`/^-?\d+$/`); a
   * missing or expired row counts as 0 and is created with `expiresAt`, an
   * existing one keeps its expiry. Writes nothing (and answers false with the
   * row) when the value is not such an integer or the sum is not a safe integer.
   */
  increment(group: string, key: string, by: number, expiresAt: number | null, now: number): MaybePromise<WriteOutcome>
  /** Gives a row that has no revision yet (see {@link StoredEntry}) the next one; answers the row's revision. */
  assignRevision(group: string, key: string): MaybePromise<number | undefined>
  /**
   * Removes a row; answers what it held, or undefined when there was none.
   * `now`: the store's time, at which the row is live or expired, for a
   * backend that records the change itself (see {@link RemovedValue}).
   */
  delete(group: string, key: string, now?: number): MaybePromise<RemovedValue | undefined>
  /** Removes a row only if it holds exactly this revision; answers what it held, or undefined. `now`: as for {@link delete}. */
  deleteIf(group: string, key: string, revision: number, now?: number): MaybePromise<RemovedValue | undefined>
  /** Removes the rows of distinct `keys`; answers what each held, in the order of `keys`. */
  deleteMany(group: string, keys: readonly string[]): MaybePromise<(StoredValue | undefined)[]>
  /** Removes a row only if it has expired at `now`; true when it did. */
  deleteExpired(group: string, key: string, now: number): MaybePromise<boolean>
  /** Removes every row of a group; answers how many were live. */
  deleteGroup(group: string, now: number): MaybePromise<number>
  /** Removes every group whose name starts with prefix; answers those that held live keys. */
  deletePrefix(prefix: string, now: number): MaybePromise<RemovedGroup[]>
  /** Physically removes expired rows; answers which. */
  purgeExpired(now: number): MaybePromise<ExpiredKey[]>
  /**
   * Appends changes, with the revisions the write took for them, to the log
   * inside the current write; a rolled-back write leaves none behind.
   */
  appendChanges(changes: readonly NewChange[]): MaybePromise<void>
  /**
   * Deletes the log entries older than timestamp `before` or not among the
   * latest `keep` (a backend whose log holds its latest revision keeps its
   * newest entry whatever `keep` says); answers how many were deleted. With
   * `limit`, looks only at the `limit` oldest revisions, so that pruning
   * while writes happen is a short delete whatever the log holds.
   */
  pruneChanges(before: number, keep: number, limit?: number): MaybePromise<number>
}

/** Every query a backend implements: the {@link WriteQueries}. */
export type BackendQueries = WriteQueries
