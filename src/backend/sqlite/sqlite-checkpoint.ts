/**
 * Checkpoints, mostly off the event loop. better-sqlite3 runs on the main
 * thread, and SQLite's automatic checkpoint runs inside the commit that
 * takes the WAL past 1,000 pages: it copies them into the database file and
 * syncs it there and then, holding the event loop for milliseconds (tens of
 * them on a busy disk). So one worker thread per process, with a connection
 * of its own to each file, copies the WAL back as writes commit: a
 * `PRAGMA wal_checkpoint(PASSIVE)` (which never waits for the writer or
 * readers) at most every {@link CHECKPOINT_EVERY_MS}. The store's connection
 * keeps SQLite's automatic checkpoint, which then finds little left to copy
 * and starts the WAL over at the next write as before; should the thread
 * fall behind (a loaded machine) or fail to start, that checkpoint does the
 * work, as without the thread.
 *
 * @module
 */
import { createRequire } from 'node:module'
import type { Worker } from 'node:worker_threads'

// node:worker_threads is loaded when the thread starts, not by every process
// that opens a file (a command-line call never starts it).
const require = createRequire(import.meta.url)

/** The least time between two checkpoints of one file while writes commit. */
export const CHECKPOINT_EVERY_MS = 50
/**
 * Write batches, or writes, a store commits before its first checkpoint
 * request: a short-lived store (a command-line call, a test) never starts
 * the thread, and SQLite's own checkpoint, or the close, does the little
 * there is; a burst of writes starts it at once.
 */
const FIRST_AFTER_BATCHES = 64
const FIRST_AFTER_WRITES = 1000

/** A message to the checkpoint thread. */
export interface CheckpointRequest {
  readonly id: number
  readonly op: 'checkpoint' | 'close'
  readonly file: string
  readonly durability: 'full' | 'normal'
}

/** The thread's answer to a request. */
export interface CheckpointReply {
  readonly id: number
  readonly ok: boolean
  readonly error?: string
}

/** The process's checkpoint thread, started by the first request. */
class CheckpointThread {
  readonly #worker: Worker
  readonly #pending = new Map<number, (reply: CheckpointReply) => void>()
  #nextId = 1
  failed = false

  constructor() {
    const threads = require('node:worker_threads') as typeof import('node:worker_threads')
    this.#worker = new threads.Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url))
    this.#worker.unref()
    this.#worker.on('message', (reply: CheckpointReply) => {
      const done = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      if (this.#pending.size === 0) this.#worker.unref()
      done?.(reply)
    })
    this.#worker.on('error', () => this.#fail())
    this.#worker.on('exit', () => this.#fail())
  }

  #fail(): void {
    this.failed = true
    if (thread === this) thread = undefined
    for (const [id, done] of this.#pending) done({ id, ok: false, error: 'the checkpoint thread stopped' })
    this.#pending.clear()
  }

  /** Sends a request; answers the reply (never rejects). Keeps the process alive while requests are pending. */
  send(op: CheckpointRequest['op'], file: string, durability: CheckpointRequest['durability']): Promise<CheckpointReply> {
    const id = this.#nextId++
    return new Promise((resolve) => {
      if (this.failed) {
        resolve({ id, ok: false })
        return
      }
      this.#pending.set(id, resolve)
      this.#worker.ref()
      this.#worker.postMessage({ id, op, file, durability } satisfies CheckpointRequest)
    })
  }
}

let thread: CheckpointThread | undefined

function sharedThread(): CheckpointThread | undefined {
  try {
    thread ??= new CheckpointThread()
    return thread
  } catch {
    return undefined
  }
}

/** The checkpoints of one store's file. */
export class Checkpoints {
  readonly #file: string
  readonly #durability: 'full' | 'normal'
  #closed = false
  #inFlight = false
  /** The thread holds a connection to the file, to be closed with the store. */
  #opened: CheckpointThread | undefined
  #last = 0
  #batches = 0
  #writes = 0

  constructor(file: string, durability: 'full' | 'normal') {
    this.#file = file
    this.#durability = durability
  }

  /** True while the thread checkpoints the file. */
  get running(): boolean {
    return this.#inFlight
  }

  /** After a batch of `writes` writes committed: asks for a checkpoint unless one ran a moment ago or is running. */
  afterWrite(writes: number): void {
    if (this.#closed || this.#inFlight) return
    if (++this.#batches < FIRST_AFTER_BATCHES && (this.#writes += writes) < FIRST_AFTER_WRITES) return
    const now = Date.now()
    if (now - this.#last < CHECKPOINT_EVERY_MS) return
    this.#last = now
    const worker = sharedThread()
    if (worker === undefined || worker.failed) {
      // SQLite's own checkpoint does the work on this file from now on.
      this.#closed = true
      return
    }
    this.#inFlight = true
    this.#opened = worker
    void worker.send('checkpoint', this.#file, this.#durability).then((reply) => {
      this.#inFlight = false
      if (!reply.ok) this.#closed = true
    })
  }

  /**
   * After the store's connection closed: closes the thread's, the last one,
   * which checkpoints the file and removes the WAL as SQLite does.
   */
  async close(): Promise<void> {
    this.#closed = true
    const worker = this.#opened
    this.#opened = undefined
    if (worker !== undefined && !worker.failed) await worker.send('close', this.#file, this.#durability)
  }
}
