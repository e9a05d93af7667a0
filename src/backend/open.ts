import type { ResolvedOptions } from '../options.js'
import type { Backend } from './backend.js'
import { redact } from './postgres/postgres-errors.js'
import { SqliteBackend } from './sqlite/sqlite-backend.js'

/** True for a `postgres://` or `postgresql://` location. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

/** A location as messages show it: a `postgres://` URL with its password hidden, a file as given. */
export function shownLocation(location: string): string {
  return isPostgresLocation(location) ? redact(location) : location
}

/**
 * Opens the backend a location names: PostgreSQL for a URL (loading its
 * modules and the optional `pg` package only then), else SQLite.
 */
export async function openBackend(location: string, options: ResolvedOptions): Promise<Backend> {
  if (isPostgresLocation(location)) {
    const { PostgresBackend } = await import('./postgres/postgres-backend.js')
    return PostgresBackend.open(location, options)
  }
  return SqliteBackend.open(location, options)
}
