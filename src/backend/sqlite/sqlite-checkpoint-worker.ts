/**
 * The checkpoint thread (see `sqlite-checkpoint.ts`): one connection per
 * database file, each asked to copy the WAL back into its file with
 * `PRAGMA wal_checkpoint(PASSIVE)`, which never waits for readers or the
 * writer. It reads and writes nothing else.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads'
import Database from 'better-sqlite3'
import type BetterSqlite3 from 'better-sqlite3'
import type { CheckpointReply, CheckpointRequest } from './sqlite-checkpoint.js'

const connections = new Map<string, BetterSqlite3.Database>()

function handle(request: CheckpointRequest): CheckpointReply {
  const { id, file } = request
  try {
    if (request.op === 'close') {
      connections.get(file)?.close()
      connections.delete(file)
      return { id, ok: true }
    }
    let db = connections.get(file)
    if (db === undefined) {
      db = new Database(file, { fileMustExist: true, timeout: 0 })
      // The sync a checkpoint needs (the WAL before, the file after) comes with NORMAL and FULL alike.
      db.pragma(`synchronous = ${request.durability === 'full' ? 'FULL' : 'NORMAL'}`)
      db.pragma('wal_autocheckpoint = 0')
      connections.set(file, db)
    }
    db.pragma('wal_checkpoint(PASSIVE)')
    return { id, ok: true }
  } catch (err) {
    return { id, ok: false, error: (err as Error).message }
  }
}

parentPort?.on('message', (request: CheckpointRequest) => parentPort?.postMessage(handle(request)))
