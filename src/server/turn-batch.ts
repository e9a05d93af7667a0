/**
 * Jobs held until the end of the current turn of the event loop, then run
 * together.
 *
 * The server uses two:
 * - Writes. Each HTTP request arrives in its own callback, and the
 *   microtasks after each callback would let the store commit every write on
 *   its own. Held until the turn's `setImmediate`, the writes of every request
 *   that arrived in that turn start in one callback, so the store's group
 *   commit finds them together and commits them at once.
 * - Answers. Node sends each answer with a system call of its own as soon as
 *   it is complete; under load a turn completes dozens, tens of microseconds
 *   apart. A client on the same machine, which is where a server without
 *   tokens listens, is woken for each one, and over loopback the sender pays
 *   for that wake-up inside its own system call. Held until the turn's end,
 *   the turn's answers leave back to back, and a client waiting for several
 *   is woken once for them. An answer waits at most for the rest of its turn.
 *
 * @module
 */

type Job = () => void

/** Runs queued jobs together at the end of the current turn of the event loop. */
export class TurnBatch {
  #jobs: Job[] = []
  readonly #run = (): void => {
    const jobs = this.#jobs
    this.#jobs = []
    for (const job of jobs) job()
  }

  /** Runs `job` with the other jobs of this turn, at its `setImmediate`. */
  defer(job: Job): void {
    if (this.#jobs.length === 0) setImmediate(this.#run)
    this.#jobs.push(job)
  }

  /** Runs `fn` with the other jobs of this turn; answers its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.defer(() => {
        try {
          fn().then(resolve, reject)
        } catch (err) {
          reject(err)
        }
      }),
    )
  }
}
