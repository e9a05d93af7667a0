import { StoreError } from '../errors.js'
import type { ResolvedOptions } from '../options.js'
import type { Backend } from './backend.js'
import { SqliteBackend } from './sqlite/sqlite-backend.js'

/** True for a `postgres://` or `postgresql://` location. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

/** Opens the backend a location names: PostgreSQL for a URL, else SQLite. */
export async function openBackend(location: string, options: ResolvedOptions): Promise<Backend> {
  if (isPostgresLocation(location)) {
    throw new StoreError('Store.open: the PostgreSQL backend is not available in this version')
  }
  return SqliteBackend.open(location, options)
}
