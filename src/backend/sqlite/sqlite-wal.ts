/**
 * Keeps a database file's write-ahead log bounded. SQLite copies the WAL
 * back into the file after a commit once it holds 1,000 pages (its
 * `wal_autocheckpoint`), and the next writer starts it over from the
 * beginning, but only when no reader is still using it. Under readers that
 * follow one another without a pause (another process reading all the
 * time), there always is one, the WAL never starts over and grows without
 * end (seen: 260 MB for a 3 MB database after a minute of writes). A WAL
 * file also never shrinks by itself after one large transaction.
 *
 * So, now and then before a write batch, the backend looks at the WAL's
 * size; past {@link WAL_LIMIT_BYTES} it holds its writes back for a few
 * milliseconds, on timers, and asks for a checkpoint that truncates the
 * WAL (`wal_checkpoint(TRUNCATE)`, which does not wait for readers: the
 * lock wait stays off) every millisecond until one succeeds: with no new
 * writes, the readers of older snapshots finish, and new readers read the
 * file. It gives up after {@link WAL_WAIT_MS} and tries again later. No
 * file is ever vacuumed: pages freed by pruning or deletes are reused by
 * later writes.
 *
 * @module
 */
import { statSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'

/** A WAL larger than this is truncated before the next write batch. */
export const WAL_LIMIT_BYTES = 16 * 1024 * 1024
/** How often, at most, the WAL's size is looked at (a `stat` of the file). */
const CHECK_EVERY_MS = 100
/** The longest writes are held back for one truncation. */
const WAL_WAIT_MS = 25
/** After a truncation that readers prevented, the next try waits this long. */
const RETRY_AFTER_MS = 250

/** The WAL guard of one connection to a database file. */
export class WalLimit {
  readonly #db: BetterSqlite3.Database
  readonly #path: string
  /** True while another connection of this store checkpoints the file (SQLite runs one checkpoint at a time). */
  readonly #checkpointing: () => boolean
  #nextCheck = 0

  constructor(db: BetterSqlite3.Database, location: string, checkpointing: () => boolean) {
    this.#db = db
    this.#path = `${location}-wal`
    this.#checkpointing = checkpointing
  }

  /**
   * Before a write batch: undefined when it may run now, else a promise
   * that settles when the WAL has been truncated or the wait was given up.
   * Never rejects.
   */
  beforeWrite(): Promise<void> | undefined {
    const now = Date.now()
    if (now < this.#nextCheck) return undefined
    this.#nextCheck = now + CHECK_EVERY_MS
    if (this.#size() <= WAL_LIMIT_BYTES || this.#truncate()) return undefined
    const deadline = now + WAL_WAIT_MS
    return new Promise((resolve) => {
      const attempt = (): void => {
        if (this.#truncate()) {
          resolve()
        } else if (Date.now() >= deadline) {
          this.#nextCheck = Date.now() + RETRY_AFTER_MS
          resolve()
        } else {
          setTimeout(attempt, 1)
        }
      }
      setTimeout(attempt, 1)
    })
  }

  #size(): number {
    try {
      return statSync(this.#path).size
    } catch {
      return 0
    }
  }

  /** One try at a checkpoint that empties the WAL; true when it did. */
  #truncate(): boolean {
    if (!this.#db.open || this.#db.inTransaction || this.#checkpointing()) return false
    try {
      const [row] = this.#db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[]
      return row?.busy === 0
    } catch {
      // Another connection is checkpointing or recovering: try again later.
      return false
    }
  }
}
