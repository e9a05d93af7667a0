/**
 * The runtime shared by the backends' write paths: the queue of writes
 * waiting for the next batch, the flush that starts in a promise reaction
 * once something is queued, the refusal of work after `close()`, the drain
 * on close, and the one policy for commit callbacks: a write that committed
 * always resolves, whatever its `committed` callback does (a caller told
 * that a committed write failed may retry it and apply it twice). What a
 * batch is and how it runs belongs to each backend.
 *
 * @module
 */
import { StoreError } from '../errors.js'
import { messageOf, Warnings } from '../warnings.js'

/** What runs once a write committed: who asked (for the warning), and the callback. */
export interface Committable<T = unknown> {
  readonly method: string
  committed?(result: T): void
}

const RESOLVED = Promise.resolve()
const ignore = (): void => {}

/**
 * A stretch of the event loop longer than this went to something else
 * (other callbacks, a collection of the young generation, a burst of calls
 * issued in one callback): see {@link yieldTurns}.
 */
const BUSY_ELSEWHERE_MS = 2

/** The most turns of the event loop {@link yieldTurns} gives away in a row. */
const MAX_TURNS = 4

/**
 * Lets timers, I/O and other requests run before the next step of a flush
 * that runs on the event loop (a capped commit group). At least two turns:
 * one leads from a timer's or an I/O callback's phase (a burst issued there)
 * straight to the next immediate without running timers. Then more while a
 * turn was long (a collection of the young generation runs as a task of its
 * own, after the timers of its turn), so that timers run again before the
 * next step adds its own time to the same stall.
 */
async function yieldTurns(): Promise<void> {
  await new Promise(setImmediate)
  for (let turn = 1; turn < MAX_TURNS; turn++) {
    const start = performance.now()
    await new Promise(setImmediate)
    if (performance.now() - start <= BUSY_ELSEWHERE_MS) return
  }
}

/**
 * The queue of a backend's writes (and, on SQLite, the reads behind them).
 * A flush starts in a promise reaction after the first job is queued and
 * runs the backend's step until no job waits; jobs queued meanwhile join it.
 */
export class WriteQueue<J> {
  #jobs: J[] = []
  /** Settles when the running flush (or held write) has finished; undefined when idle. */
  #flushing: Promise<void> | undefined
  #closed = false
  /** When the flush on its way was asked for (`performance.now()`). */
  #kickedAt = 0
  readonly #warnings = new Warnings()
  readonly #runNext: () => Promise<void> | undefined

  /**
   * @param runNext the backend's step: takes the jobs it runs together (one
   * batch) and runs them; answers a promise only when they did not finish
   * synchronously. Called while jobs wait, until none is left.
   */
  constructor(runNext: () => Promise<void> | undefined) {
    this.#runNext = runNext
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** True while a flush is scheduled or running, or a write run outside the queue is settling. */
  get busy(): boolean {
    return this.#flushing !== undefined
  }

  /** Jobs waiting. */
  get length(): number {
    return this.#jobs.length
  }

  /**
   * Runs a committed write's callback. One that throws is reported as a
   * `GROUPSTORE_COMMIT_CALLBACK` warning (once per cause) and changes
   * nothing else: the write committed, so it resolves, and the rest of its
   * batch is announced too.
   */
  runCallback<T>(write: Committable<T>, result: T): void {
    if (write.committed === undefined) return
    try {
      write.committed(result)
    } catch (err) {
      this.#warnings.warn('GROUPSTORE_COMMIT_CALLBACK', `${write.method}: a commit callback threw: ${messageOf(err)}`)
    }
  }

  /** Announces a committed write: its callback (see {@link runCallback}), then `resolve`, its promise's. */
  settle(write: Committable, result: unknown, resolve: (value: unknown) => void): void {
    this.runCallback(write, result)
    resolve(result)
  }

  /** The error for work asked of a closed backend, else undefined. */
  refuse(method: string): StoreError | undefined {
    return this.#closed ? new StoreError(`${method}: the database is closed`) : undefined
  }

  /** Queues a job and starts a flush unless one is on its way. */
  push(job: J): void {
    this.#jobs.push(job)
    if (this.#flushing === undefined) this.#kick()
  }

  /** True when some job waiting passes `test`. */
  some(test: (job: J) => boolean): boolean {
    return this.#jobs.some(test)
  }

  /** The first job waiting. */
  peek(): J | undefined {
    return this.#jobs[0]
  }

  /**
   * Takes the first `n` jobs waiting, or all of them. A backend that takes
   * a bounded number keeps the cost of each batch's bookkeeping in
   * proportion to the batch, not to the queue.
   */
  take(n?: number): J[] {
    if (n === undefined || n >= this.#jobs.length) {
      const jobs = this.#jobs
      this.#jobs = []
      return jobs
    }
    return this.#jobs.splice(0, n)
  }

  /**
   * Puts jobs back at the head of the queue, in order, to be taken first
   * (a backend takes and puts back at most a batch at a time: see `take`).
   * The jobs waiting are moved, not copied into a new array.
   */
  requeue(jobs: J[]): void {
    if (jobs.length > 0) this.#jobs.splice(0, 0, ...jobs)
  }

  /**
   * Holds the queue busy until `pending` settles (a write that a backend
   * ran outside the queue and that answered a promise), then flushes what
   * was queued meanwhile.
   */
  hold(pending: Promise<unknown>): void {
    this.#flushing = pending.then(ignore, ignore).then(() => {
      this.#flushing = undefined
      if (this.#jobs.length > 0) this.#kick()
    })
  }

  #kick(): void {
    this.#kickedAt = performance.now()
    // A promise reaction, not queueMicrotask: that makes an async resource each call.
    this.#flushing = RESOLVED.then(this.#flush)
  }

  readonly #flush = async (): Promise<void> => {
    try {
      // Jobs queued over a long stretch of synchronous code (a burst of calls
      // in one callback), or a collection since: timers first, then the work.
      if (performance.now() - this.#kickedAt > BUSY_ELSEWHERE_MS) await yieldTurns()
      while (this.#jobs.length > 0) {
        const pending = this.#runNext()
        if (pending !== undefined) await pending
        else if (this.#jobs.length > 0) await yieldTurns()
      }
    } finally {
      this.#flushing = undefined
    }
  }

  /** Refuses new work from now on and waits until the work in flight has settled. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    while (this.#flushing !== undefined) await this.#flushing
  }
}
