/**
 * What the SQLite backend keeps beside go-store's `kv` table so that quota
 * checks never scan: a count of rows per namespace (the part of a group
 * name up to and including its first `:`, which is how scopes store their
 * groups) kept exact by triggers. Triggers live in the file, so the counts
 * stay right whoever writes it: this package, go-store, or any SQLite
 * client. The `kv` table itself keeps go-store's schema.
 *
 * The counts are made the first time a write needs one (a quota check), not
 * on open: a trigger costs every insert into `kv` something, and a database
 * that never meets a quota should not pay it.
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

/** Which of the counts' table and triggers the database holds. */
function present(db: BetterSqlite3.Database): string[] {
  return db
    .prepare(`SELECT name FROM sqlite_master WHERE name IN (${OBJECTS.map(() => '?').join(', ')})`)
    .pluck()
    .all(...OBJECTS) as string[]
}

/** True when the database keeps the namespace counts. */
export function hasCounts(db: BetterSqlite3.Database): boolean {
  return present(db).length === OBJECTS.length
}

/**
 * Makes the counts, filled from `kv`, replacing whatever part of them
 * exists. Must run inside a write transaction, so that the counts and the
 * triggers that keep them start together.
 */
export function makeCounts(db: BetterSqlite3.Database): void {
  for (const t of TRIGGERS) db.exec(`DROP TRIGGER IF EXISTS ${t}`)
  db.exec(`DROP TABLE IF EXISTS ${NAMESPACE_TABLE}`)
  db.exec(COUNTERS)
}

/**
 * On open: rebuilds the counts when only part of them is there (a file
 * edited by hand, or whose triggers were dropped), in one IMMEDIATE
 * transaction. A database without them is left as it is. Idempotent; one
 * read of the schema when nothing is to do.
 */
export function repairCounts(db: BetterSqlite3.Database): void {
  const found = present(db).length
  if (found === 0 || found === OBJECTS.length) return
  db.transaction(() => {
    const now = present(db).length
    if (now !== 0 && now !== OBJECTS.length) makeCounts(db)
  }).immediate()
}

/**
 * True when the groups starting with `prefix` are exactly one namespace's
 * (the prefix ends with its only `:`), so that its count answers for them.
 * This is not a guess that the caller is a scope: the counts are keyed by
 * each group's text up to its first `:`, and the groups starting with such
 * a prefix are exactly those whose text up to the first `:` equals it,
 * whoever wrote them (a scope, the store, go-store or plain SQL). So
 * `countAll` answers the same from the count as from a scan.
 *
 * Except for a prefix holding U+0000: SQLite's `substr` stops at a NUL, so
 * the triggers file such a group under the text before it. Those prefixes
 * are counted by a scan.
 */
export function isNamespace(prefix: string): boolean {
  const colon = prefix.indexOf(':')
  return colon >= 0 && colon === prefix.length - 1 && !prefix.includes('\0')
}
