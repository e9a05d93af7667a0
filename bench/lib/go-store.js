// go-store's `kv` table and the upsert raw better-sqlite3 runs on it: the
// baseline every benchmark script compares groupstore with.

/** go-store's schema, as its New() creates it. */
export const GO_STORE_SCHEMA = `CREATE TABLE IF NOT EXISTS kv (
  grp        TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (grp, key)
)`

/** Inserts or replaces a row: (grp, key, value, expires_at). */
export const RAW_UPSERT =
  'INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, ?) ' +
  'ON CONFLICT (grp, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at'
