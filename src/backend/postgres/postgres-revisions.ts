/**
 * Revisions on PostgreSQL: the `revision` column of the key-value table
 * (the revision of the change that last wrote the row, from the store's
 * counter `<table>_revision`) and the triggers that give a new one to any
 * row a write did not give one itself: an `INSERT` or `UPDATE` made outside
 * the package (by hand, another tool). The trigger takes the store's write
 * lock first, as every write of the package does, so its revision comes
 * after those of every write committed before it and collides with none.
 * Rows written before the column existed have none until `getEntry` reads
 * them.
 *
 * @module
 */
import type { PoolClient } from 'pg'
import type { PostgresSql } from './postgres-queries.js'

function ident(name: string): string {
  return `"${name}"`
}

/** The names of the function and triggers of a store's table. */
function names(sql: PostgresSql) {
  return {
    fn: `${ident(sql.schema)}.${ident(`${sql.table}_revise`)}`,
    insert: `${sql.table}_revise_insert`,
    update: `${sql.table}_revise_update`,
  }
}

/** True when the table has its revision column and both triggers. */
async function present(client: PoolClient, sql: PostgresSql): Promise<boolean> {
  const n = names(sql)
  const r = await client.query({
    text:
      "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'revision' AND NOT attisdropped), " +
      '(SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname IN ($2, $3))',
    values: [sql.kv, n.insert, n.update],
    rowMode: 'array',
  })
  const [column, triggers] = (r.rows[0] ?? [false, 0]) as [boolean, string]
  return column && Number(triggers) === 2
}

/**
 * On open: adds the revision column, the function and the triggers when
 * missing, in one transaction under the table's write lock (`lock` is the
 * statement that takes it), so that concurrent opens take turns.
 */
export async function upgradeRevisions(client: PoolClient, sql: PostgresSql, lock: [number, number], lockTimeout: number): Promise<void> {
  if (await present(client, sql)) return
  const n = names(sql)
  const [a, b] = lock
  await client.query('BEGIN')
  try {
    if (lockTimeout > 0) await client.query(`SET LOCAL lock_timeout = ${lockTimeout}`)
    await client.query(`SELECT pg_advisory_xact_lock(${a}, ${b})`)
    await client.query(`ALTER TABLE ${sql.kv} ADD COLUMN IF NOT EXISTS revision BIGINT`)
    await client.query(`CREATE OR REPLACE FUNCTION ${n.fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        PERFORM pg_advisory_xact_lock(${a}, ${b});
        UPDATE ${sql.revision} SET latest = latest + 1 RETURNING latest INTO NEW.revision;
        RETURN NEW;
      END
    $fn$`)
    await client.query(`DROP TRIGGER IF EXISTS ${ident(n.insert)} ON ${sql.kv}`)
    await client.query(`DROP TRIGGER IF EXISTS ${ident(n.update)} ON ${sql.kv}`)
    await client.query(
      `CREATE TRIGGER ${ident(n.insert)} BEFORE INSERT ON ${sql.kv} FOR EACH ROW ` +
        `WHEN (NEW.revision IS NULL) EXECUTE FUNCTION ${n.fn}()`,
    )
    await client.query(
      `CREATE TRIGGER ${ident(n.update)} BEFORE UPDATE ON ${sql.kv} FOR EACH ROW ` +
        `WHEN (NEW.revision IS NOT DISTINCT FROM OLD.revision) EXECUTE FUNCTION ${n.fn}()`,
    )
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}
