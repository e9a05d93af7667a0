/**
 * The object a transaction callback receives.
 *
 * @module
 */
import { then } from './backend/backend.js'
import type { Backend, MaybePromise } from './backend/backend.js'
import type { NewChange, ReadQueries, WriteQueries } from './backend/queries.js'
import { StoreError } from './errors.js'
import { plainSet } from './executor.js'
import type { Emit, Executor } from './executor.js'
import { Operations } from './operations.js'
import type { Quota } from './operations.js'
import type { Renderer } from './render.js'

/** What a transaction needs from the store that opened it. */
export interface TransactionHost {
  readonly backend: Backend
  readonly renderer: Renderer
  now(): number
}

/** Runs operations on the transaction's own queries; their changes are published after commit. */
export class TransactionExecutor implements Executor {
  readonly #q: WriteQueries
  readonly #host: TransactionHost
  /** The changes the transaction's writes made, in order. */
  readonly changes: NewChange[] = []
  readonly #emit: Emit = (type, group, key, value, revision, timestamp) => {
    this.changes.push({
      revision: revision ?? this.#q.nextRevision(),
      type,
      group,
      key,
      value: value ?? null,
      timestamp: timestamp ?? this.#host.now(),
    })
  }
  #settled = false
  #pending = 0
  #drained: (() => void) | undefined
  /** Settles when the operations issued so far have finished (see {@link #run}). */
  #tail: Promise<unknown> = Promise.resolve()

  constructor(q: WriteQueries, host: TransactionHost) {
    this.#q = q
    this.#host = host
  }

  get renderer(): Renderer {
    return this.#host.renderer
  }

  now(): number {
    return this.#host.now()
  }

  /** Marks the callback as settled: later calls reject. */
  settle(): void {
    this.#settled = true
  }

  /** Resolves once operations still running have finished (none on a synchronous backend). */
  drain(): Promise<void> | undefined {
    if (this.#pending === 0) return undefined
    return new Promise((resolve) => {
      this.#drained = resolve
    })
  }

  refuse(method: string): Error | undefined {
    if (!this.#settled) return undefined
    return new StoreError(
      `${method}: this transaction has already settled; await every operation inside the transaction callback`,
    )
  }

  /**
   * Runs an operation at once or, while others are still running, after
   * them: operations issued together (`Promise.all` of several) run one
   * after another in the order issued, as one connection must run them,
   * each taking its revisions where the one before stopped.
   */
  #run<T>(method: string, fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>): Promise<T> {
    let result: MaybePromise<T>
    if (this.#pending > 0) {
      result = this.#tail.then(() => fn(this.#q, this.#emit))
    } else {
      try {
        result = fn(this.#q, this.#emit)
      } catch (err) {
        return Promise.reject(this.#host.backend.error(method, err))
      }
      if (!(result instanceof Promise)) return Promise.resolve(result)
    }
    this.#pending++
    const finish = (): void => {
      if (--this.#pending === 0) this.#drained?.()
    }
    const settled = result.then(
      (value) => {
        finish()
        return value
      },
      (err: unknown) => {
        finish()
        throw this.#host.backend.error(method, err)
      },
    )
    this.#tail = settled.catch(() => {})
    return settled
  }

  read<T>(method: string, fn: (q: ReadQueries) => MaybePromise<T>): Promise<T> {
    return this.#run(method, fn)
  }

  write<T>(method: string, fn: (q: WriteQueries, emit: Emit) => MaybePromise<T>): Promise<T> {
    return this.#run(method, fn)
  }

  set(method: string, g: string, key: string, value: string, expiresAt: number | null, now: number): Promise<number> {
    return this.#run(method, plainSet(g, key, value, expiresAt, now))
  }

  revision(method: string): Promise<number> {
    return this.#run(method, (q) => then(q.revisionRange(), (r) => r.latest))
  }

  expire(group: string, key: string, now: number): Promise<void> {
    return this.#run('tx.get', (q, emit) =>
      then(q.deleteExpired(group, key, now), (deleted) => {
        if (deleted) emit('expire', group, key)
      }),
    ).catch(() => {})
  }
}

/**
 * The transaction handed to a `transaction` callback: every read/write
 * method of the store (or of the scope that opened it), all-or-nothing.
 * Its writes are invisible outside until commit; events fire after commit.
 * Operations issued together run one after another, in the order issued.
 * Using it after the callback has settled rejects with a StoreError.
 *
 * @example
 * ```ts
 * await store.transaction(async (tx) => {
 *   const n = Number(await tx.get('stock', 'apples') ?? 0)
 *   await tx.set('stock', 'apples', String(n - 1))
 *   await tx.set('orders', 'o-1', 'apples')
 * })
 * ```
 */
export class Transaction extends Operations {
  /** @internal Made by the store for each transaction. */
  constructor(exec: TransactionExecutor, namespace: string, quota: Required<Quota> | undefined) {
    super('tx', exec, namespace, quota)
  }
}
