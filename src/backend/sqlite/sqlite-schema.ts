/**
 * The tables of a SQLite store, and the upgrade of older files: go-store's
 * `kv(grp, key, value, expires_at)` (its pre-TTL files lack `expires_at`)
 * and the change log. The namespace counts kept beside them are
 * `sqlite-counts.ts`'s. The PostgreSQL counterpart is `postgres-schema.ts`.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'
import { repairCounts } from './sqlite-counts.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  grp        TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (grp, key)
);
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS kv_changes (
  revision INTEGER PRIMARY KEY,
  type     TEXT NOT NULL,
  grp      TEXT NOT NULL,
  key      TEXT NOT NULL,
  value    TEXT,
  ts       INTEGER NOT NULL
);
`

/**
 * Creates what is missing and upgrades a pre-TTL go-store table; `columns`
 * are kv's columns as found (none when it is missing). Repairs namespace
 * counts that are there only in part.
 */
export function createSchema(db: BetterSqlite3.Database, columns: string[]): void {
  if (columns.length > 0 && !columns.includes('expires_at')) db.exec('ALTER TABLE kv ADD COLUMN expires_at INTEGER')
  db.exec(SCHEMA)
  repairCounts(db)
}
