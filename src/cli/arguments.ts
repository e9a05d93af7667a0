/**
 * Arguments shared by the commands: the database location and `--scope`.
 * Kept apart from the store so that help and usage errors load nothing else,
 * and apart from commander so that the fast path of `get` loads neither.
 *
 * @module
 */
import { usageError } from './errors.js'

/** The database file used when neither `--db` nor `GROUPSTORE_DB` names one. */
export const DEFAULT_DATABASE = 'groupstore.db'

/** The environment variable naming the database. */
export const DATABASE_ENV = 'GROUPSTORE_DB'

/**
 * How a command treats a missing database file: `create` makes it (set,
 * import, watch); `existing` leaves it missing and runs on an empty store
 * (reads, deletes, purge), so a mistyped path never leaves a file behind.
 */
export type Access = 'create' | 'existing'

/** The database location: `--db`, else `GROUPSTORE_DB`, else `./groupstore.db`. */
export function databaseLocation(db: string | undefined): string {
  if (db !== undefined) {
    if (db === '') throw usageError('--db must name a database file')
    return db
  }
  const fromEnv = process.env[DATABASE_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  return DEFAULT_DATABASE
}

const NAMESPACE = /^[a-zA-Z0-9-]+$/

/** The complaint about a `--scope` value, or undefined when it is a valid namespace. */
export function badNamespace(value: string): string | undefined {
  return NAMESPACE.test(value) ? undefined : 'a namespace holds only letters, digits and -'
}
