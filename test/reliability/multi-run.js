// Many processes on one file: writers and readers as separate processes,
// then a check of the file. Used by test/processes.test.js (small) and
// scripts/torture.js (4 x 5,000 keys).
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { valueFor } from './crash-shared.js'

const WORKER = fileURLToPath(new URL('./multi-worker.js', import.meta.url))

function start(args) {
  const child = fork(WORKER, args.map(String), { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  const report = new Promise((resolve, reject) => {
    let result
    child.on('message', (m) => (result = m))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0 && result !== undefined) resolve(result)
      else reject(new Error(`${args[0]} exited with code ${code}:\n${stderr}`))
    })
  })
  return { child, report }
}

/**
 * The change log written by all the processes: revisions follow one another
 * without a gap, and replaying it gives the data. Answers the problems found.
 */
function checkChangeLog(db) {
  const problems = []
  const state = new Map()
  let previous
  for (const c of db.prepare('SELECT revision, type, grp, key, value FROM kv_changes ORDER BY revision').iterate()) {
    if (previous !== undefined && c.revision !== previous + 1) problems.push(`revision ${c.revision} follows ${previous}`)
    previous = c.revision
    const id = `${c.grp}\u0000${c.key}`
    if (c.type === 'set') state.set(id, c.value)
    else if (c.type === 'delete' || c.type === 'expire') state.delete(id)
    else for (const k of [...state.keys()]) if (k.startsWith(`${c.grp}\u0000`)) state.delete(k)
  }
  let rows = 0
  for (const r of db.prepare('SELECT grp, key, value FROM kv').iterate()) {
    rows++
    if (state.get(`${r.grp}\u0000${r.key}`) !== r.value) problems.push(`log and data differ on ${r.grp}/${r.key}`)
  }
  if (rows !== state.size) problems.push(`log replays to ${state.size} keys, the data holds ${rows}`)
  return problems.slice(0, 20)
}

/**
 * Runs `writers` writer processes (each `keys` keys, plus attempts to exceed
 * the shared quotas) while `readers` reader processes read, into `file`.
 * Answers the reports and what the file holds afterwards.
 */
export async function manyProcesses({ file, writers = 4, readers = 2, keys, maxKeys, quotaAttempts, maxGroups, groupAttempts, durability = 'full' }) {
  // The file exists before the processes start, as in an application's deployment.
  const init = await Store.open(file, { purgeInterval: 0 })
  await init.close()
  const readerProcs = []
  for (let i = 0; i < readers; i++) readerProcs.push(start(['reader', file, maxKeys, maxGroups]))
  const writerProcs = []
  for (let id = 0; id < writers; id++) {
    writerProcs.push(start(['writer', file, id, keys, quotaAttempts, groupAttempts, maxKeys, maxGroups, durability]))
  }
  const started = Date.now()
  const writerReports = await Promise.all(writerProcs.map((p) => p.report))
  const seconds = (Date.now() - started) / 1000
  for (const p of readerProcs) p.child.send('stop')
  const readerReports = await Promise.all(readerProcs.map((p) => p.report))

  // The file afterwards.
  const missing = []
  const store = await Store.open(file, { purgeInterval: 0 })
  let quotaKeys
  let quotaGroups
  try {
    for (let id = 0; id < writers; id++) {
      const all = await store.getAll(`w${id}`)
      for (let i = 0; i < keys; i++) {
        if (all[`k${i}`] !== valueFor(`w${id}`, `k${i}`)) missing.push(`w${id}/k${i}`)
      }
    }
    quotaKeys = await store.scope('quota').countAll()
    quotaGroups = (await store.scope('quota-groups').groups()).length
  } finally {
    await store.close()
  }
  const db = new Database(file, { readonly: true })
  const integrity = db.pragma('integrity_check', { simple: true })
  const changeLog = checkChangeLog(db)
  db.close()
  return { writerReports, readerReports, missing, quotaKeys, quotaGroups, integrity, changeLog, seconds }
}
