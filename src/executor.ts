/**
 * Where operations run: the {@link Executor} that Store, ScopedStore and
 * Transaction each supply to the shared methods, the {@link Emit} through
 * which a write records its changes, and the write of a plain set
 * ({@link plainSet}, {@link emitSet}), the most frequent write, which an
 * executor may run as one object of its own.
 *
 * @module
 */
import type { Footprint, MaybePromise, WriteOptions } from './backend/backend.js'
import type { ReadQueries, WriteQueries } from './backend/queries.js'
import type { StoreEventType } from './events.js'
import type { Renderer } from './render.js'

/**
 * Records a change made by the write it is passed to; published after
 * commit. `timestamp`: the store's time of the change, when the write has
 * read the clock already (else the recorder reads it).
 */
export type Emit = (type: StoreEventType, group: string, key: string, value?: string, revision?: number, timestamp?: number) => void

/** Where operations run: the store's queue, or an open transaction. */
export interface Executor {
  /** The error to reject with before any work (closed store, settled transaction, misuse). */
  refuse(method: string): Error | undefined
  /** Runs a read; `footprint`, the only rows it reads (see `Backend.read`). */
  read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>, footprint?: Footprint): Promise<T>
  /**
   * Runs an atomic write; the changes `fn` emits are recorded with it and
   * published after commit. `footprint`: the only rows it may change (see
   * `Backend.write`).
   */
  write<T>(method: string, fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>, options?: WriteOptions, footprint?: Footprint): Promise<T>
  /**
   * Runs a set of `(g, key)` without a condition or a quota, as `write`
   * would run {@link plainSet} (a point write of one statement): the most
   * frequent write, which an executor may keep as one object.
   */
  set(method: string, g: string, key: string, value: string, expiresAt: number | null, now: number): Promise<number>
  /**
   * Removes an expired key found by a read, emitting `expire`; settles once
   * that write has committed and its event has been delivered. The store's
   * never rejects (a failed removal leaves the key to the next purge); a
   * transaction's rejects with the failure, as its other statements do.
   */
  expire(group: string, key: string, now: number): Promise<void>
  /** The latest revision of the store, as the executor sees it. */
  revision(method: string): Promise<number>
  now(): number
  readonly renderer: Renderer
}

/**
 * Emits the `set` of `(g, key)` with the revision `revision` answers, and
 * answers it; without a closure when the backend answered at once.
 */
export function emitSet(
  emit: Emit,
  g: string,
  key: string,
  value: string,
  revision: MaybePromise<number>,
  now?: number,
): MaybePromise<number> {
  if (revision instanceof Promise) {
    return revision.then((r) => {
      emit('set', g, key, value, r, now)
      return r
    })
  }
  emit('set', g, key, value, revision, now)
  return revision
}

/** The write of a set without a condition or a quota (see `Executor.set`). */
export function plainSet(
  g: string,
  key: string,
  value: string,
  expiresAt: number | null,
  now: number,
): (q: WriteQueries, emit: Emit) => MaybePromise<number> {
  return (q, emit) => emitSet(emit, g, key, value, q.set(g, key, value, expiresAt, now), now)
}
