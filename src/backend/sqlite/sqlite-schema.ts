/**
 * What the SQLite backend keeps beside go-store's `kv` table so that quota
 * checks never scan: a count of rows per namespace (the part of a group
 * name up to and including its first `:`, which is how scopes store their
 * groups) kept exact by triggers. Triggers live in the file, so the counts stay right whoever
 * writes it: this package, go-store, or any SQLite client. The `kv` table
 * itself keeps go-store's schema.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3'

/** The namespace counts: rows of `kv`, expired or not, per namespace. */
export const NAMESPACE_TABLE = 'kv_namespace_keys'

const TRIGGERS = ['kv_namespace_keys_insert', 'kv_namespace_keys_delete', 'kv_namespace_keys_update'] as const

/** The namespace of a group name given as SQL expression `grp` ('' for none). */
const ns = (grp: string): string => `substr(${grp}, 1, instr(${grp}, ':'))`
const namespaced = (grp: string): string => `instr(${grp}, ':') > 0`

const COUNTERS = `
CREATE TABLE ${NAMESPACE_TABLE} (
  namespace TEXT PRIMARY KEY,
  keys      INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO ${NAMESPACE_TABLE} (namespace, keys)
  SELECT ${ns('grp')}, count(*) FROM kv WHERE ${namespaced('grp')} GROUP BY 1;
-- BEFORE, not AFTER: a row about to be inserted that does not exist yet is a new
-- row whatever the conflict clause (an upsert, INSERT OR REPLACE, OR IGNORE), and
-- an insert that then fails rolls the count back with its statement.
CREATE TRIGGER kv_namespace_keys_insert BEFORE INSERT ON kv
  WHEN ${namespaced('new.grp')} AND new.value IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM kv WHERE grp = new.grp AND key = new.key)
BEGIN
  INSERT INTO ${NAMESPACE_TABLE} (namespace, keys) VALUES (${ns('new.grp')}, 1)
    ON CONFLICT (namespace) DO UPDATE SET keys = keys + 1;
END;
CREATE TRIGGER kv_namespace_keys_delete AFTER DELETE ON kv
  WHEN ${namespaced('old.grp')}
BEGIN
  UPDATE ${NAMESPACE_TABLE} SET keys = keys - 1 WHERE namespace = ${ns('old.grp')};
END;
CREATE TRIGGER kv_namespace_keys_update AFTER UPDATE OF grp ON kv
  WHEN old.grp IS NOT new.grp
BEGIN
  UPDATE ${NAMESPACE_TABLE} SET keys = keys - 1 WHERE ${namespaced('old.grp')} AND namespace = ${ns('old.grp')};
  INSERT INTO ${NAMESPACE_TABLE} (namespace, keys) SELECT ${ns('new.grp')}, 1 WHERE ${namespaced('new.grp')}
    ON CONFLICT (namespace) DO UPDATE SET keys = keys + 1;
END;
`

const OBJECTS = [NAMESPACE_TABLE, ...TRIGGERS]

function missing(db: BetterSqlite3.Database): string[] {
  const present = db
    .prepare(`SELECT name FROM sqlite_master WHERE name IN (${OBJECTS.map(() => '?').join(', ')})`)
    .pluck()
    .all(...OBJECTS) as string[]
  return OBJECTS.filter((name) => !present.includes(name))
}

/**
 * Creates what is missing of the objects above, in one write transaction so
 * that two processes opening the same file at once do it once: the counts
 * are filled from `kv` in the transaction that creates their triggers.
 * Idempotent; one read of the schema when everything exists.
 */
export function applyDerivedSchema(db: BetterSqlite3.Database): void {
  if (missing(db).length === 0) return
  db.transaction(() => {
    if (missing(db).length === 0) return // another connection made them meanwhile
    // Some of it is missing (a file from before it, or edited by hand): rebuild it all.
    for (const t of TRIGGERS) db.exec(`DROP TRIGGER IF EXISTS ${t}`)
    db.exec(`DROP TABLE IF EXISTS ${NAMESPACE_TABLE}`)
    db.exec(COUNTERS)
  }).immediate()
}

/**
 * True when the groups starting with `prefix` are exactly one namespace's
 * (the prefix ends with its only `:`), so that its count answers for them.
 */
export function isNamespace(prefix: string): boolean {
  const colon = prefix.indexOf(':')
  return colon >= 0 && colon === prefix.length - 1
}
