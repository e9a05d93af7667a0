/**
 * Which database a command uses, and opening it: `--db`, else
 * `GROUPSTORE_DB`, else `./groupstore.db`.
 *
 * @module
 */
import { existsSync } from 'node:fs'
import { Store } from '../index.js'
import type { ScopedStore } from '../index.js'
import { databaseLocation } from './arguments.js'
import type { Access } from './arguments.js'

/**
 * An open store, the scope a command works in, and the clock both read.
 * The clock can be pinned, so that a run of reads judges expiry at one
 * instant (export, import).
 */
export class Session {
  readonly store: Store
  readonly target: Store | ScopedStore
  readonly location: string
  readonly #clock: { pinned: number | undefined }

  constructor(store: Store, target: Store | ScopedStore, location: string, clock: { pinned: number | undefined }) {
    this.store = store
    this.target = target
    this.location = location
    this.#clock = clock
  }

  /** Fixes the store's clock at the current time, and answers it. */
  pin(): number {
    this.#clock.pinned = Date.now()
    return this.#clock.pinned
  }

  close(): Promise<void> {
    return this.store.close()
  }
}

/**
 * Opens the database for a command. With `existing` access a file that does
 * not exist is not created: the command runs on an empty in-memory store.
 */
export async function openSession(db: string | undefined, access: Access, scope: string | undefined): Promise<Session> {
  const location = databaseLocation(db)
  // A URL (postgres://…) or ':memory:' is not a file that could be missing.
  const missing = access === 'existing' && location !== ':memory:' && !location.includes('://') && !existsSync(location)
  const clock: { pinned: number | undefined } = { pinned: undefined }
  const store = await Store.open(missing ? ':memory:' : location, {
    purgeInterval: 0,
    now: () => clock.pinned ?? Date.now(),
  })
  let target: Store | ScopedStore = store
  if (scope !== undefined) {
    try {
      target = store.scope(scope)
    } catch (err) {
      await store.close()
      throw err
    }
  }
  return new Session(store, target, location, clock)
}

/** Runs `fn` with an open session, closing the store however it ends. */
export async function withSession<T>(
  db: string | undefined,
  access: Access,
  scope: string | undefined,
  fn: (session: Session) => Promise<T>,
): Promise<T> {
  const session = await openSession(db, access, scope)
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}
