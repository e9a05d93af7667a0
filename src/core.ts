/**
 * The engine behind a Store and its scopes: the executor that runs their
 * operations on the backend and records their changes in the feed, the
 * transaction runner, watch/onChange plumbing and the misuse checks. Not
 * exported from the package.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { then } from './backend/backend.js'
import type { Backend, Footprint, MaybePromise, Write, WriteOptions } from './backend/backend.js'
import type { NewChange, ReadQueries, WriteQueries } from './backend/queries.js'
import { StoreClosedError, StoreError } from './errors.js'
import { DEFAULT_BUFFER_SIZE } from './events.js'
import type { EventView, StoreEvent, Watcher, WatchOptions } from './events.js'
import { emitSet } from './executor.js'
import type { Emit, Executor } from './executor.js'
import { Feed } from './feed.js'
import type { Recorded } from './feed.js'
import type { Quota } from './operations.js'
import type { ResolvedOptions } from './options.js'
import { Renderer } from './render.js'
import { Transaction, TransactionExecutor } from './transaction.js'
import { checkOptions, checkString } from './validate.js'

/** The transaction whose callback is running, seen through async context. */
interface TxContext {
  core: StoreCore
  settled: boolean
}

const txContext = new AsyncLocalStorage<TxContext>()
/**
 * Transactions open in every store of the process. Async context costs every
 * promise of the process something while it is enabled (Node 20 tracks it
 * with promise hooks), so it is enabled only while a transaction is open.
 */
let openTransactions = 0
const POINT: WriteOptions = { kind: 'point' }
const TRANSACTION: WriteOptions = { kind: 'transaction' }
/** The options of each kind of write with `inline` set, made once. */
const INLINE = {
  point: { kind: 'point', inline: true },
  checked: { kind: 'checked', inline: true },
  multi: { kind: 'multi', inline: true },
  transaction: { kind: 'transaction', inline: true },
} as const satisfies Record<string, WriteOptions>
/** A point write of one statement that records its own change (see `WriteOptions.oneStatement`). */
const ONE_STATEMENT: WriteOptions = { kind: 'point', oneStatement: true }
/** A point write of one conditional write or increment, inline. */
const ONE_STATEMENT_INLINE: WriteOptions = { kind: 'point', inline: true, oneStatement: true }

/** `options` (those of a write, not a transaction) with `inline` set. */
function inline(options: WriteOptions | undefined): WriteOptions {
  if (options?.oneStatement === true) return ONE_STATEMENT_INLINE
  return INLINE[options?.kind ?? 'multi']
}

/** A transaction callback. */
export type TransactionCallback<T> = (tx: Transaction) => Promise<T> | T

/** Runs a Store's and its scopes' operations on one backend. */
export class StoreCore implements Executor {
  readonly backend: Backend
  readonly feed: Feed
  readonly renderer = new Renderer()
  readonly #clock: () => number
  closed = false
  #openTransactions = 0

  private constructor(backend: Backend, feed: Feed, options: ResolvedOptions) {
    this.backend = backend
    this.feed = feed
    this.#clock = options.now
  }

  static async open(backend: Backend, options: ResolvedOptions): Promise<StoreCore> {
    const feed = await Feed.open(backend, options.changeLog, options.changeRetention)
    return new StoreCore(backend, feed, options)
  }

  now(): number {
    return this.#clock()
  }

  refuse(method: string): Error | undefined {
    if (this.closed) return new StoreClosedError(method)
    return this.misuse(method)
  }

  /** The error for a call on the store from inside one of its own transaction callbacks, if this is one. */
  misuse(method: string): StoreError | undefined {
    if (this.#openTransactions > 0) {
      const ctx = txContext.getStore()
      if (ctx !== undefined && ctx.core === this && !ctx.settled) {
        return new StoreError(
          `${method}: called on the store inside one of its own transactions, which would wait for ever; ` +
            'use the transaction object passed to the callback',
        )
      }
    }
    return undefined
  }

  read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>, footprint?: Footprint): Promise<T> {
    return this.backend.read(method, fn, footprint)
  }

  write<T>(
    method: string,
    fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>,
    options?: WriteOptions,
    footprint?: Footprint,
  ): Promise<T> {
    return this.#submit(new FnWrite(this, method, fn, footprint), options)
  }

  set(method: string, g: string, key: string, value: string, expiresAt: number | null, now: number): Promise<number> {
    return this.#submit(new SetWrite(this, method, g, key, value, expiresAt, now), ONE_STATEMENT, now)
  }

  /** Hands a write to the backend; `now`, the store's time of the write if it has read the clock already. */
  #submit<T>(write: StoreWrite<T>, options: WriteOptions | undefined, now?: number): Promise<T> {
    // A one-statement write runs nothing else: when the log is due a prune, it runs as a plain point write that prunes.
    if (options?.oneStatement === true && this.feed.durable && this.feed.pruneDue(now ?? this.#clock())) options = POINT
    write.prune = options?.oneStatement !== true
    // Without subscribers, delivering runs none of the caller's code. (With
    // a durable log, delivering reads other connections' changes first.)
    return this.backend.write(write, this.feed.durable || this.feed.hub.active ? options : inline(options))
  }

  expire(group: string, key: string, now: number): Promise<void> {
    return this.write(
      'store.get',
      (q, emit) =>
        then(q.deleteExpired(group, key, now), (deleted) => {
          if (deleted) emit('expire', group, key)
        }),
      POINT,
      { group, key },
    ).catch(() => {
      // The key stays until the next purge; the read that found it has already answered.
    })
  }

  revision(method: string): Promise<number> {
    return this.feed.revision(method)
  }

  /** Runs `fn` in one backend transaction with a Transaction bound to `namespace`. */
  transaction<T>(method: string, fn: TransactionCallback<T>, namespace: string, quota: Required<Quota> | undefined): Promise<T> {
    const refused = this.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`${method}: fn must be a function taking the transaction`))
    }
    const feed = this.feed
    let recorded: Recorded | undefined
    const run = (q: WriteQueries): MaybePromise<T> => {
      recorded = undefined
      const tx = new TransactionExecutor(q, this)
      const ctx: TxContext = { core: this, settled: false }
      this.#openTransactions++
      openTransactions++
      const settle = (): void => {
        if (ctx.settled) return
        ctx.settled = true
        tx.settle()
        this.#openTransactions--
        if (--openTransactions === 0) txContext.disable()
      }
      // After the callback and every operation it started: record the changes in the log.
      const finish = (value: T): MaybePromise<T> =>
        then(tx.drain(), () => {
          if (tx.changes.length === 0) return value
          return then(feed.record(q, tx.changes), (r) => {
            recorded = r
            return value
          })
        })
      let result: Promise<T> | T
      const mark = q.revisionMark?.()
      const rewind = (): void => {
        if (mark !== undefined) rewindTo(q, mark)
      }
      try {
        result = txContext.run(ctx, fn, new Transaction(tx, namespace, quota))
      } catch (err) {
        settle()
        rewind()
        throw err
      }
      if (!isThenable(result)) {
        settle()
        return finish(result)
      }
      return Promise.resolve(result).then(
        (value) => {
          settle()
          return finish(value)
        },
        async (err: unknown) => {
          settle()
          await tx.drain()
          rewind()
          throw err
        },
      )
    }
    const committed = (): void => {
      if (recorded !== undefined) feed.deliver(recorded)
    }
    return this.backend.write({ method, footprint: undefined, run, committed }, TRANSACTION)
  }

  /** A watcher; `view` maps a store-level event to what the caller sees, or undefined. */
  watch(
    method: string,
    group: unknown,
    key: unknown,
    options: unknown,
    view: (event: StoreEvent, group: string, key: string) => StoreEvent | undefined,
  ): Watcher {
    if (this.closed) throw new StoreClosedError(method)
    checkString(method, 'group', group)
    checkString(method, 'key', key)
    checkOptions(method, options, ['bufferSize', 'signal', 'since'])
    const o = options as WatchOptions | undefined
    const bufferSize = o?.bufferSize ?? DEFAULT_BUFFER_SIZE
    if (typeof bufferSize !== 'number') {
      throw new TypeError(`${method}: options.bufferSize must be a number, got ${typeof bufferSize}`)
    }
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
      throw new RangeError(`${method}: options.bufferSize must be a positive integer, got ${String(bufferSize)}`)
    }
    const signal = o?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`${method}: options.signal must be an AbortSignal`)
    }
    const since = o?.since
    if (since !== undefined && typeof since !== 'number') {
      throw new TypeError(`${method}: options.since must be a number (a revision), got ${typeof since}`)
    }
    if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
      throw new RangeError(`${method}: options.since must be a non-negative safe integer (a revision), got ${String(since)}`)
    }
    return this.feed.hub.watch(this.feed, (e) => view(e, group, key), { bufferSize, signal, since: since ?? this.feed.unannounced() })
  }

  /** Subscribes `fn`; `view` as for {@link watch}. */
  onChange(method: string, fn: unknown, view: EventView): () => void {
    if (this.closed) throw new StoreClosedError(method)
    if (typeof fn !== 'function') throw new TypeError(`${method}: fn must be a function taking the event`)
    return this.feed.hub.onChange(view, fn as (event: StoreEvent) => void)
  }
}

/**
 * A write of the store, as its backend queues it (see `Write`): runs the
 * operation, records the changes it emits in the feed inside the write's
 * transaction, and delivers them once committed. One object per write and
 * no closure but each run's recorder: a burst leaves thousands of them
 * waiting in a file's queue, and an in-memory set makes one per call.
 */
abstract class StoreWrite<T> implements Write<T> {
  readonly method: string
  abstract readonly footprint: Footprint | undefined
  readonly #core: StoreCore
  /** False for a write that must run no statement of its own besides its change record. */
  prune = true
  /** The changes of the last run, recorded, to deliver once committed. */
  #recorded: Recorded | undefined

  constructor(core: StoreCore, method: string) {
    this.#core = core
    this.method = method
  }

  /** The operation: its statements, and the changes it emits. */
  protected abstract apply(q: WriteQueries, emit: Emit): MaybePromise<T>

  /**
   * Runs the operation. A write that fails puts back the revisions it took
   * from a counter that its rollback does not restore (a private in-memory
   * database's), so that it leaves no revision behind.
   */
  run(q: WriteQueries): MaybePromise<T> {
    this.#recorded = undefined
    const core = this.#core
    // Made by the first change, to its size: most writes record one.
    let changes: NewChange[] | undefined
    const emit: Emit = (type, group, key, value, revision, timestamp) => {
      const change = { revision: revision ?? q.nextRevision(), type, group, key, value: value ?? null, timestamp: timestamp ?? core.now() }
      if (changes === undefined) changes = [change]
      else changes.push(change)
    }
    const mark = q.revisionMark?.()
    let done: MaybePromise<T>
    try {
      const value = this.apply(q, emit)
      done = value instanceof Promise ? value.then((v) => this.#record(q, changes, v)) : this.#record(q, changes, value)
    } catch (err) {
      if (mark !== undefined) rewindTo(q, mark)
      throw err
    }
    if (mark === undefined || !(done instanceof Promise)) return done
    return done.catch((err: unknown) => {
      rewindTo(q, mark)
      throw err
    })
  }

  /** After the operation: records its changes in the feed (the log, inside the transaction). */
  #record(q: WriteQueries, changes: NewChange[] | undefined, result: T): MaybePromise<T> {
    if (changes === undefined) return result
    const logged = this.#core.feed.record(q, changes, this.prune)
    if (logged instanceof Promise) {
      return logged.then((r) => {
        this.#recorded = r
        return result
      })
    }
    this.#recorded = logged
    return result
  }

  committed(): void {
    if (this.#recorded !== undefined) this.#core.feed.deliver(this.#recorded)
  }
}

/** A write whose operation is a function (see `Executor.write`). */
class FnWrite<T> extends StoreWrite<T> {
  readonly footprint: Footprint | undefined
  readonly #fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>

  constructor(core: StoreCore, method: string, fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>, footprint: Footprint | undefined) {
    super(core, method)
    this.#fn = fn
    this.footprint = footprint
  }

  protected apply(q: WriteQueries, emit: Emit): MaybePromise<T> {
    return this.#fn(q, emit)
  }
}

/**
 * A set without a condition or a quota (see `Executor.set`), the most
 * frequent write: its arguments kept in the write itself, which is also its
 * footprint, rather than in a closure and a footprint of their own (a
 * queued durable set holds about a quarter less).
 */
class SetWrite extends StoreWrite<number> implements Footprint {
  readonly group: string
  readonly key: string
  readonly #value: string
  readonly #expiresAt: number | null
  readonly #now: number

  constructor(core: StoreCore, method: string, g: string, key: string, value: string, expiresAt: number | null, now: number) {
    super(core, method)
    this.group = g
    this.key = key
    this.#value = value
    this.#expiresAt = expiresAt
    this.#now = now
  }

  get footprint(): Footprint {
    return this
  }

  protected apply(q: WriteQueries, emit: Emit): MaybePromise<number> {
    const now = this.#now
    return emitSet(emit, this.group, this.key, this.#value, q.set(this.group, this.key, this.#value, this.#expiresAt, now), now)
  }
}

/** Puts a private in-memory database's revision counter back to `mark`, if the queries still can. */
function rewindTo(q: WriteQueries, mark: number): void {
  try {
    q.rewindRevisions?.(mark)
  } catch {
    // The transaction is gone: nothing more to undo.
  }
}

function isThenable<T>(value: Promise<T> | T): value is Promise<T> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
}
