/**
 * One try of a batch of the SQLite backend inside `BEGIN IMMEDIATE`: the
 * savepoints, reruns, lost transactions, commit failures and capped commit
 * groups whose rules sqlite-batch.ts states.
 *
 * @module
 */
import type { MaybePromise } from '../backend.js'
import type { BatchRunner, Op } from './sqlite-batch.js'

/**
 * How long the ops of one commit group run before it commits and the rest
 * wait for the next group: the event loop is held for about this long plus
 * the commit (one fsync with `durability: 'full'`), and a collection of the
 * young generation may come on top (see `docs/performance.md`).
 */
export const GROUP_BUDGET_MS = 3

/**
 * The most ops a batch takes from the queue (a group seldom gets through
 * this many within {@link GROUP_BUDGET_MS}): what a group allocates and
 * puts back stays in proportion to the group, not to a queue of 10,000.
 */
export const GROUP_MAX_OPS = 2000

/**
 * One try of a batch inside `BEGIN IMMEDIATE`: runs its ops in order and
 * ends in one of its named states.
 */
export class BatchTry {
  /**
   * - `running`: ops run in order;
   * - `rerun`: rolled back and requeued whole, to run again (see {@link fail});
   * - `lost`: SQLite rolled the transaction back (see {@link abandon});
   * - `committed`: the writes that did not fail committed and are announced;
   * - `uncommitted`: COMMIT failed (see {@link finish}).
   */
  state: 'running' | 'rerun' | 'lost' | 'committed' | 'uncommitted' = 'running'
  readonly #runner: BatchRunner
  readonly #ops: Op[]
  /** What each op that ran answered, or the error it failed with (filled in order, as they run). */
  readonly #results: unknown[]
  /** True at the ops that failed. */
  readonly #failed: boolean[]
  /** More than one op: a failure must not take the others with it. */
  readonly #shared: boolean
  /** A transaction callback is in the batch: no write of it may run twice. */
  readonly #guardAll: boolean
  /** The ops from here on have not run and wait for the next group (see {@link GROUP_BUDGET_MS}). */
  #end: number
  /** When the group stops taking more ops. */
  readonly #deadline: number

  constructor(runner: BatchRunner, ops: Op[]) {
    this.#runner = runner
    this.#ops = ops
    this.#end = ops.length
    this.#deadline = performance.now() + GROUP_BUDGET_MS
    this.#results = []
    this.#failed = []
    this.#shared = ops.length > 1
    this.#guardAll = this.#shared && ops.some((op) => op.transaction)
  }

  /** The savepoint rule (see the module note). */
  guarded(op: Op): boolean {
    return this.#shared && op.write && (this.#guardAll || op.careful)
  }

  /** Runs the ops from `i` on; answers a promise when one of them answered one. */
  run(i: number): Promise<void> | undefined {
    const { tx, txq } = this.#runner
    for (; i < this.#end; i++) {
      const op = this.#ops[i] as Op
      const guarded = this.guarded(op)
      const before = txq.writes
      let result: MaybePromise<unknown>
      try {
        if (guarded) tx.savepoint.run()
        result = op.job.run(txq)
      } catch (err) {
        this.fail(i, guarded, before, err)
        if (this.state !== 'running') return undefined
        continue
      }
      if (result instanceof Promise) return this.#later(i, guarded, before, result)
      try {
        if (guarded) tx.release.run()
      } catch (err) {
        this.fail(i, guarded, before, err)
        if (this.state !== 'running') return undefined
        continue
      }
      this.#results[i] = result
      this.#cap(i)
    }
    this.finish()
    return undefined
  }

  /** After op `i` ran: ends the group there once its time is spent. */
  #cap(i: number): void {
    if (i + 1 < this.#end && performance.now() >= this.#deadline) this.#end = i + 1
  }

  #later(i: number, guarded: boolean, before: number, pending: Promise<unknown>): Promise<void> {
    return pending.then(
      (value) => {
        try {
          if (guarded) this.#runner.tx.release.run()
          this.#results[i] = value
          this.#cap(i)
        } catch (err) {
          this.fail(i, guarded, before, err)
        }
        return this.state === 'running' ? this.run(i + 1) : undefined
      },
      (err: unknown) => {
        this.fail(i, guarded, before, err)
        return this.state === 'running' ? this.run(i + 1) : undefined
      },
    )
  }

  /**
   * Records that op `i` failed; the try goes on while its state stays
   * `running`. The rerun rule: an unguarded write of a shared batch that
   * wrote before it failed (`txq.writes` grew) rolls the batch back and
   * requeues it whole, that op careful (state `rerun`). Else the op fails
   * alone: its savepoint is rolled back, or it wrote nothing. When the
   * transaction is gone, the try is abandoned (state `lost`).
   */
  fail(i: number, guarded: boolean, writesBefore: number, err: unknown): void {
    const runner = this.#runner
    const op = this.#ops[i] as Op
    if (runner.db.inTransaction && this.#shared && !guarded && runner.txq.writes > writesBefore) {
      runner.rollback()
      op.careful = true
      runner.host.requeue(this.#ops)
      this.state = 'rerun'
      return
    }
    this.#results[i] = runner.host.error(op.job.method, err)
    this.#failed[i] = true
    if (runner.db.inTransaction) {
      try {
        if (guarded) {
          runner.tx.rollbackTo.run()
          runner.tx.release.run()
        }
        return
      } catch {
        runner.rollback()
      }
    }
    this.abandon(i, err)
  }

  /**
   * The transaction was lost at op `at` (SQLite rolls back the whole
   * transaction on some errors, such as a full disk): the writes before it
   * are undone and fail with that error; reads before it, and every op after
   * it, run again in the next batch, which sees the state without them.
   */
  abandon(at: number, err: unknown): void {
    const runner = this.#runner
    runner.rollback()
    this.state = 'lost'
    const again: Op[] = []
    for (let i = 0; i < this.#ops.length; i++) {
      const op = this.#ops[i] as Op
      if (i === at) op.reject(this.#results[i])
      else if (i > at || !op.write) again.push(op)
      else op.reject(this.#failed[i] === true ? this.#results[i] : runner.host.error(op.job.method, err))
    }
    runner.host.requeue(again)
  }

  /**
   * Commits (or, when the only op failed, rolls back) and announces each op
   * that ran, in order; the ops a capped group did not run go back to the
   * head of the queue. A failed COMMIT committed nothing: the writes fail;
   * the reads may have seen those writes, so they run again in the next
   * batch.
   */
  finish(): void {
    const runner = this.#runner
    const end = this.#end
    const rest = end < this.#ops.length ? this.#ops.slice(end) : []
    const allFailed = this.#ops.length === 1 && this.#failed[0] === true
    try {
      if (allFailed) {
        runner.txq.openRevisions()
        runner.tx.rollback.run()
      } else {
        runner.txq.saveRevisions()
        runner.tx.commit.run()
      }
    } catch (err) {
      runner.rollback()
      this.state = 'uncommitted'
      const again: Op[] = []
      for (let i = 0; i < end; i++) {
        const op = this.#ops[i] as Op
        if (!op.write) again.push(op)
        else op.reject(this.#failed[i] === true ? this.#results[i] : runner.host.error(op.job.method, err))
      }
      runner.host.requeue(again.concat(rest))
      return
    }
    this.state = 'committed'
    runner.host.requeue(rest)
    for (let i = 0; i < end; i++) {
      const op = this.#ops[i] as Op
      if (this.#failed[i] === true) op.reject(this.#results[i])
      else runner.host.settle(op, this.#results[i])
    }
  }
}
