/**
 * Driver errors of the SQLite backend: which ones mean a lock wait or a
 * damaged file, and the StoreError each becomes.
 *
 * @module
 */
import { createRequire } from 'node:module'
import type BetterSqlite3 from 'better-sqlite3'
import { StoreError, wrapError } from '../../errors.js'
import type { StoreErrorCode } from '../../errors.js'

// better-sqlite3 is CommonJS: required rather than imported, so that Node does not
// scan its source for named exports (a few milliseconds of every start-up).
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3

/** How messages name the database: its path, or the in-memory database. */
export function describeLocation(location: string): string {
  return location === ':memory:' ? 'the in-memory database' : `'${location}'`
}

/** True when another connection holds the lock `err` waited for. */
export function isBusy(err: unknown): boolean {
  return err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED'))
}

/** True when `err` means the file is damaged or not a database. */
export function isCorrupt(err: unknown): boolean {
  return err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB')
}

/** A query issued after SQLite rolled the batch's transaction back; {@link sqliteError} names the method. */
export class TransactionLost extends Error {}

/**
 * A second statement that writes in a write run on its own, outside a
 * transaction: the write was declared a point write but is not one, and its
 * statements would not be atomic. Refused before it runs.
 */
export class NotAtomic extends Error {}

/**
 * A driver error as a StoreError naming `method` and, for conditions of the
 * file (corrupt, full disk, read-only, I/O), the database: a lock wait past
 * the timeout is `ERR_STORE_BUSY`, a damaged file `ERR_STORE_CORRUPT`.
 * Anything else, such as an error thrown by a transaction callback, passes
 * through unchanged.
 */
export function sqliteError(method: string, err: unknown, busyTimeout: number, location: string): unknown {
  if (err instanceof TransactionLost) {
    return new StoreError(`${method}: the transaction was rolled back by SQLite after an earlier error; nothing of it was committed`)
  }
  if (err instanceof NotAtomic) {
    return new StoreError(
      `${method}: a write declared as one statement ran a second outside a transaction; the second was refused, ` +
        'the first stands (a bug: please report it)',
    )
  }
  if (!(err instanceof Database.SqliteError)) return err
  const code = err.code
  const where = describeLocation(location)
  let message: string | undefined
  let storeCode: StoreErrorCode = 'ERR_STORE'
  if (isBusy(err)) {
    message = `the database is locked by another connection (waited busyTimeout ${busyTimeout} ms)`
    storeCode = 'ERR_STORE_BUSY'
  } else if (isCorrupt(err)) {
    message = `${where} is corrupt: ${err.message}`
    storeCode = 'ERR_STORE_CORRUPT'
  } else if (code === 'SQLITE_FULL') {
    message = `cannot write ${where}: the disk is full (${err.message})`
  } else if (code.startsWith('SQLITE_READONLY')) {
    message = `cannot write ${where}: it is read-only (${err.message})`
  } else if (code.startsWith('SQLITE_IOERR')) {
    message = `I/O error on ${where}: ${err.message} (${code})`
  } else if (code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM') {
    message = `cannot open ${where}: ${err.message}`
  }
  if (message === undefined) return wrapError(method, err)
  return new StoreError(`${method}: ${message}`, { cause: err }, storeCode)
}

/** An error raised while opening `location`, as a StoreError naming the path. */
export function openError(location: string, err: unknown, busyTimeout: number): StoreError {
  if (err instanceof StoreError) return err
  const detail = err instanceof Error ? err.message : String(err)
  if (err instanceof Database.SqliteError) {
    if (isBusy(err)) {
      return new StoreError(
        `Store.open: '${location}' is locked by another connection (waited busyTimeout ${busyTimeout} ms)`,
        { cause: err },
        'ERR_STORE_BUSY',
      )
    }
    if (isCorrupt(err)) {
      return new StoreError(`Store.open: '${location}' is not a database or is corrupt: ${detail}`, { cause: err }, 'ERR_STORE_CORRUPT')
    }
    if (err.code === 'SQLITE_FULL' || err.code.startsWith('SQLITE_READONLY') || err.code.startsWith('SQLITE_IOERR')) {
      return sqliteError('Store.open', err, busyTimeout, location) as StoreError
    }
  }
  return new StoreError(`Store.open: cannot open '${location}': ${detail}`, { cause: err })
}
