/**
 * Opening a SQLite location: the checks of the path, the header and the
 * file's integrity that refuse what is not a groupstore database before
 * anything is written to it, then the schema upgrade and the connection's
 * settings.
 *
 * @module
 */
import { accessSync, closeSync, constants, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { StoreError } from '../../errors.js'
import { isBusy, isCorrupt, openError } from './sqlite-errors.js'
import { PK_INDEX } from './sqlite-sql.js'
import { createSchema } from './sqlite-schema.js'
import { upgradeRevisions } from './sqlite-revisions.js'

const require = createRequire(import.meta.url)

// better-sqlite3 is CommonJS: required rather than imported, so that Node does not
// scan its source for named exports (a few milliseconds of every start-up).
const Database = require('better-sqlite3') as typeof BetterSqlite3

/** Where {@link nativeBinding} found the addon, once looked for. */
let addon: { path: string | undefined } | undefined

/**
 * better-sqlite3's native addon where a normal install or build puts it
 * (`build/Release`), handed to the driver so that it skips its search for
 * the file (the `bindings` package: several milliseconds of every start-up).
 * Undefined, and the driver searches as before, when the file is not there
 * or when a build that the search tries first (`build/`, `build/Debug/`) is.
 */
function nativeBinding(): string | undefined {
  if (addon === undefined) {
    addon = { path: undefined }
    try {
      const build = join(dirname(require.resolve('better-sqlite3')), '..', 'build')
      const file = 'better_sqlite3.node'
      if (!existsSync(join(build, file)) && !existsSync(join(build, 'Debug', file)) && existsSync(join(build, 'Release', file))) {
        addon.path = join(build, 'Release', file)
      }
    } catch {
      // not resolvable from here: the driver searches
    }
  }
  return addon.path
}

/** Options the SQLite backend takes from the store's options. */
export interface SqliteFileOptions {
  durability: 'full' | 'normal'
  busyTimeout: number
}

/**
 * Files up to this size are checked whole with `PRAGMA quick_check` when
 * opened (about 60 ms at this size); larger ones only for header, length,
 * schema and the ends of the kv table. See docs/reliability.md for the
 * measurements.
 */
export const QUICK_CHECK_MAX_BYTES = 32 * 1024 * 1024

const METHOD = 'Store.open'

/**
 * Opens (creating if missing) a database file or `':memory:'`, checks that
 * it is a database, upgrades a pre-TTL go-store schema and applies the
 * durability and lock settings. A location that is not a database (a
 * directory, a foreign or corrupt file, a read-only file or folder) is
 * refused with a StoreError naming it and left untouched: nothing is
 * written before the checks.
 *
 * A file of at most {@link QUICK_CHECK_MAX_BYTES} is checked whole with
 * `PRAGMA quick_check` (about 2 ms per MB); a larger one only for its
 * header, length, schema and the ends of the kv table, so that opening
 * stays fast (a 170 MB file would take 0.4 s).
 */
export function openDatabase(location: string, options: SqliteFileOptions): BetterSqlite3.Database {
  const memory = location === ':memory:'
  const size = memory ? undefined : checkLocation(location)
  let db: BetterSqlite3.Database
  try {
    db = new Database(location, { timeout: options.busyTimeout, nativeBinding: nativeBinding() })
  } catch (err) {
    throw new StoreError(`${METHOD}: cannot open '${location}': ${(err as Error).message}`, { cause: err })
  }
  try {
    db.pragma(`busy_timeout = ${options.busyTimeout}`)
    // Read-only checks first: a file that is not a database, not ours or
    // visibly corrupt is refused before anything is written to it.
    const columns = checkTables(db, location)
    if (size !== undefined && size > 0 && size <= QUICK_CHECK_MAX_BYTES) quickCheck(db, location)
    // Schema changes before the switch to WAL: on a file still in
    // rollback-journal mode a failed change is rolled back from the journal.
    createSchema(db, columns)
    upgradeRevisions(db, memory)
    if (!memory) switchToWal(db, options.busyTimeout)
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`)
    return db
  } catch (err) {
    db.close()
    throw openError(location, err, options.busyTimeout)
  }
}

/** How long apart the switch to WAL is tried again while another connection writes. */
const WAL_RETRY_MS = 5

/**
 * Puts the file in WAL mode (nothing to do when it is already). The switch
 * writes the header, and SQLite answers SQLITE_BUSY at once, without its
 * busy handler, when another connection holds the write lock at that moment
 * (another process creating or upgrading the same file), so the switch is
 * tried again, `WAL_RETRY_MS` apart, for up to `busyTimeout`, as any other
 * lock wait.
 */
function switchToWal(db: BetterSqlite3.Database, busyTimeout: number): void {
  const deadline = Date.now() + busyTimeout
  for (;;) {
    try {
      db.pragma('journal_mode = WAL')
      return
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err
    }
    sleep(WAL_RETRY_MS)
  }
}

/** The refusal of a foreign or damaged file (code ERR_STORE_CORRUPT). */
function foreign(message: string): StoreError {
  return new StoreError(`${METHOD}: ${message}`, undefined, 'ERR_STORE_CORRUPT')
}

/**
 * Checks a file location before SQLite touches it, so that the common
 * mistakes get a message that says what is wrong and nothing is created:
 * a directory, something that is not a regular file, a missing or
 * read-only folder, a read-only file. Answers the file's size, or
 * undefined when there is no file yet.
 */
function checkLocation(location: string): number | undefined {
  const fail = (message: string): never => {
    throw new StoreError(`${METHOD}: ${message}`)
  }
  const file = statOrUndefined(location)
  if (file?.isDirectory()) fail(`'${location}' is a directory, not a database file`)
  if (file !== undefined && !file.isFile()) fail(`'${location}' is not a regular file`)
  const folder = dirname(resolve(location))
  const parent = statOrUndefined(folder)
  if (parent === undefined) fail(`cannot create '${location}': its folder '${folder}' does not exist`)
  if (!(parent as Stats).isDirectory()) fail(`cannot create '${location}': '${folder}' is not a folder`)
  if (file !== undefined) checkHeader(location)
  if (file !== undefined && !writable(location)) {
    fail(`'${location}' is read-only: a store writes to its file (open a copy, or make it writable)`)
  }
  if (!writable(folder)) {
    fail(
      `the folder '${folder}' of '${location}' is read-only: SQLite writes its journal files ` +
        `('${basename(location)}-wal', '${basename(location)}-shm') beside the database`,
    )
  }
  return file?.size
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1')

/** How often, and how long apart, a file that looks truncated is read again before it is refused. */
const HEADER_ATTEMPTS = 4
const HEADER_RETRY_MS = 25

/**
 * Refuses a database file shorter than its header says, at the cost of one
 * 100-byte read. Skipped while a journal or WAL file sits beside it: another
 * connection may be extending the file, and SQLite then knows better. A
 * file without the SQLite header is left for SQLite to refuse.
 *
 * Another process may be creating the same file at this moment (several
 * processes opening a new store at once): its first commit writes the
 * header, extends the file and deletes its journal, and a check between
 * those steps would see a file shorter than its header. So a file that
 * looks truncated is read again a few times, `HEADER_RETRY_MS` apart; one
 * that really is stays so, and is refused.
 */
function checkHeader(location: string): void {
  let problem: string | undefined
  for (let attempt = 0; attempt < HEADER_ATTEMPTS; attempt++) {
    if (attempt > 0) sleep(HEADER_RETRY_MS)
    problem = headerProblem(location)
    if (problem === undefined) return
  }
  throw foreign(problem as string)
}

/** What is wrong with the file's header and length, read once; undefined when nothing is. */
function headerProblem(location: string): string | undefined {
  const header = Buffer.alloc(100)
  let read: number
  let size: number
  try {
    const fd = openSync(location, 'r')
    try {
      read = readSync(fd, header, 0, 100, 0)
      // The length after the header was read: at least as new as what the header says.
      size = fstatSync(fd).size
    } finally {
      closeSync(fd)
    }
  } catch (err) {
    throw new StoreError(`${METHOD}: cannot read '${location}': ${(err as Error).message}`, { cause: err })
  }
  if (size === 0) return undefined // an empty file: SQLite makes a new database in it
  if (read < MAGIC.length || !header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
  if (read < 100) return `'${location}' is truncated: ${size} bytes, shorter than a database header`
  const rawPageSize = header.readUInt16BE(16)
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize
  const pages = header.readUInt32BE(28)
  const countValid = header.readUInt32BE(92) === header.readUInt32BE(24)
  if (!countValid || pages === 0 || size >= pages * pageSize) return undefined
  if (existsSync(`${location}-wal`) || existsSync(`${location}-journal`)) return undefined
  return (
    `'${location}' is truncated: its header counts ${pages} pages of ${pageSize} bytes ` +
    `(${pages * pageSize} bytes), the file holds ${size} bytes`
  )
}

/** Blocks the thread for `ms` (opening is synchronous). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw new StoreError(`${METHOD}: cannot read '${path}': ${(err as Error).message}`, { cause: err })
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** Reads every page of the file (`PRAGMA quick_check`): refuses a damaged one. */
function quickCheck(db: BetterSqlite3.Database, location: string): void {
  let verdict: unknown
  try {
    verdict = db.pragma('quick_check(1)', { simple: true })
  } catch (err) {
    if (!isCorrupt(err)) throw err
    verdict = (err as Error).message
  }
  if (verdict === 'ok') return
  const found = String(verdict).replace('*** in database main ***', '').trim().replace(/\s*\n\s*/g, '; ')
  throw foreign(`'${location}' is corrupt: quick_check found: ${found}`)
}

/** Reads the schema and the ends of the kv table; answers kv's columns (none when it is missing). */
function checkTables(db: BetterSqlite3.Database, location: string): string[] {
  // The first read of the schema fails on a file that is not a database.
  db.prepare('SELECT count(*) FROM sqlite_master').pluck().get()
  const kind = db.prepare("SELECT type FROM sqlite_master WHERE name = 'kv'").pluck().get() as string | undefined
  if (kind !== undefined && kind !== 'table') throw foreign(`'${location}' has ${kind === 'index' ? 'an' : 'a'} ${kind} named kv: not a groupstore database`)
  const columns = (db.prepare('PRAGMA table_info(kv)').all() as { name: string }[]).map((c) => c.name)
  if (columns.length === 0) return columns
  for (const needed of ['grp', 'key', 'value']) {
    if (!columns.includes(needed)) throw foreign(`'${location}' has a table kv without column '${needed}': not a groupstore database`)
  }
  const pk = (db.prepare('PRAGMA index_list(kv)').all() as { name: string; origin: string }[]).find((i) => i.origin === 'pk')
  const pkColumns = pk === undefined ? [] : (db.pragma(`index_info(${pk.name})`) as { name: string }[]).map((c) => c.name)
  if (pk?.name !== PK_INDEX || pkColumns.join() !== 'grp,key') {
    throw foreign(`'${location}' has a table kv without PRIMARY KEY (grp, key): not a groupstore database`)
  }
  // Walk to the first and last rows through the primary key and the table,
  // so that a damaged table fails here rather than on a later read.
  db.prepare('SELECT value FROM kv ORDER BY grp, key LIMIT 1').get()
  db.prepare('SELECT value FROM kv ORDER BY grp DESC, key DESC LIMIT 1').get()
  return columns
}
