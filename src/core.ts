/**
 * The engine behind a Store and its scopes: the executor that runs their
 * operations on the backend, the event hub, the transaction runner and the
 * misuse checks. Not exported from the package.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Backend, BackendQueries, MaybePromise, WriteOptions } from './backend/backend.js'
import { StoreClosedError, StoreError } from './errors.js'
import { DEFAULT_BUFFER_SIZE, EventHub } from './events.js'
import type { StoreEvent, StoreEventType, Watcher, WatchOptions } from './events.js'
import type { Executor, Quota } from './operations.js'
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
const SINGLE: WriteOptions = { single: true }
const TRANSACTION: WriteOptions = { transaction: true }

/** A transaction callback. */
export type TransactionCallback<T> = (tx: Transaction) => Promise<T> | T

/** Runs a Store's and its scopes' operations on one backend. */
export class StoreCore implements Executor {
  readonly backend: Backend
  readonly hub = new EventHub()
  readonly renderer = new Renderer()
  readonly #clock: () => number
  closed = false
  #openTransactions = 0

  constructor(backend: Backend, options: ResolvedOptions) {
    this.backend = backend
    this.#clock = options.now
  }

  now(): number {
    return this.#clock()
  }

  refuse(method: string): Error | undefined {
    if (this.closed) return new StoreClosedError(method)
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

  read<T>(method: string, fn: (q: BackendQueries) => MaybePromise<T>): Promise<T> {
    return this.backend.read(method, fn)
  }

  write<T>(
    method: string,
    fn: (q: BackendQueries) => MaybePromise<T>,
    onCommit?: (result: T) => void,
    options?: WriteOptions,
  ): Promise<T> {
    return this.backend.write(method, fn, onCommit, options)
  }

  publish(type: StoreEventType, group: string, key: string, value?: string): void {
    if (!this.hub.active) return
    const event: StoreEvent =
      type === 'set'
        ? { type, group, key, value: value as string, timestamp: new Date(this.#clock()) }
        : { type, group, key, timestamp: new Date(this.#clock()) }
    this.hub.publish(event)
  }

  expire(group: string, key: string, now: number): void {
    this.backend
      .write(
        'store.get',
        (q) => q.deleteExpired(group, key, now),
        (deleted) => {
          if (deleted) this.publish('expire', group, key)
        },
        SINGLE,
      )
      .catch(() => {
        // The key stays until the next purge; the read that found it has already answered.
      })
  }

  /** Runs `fn` in one backend transaction with a Transaction bound to `namespace`. */
  transaction<T>(method: string, fn: TransactionCallback<T>, namespace: string, quota: Required<Quota> | undefined): Promise<T> {
    const refused = this.refuse(method)
    if (refused !== undefined) return Promise.reject(refused)
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`${method}: fn must be a function taking the transaction`))
    }
    let exec: TransactionExecutor | undefined
    return this.backend.write<T>(
      method,
      (q) => {
        const tx = new TransactionExecutor(q, this)
        exec = tx
        const ctx: TxContext = { core: this, settled: false }
        this.#openTransactions++
        const settle = (): void => {
          if (ctx.settled) return
          ctx.settled = true
          tx.settle()
          this.#openTransactions--
        }
        let result: Promise<T> | T
        try {
          result = txContext.run(ctx, fn, new Transaction(tx, namespace, quota))
        } catch (err) {
          settle()
          throw err
        }
        if (!isThenable(result)) {
          settle()
          const drained = tx.drain()
          return drained === undefined ? result : drained.then(() => result)
        }
        return Promise.resolve(result).then(
          async (value) => {
            settle()
            await tx.drain()
            return value
          },
          async (err: unknown) => {
            settle()
            await tx.drain()
            throw err
          },
        )
      },
      () => {
        for (const emit of (exec as TransactionExecutor).afterCommit) emit()
      },
      TRANSACTION,
    )
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
    checkOptions(method, options, ['bufferSize', 'signal'])
    const o = options as WatchOptions | undefined
    const bufferSize = o?.bufferSize ?? DEFAULT_BUFFER_SIZE
    if (typeof bufferSize !== 'number' || !Number.isInteger(bufferSize) || bufferSize < 1) {
      throw new RangeError(`${method}: options.bufferSize must be a positive integer, got ${String(bufferSize)}`)
    }
    const signal = o?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`${method}: options.signal must be an AbortSignal`)
    }
    return this.hub.watch((e) => view(e, group, key), { bufferSize, signal })
  }

  /** Subscribes `fn`; `view` as for {@link watch}. */
  onChange(method: string, fn: unknown, view: (event: StoreEvent) => StoreEvent | undefined): () => void {
    if (this.closed) throw new StoreClosedError(method)
    if (typeof fn !== 'function') throw new TypeError(`${method}: fn must be a function taking the event`)
    return this.hub.onChange(view, fn as (event: StoreEvent) => void)
  }
}

function isThenable<T>(value: Promise<T> | T): value is Promise<T> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
}
