/**
 * Starts writes that arrive in one turn of the event loop together.
 *
 * Each HTTP request arrives in its own callback, and the microtasks after
 * each callback would let the store commit every write on its own. Held
 * until the turn's `setImmediate`, the writes of every request that arrived
 * in that turn start in one callback, so the store's group commit finds them
 * together and commits them at once.
 *
 * @module
 */

type Job = () => void

/** Runs queued jobs together at the end of the current turn of the event loop. */
export class TurnBatch {
  #jobs: Job[] = []
  #scheduled = false
  readonly #run = (): void => {
    const jobs = this.#jobs
    this.#jobs = []
    this.#scheduled = false
    for (const job of jobs) job()
  }

  /** Runs `fn` with the other jobs of this turn; answers its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push(() => fn().then(resolve, reject))
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(this.#run)
      }
    })
  }
}
