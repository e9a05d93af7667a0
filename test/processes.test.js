// Many processes on one file, small version: 4 writer processes and 2
// reader processes. No caller sees an error (lock waits stay within
// busyTimeout), every write is there afterwards, and quotas shared by all
// writers are never exceeded. `npm run torture` runs it with 5,000 keys per writer.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { manyProcesses } from './reliability/multi-run.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-processes-'))
after(() => rmSync(dir, { recursive: true, force: true }))

it('4 writer and 2 reader processes share one file without errors, losses or quota overruns', async () => {
  const maxKeys = 60
  const maxGroups = 3
  const r = await manyProcesses({
    file: join(dir, 'shared.db'),
    keys: 400,
    maxKeys,
    quotaAttempts: 40, // 4 writers x 40 attempts > 60
    maxGroups,
    groupAttempts: 2, // 4 writers x 2 groups > 3
    durability: 'normal',
  })
  for (const report of [...r.writerReports, ...r.readerReports]) assert.deepEqual(report.errors, [], `${report.role} ${report.id ?? ''}`)
  assert.deepEqual(r.missing, [])
  assert.equal(r.integrity, 'ok')
  assert.deepEqual(r.changeLog, [], 'the change log written by all processes agrees with the data')
  for (const w of r.writerReports) assert.equal(w.written, 400)
  // Attempts exceed the quotas, so they fill exactly, and no more.
  const accepted = r.writerReports.reduce((n, w) => n + w.quotaAccepted, 0)
  const refused = r.writerReports.reduce((n, w) => n + w.quotaRefused, 0)
  assert.equal(accepted, maxKeys)
  assert.equal(refused, 4 * 40 - maxKeys)
  assert.equal(r.quotaKeys, maxKeys)
  const groupsAccepted = r.writerReports.reduce((n, w) => n + w.groupAccepted.length, 0)
  assert.equal(groupsAccepted, maxGroups)
  assert.equal(r.quotaGroups, maxGroups)
  for (const reader of r.readerReports) {
    assert.ok(reader.reads > 0)
    assert.ok(reader.maxQuotaKeysSeen <= maxKeys)
    assert.ok(reader.maxQuotaGroupsSeen <= maxGroups)
  }
})

it('6 processes that create the same new file at the same moment all open it (none sees it half written)', async () => {
  const worker = fileURLToPath(new URL('./helpers/open-worker.js', import.meta.url))
  for (let round = 0; round < 12; round++) {
    const file = join(dir, `new-${round}.db`)
    // Far enough ahead that every process has started and loaded the package.
    const at = Date.now() + 600
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () => {
        const child = spawn(process.execPath, [worker, file, String(at)], { stdio: ['ignore', 'pipe', 'inherit'] })
        let out = ''
        child.stdout.on('data', (chunk) => (out += chunk))
        return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })))
      }),
    )
    assert.deepEqual(outcomes.filter((o) => o.code !== 0), [], `round ${round}`)
    const store = await Store.open(file)
    assert.equal(await store.count('g'), 6)
    await store.close()
  }
})

it('opening waits for a file whose write lock another process holds, also when the open switches the file to WAL', async () => {
  // A complete store file put back in rollback-journal mode: opening it has
  // nothing to create or upgrade, only the switch to WAL, which SQLite
  // refuses at once, without waiting, while another connection writes.
  const file = join(dir, 'rollback.db')
  const made = await Store.open(file)
  await made.set('g', 'before', 'v')
  await made.close()
  const raw = new Database(file)
  raw.pragma('journal_mode = DELETE')
  raw.close()
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import Database from 'better-sqlite3'
       const db = new Database(process.argv[1])
       db.exec('BEGIN IMMEDIATE')
       db.prepare("UPDATE kv SET value = 'held' WHERE key = 'before'").run()
       process.stdout.write('holding\\n')
       setTimeout(() => { db.exec('COMMIT'); db.close() }, 400)`,
      file,
    ],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise((resolve) => holder.on('exit', resolve))
  await new Promise((resolve) => holder.stdout.once('data', resolve))
  // Before the switch was retried this open failed at once with ERR_STORE_BUSY.
  const store = await Store.open(file, { busyTimeout: 5000 })
  try {
    assert.equal(await store.get('g', 'before'), 'held')
    const mode = new Database(file, { readonly: true })
    assert.equal(mode.pragma('journal_mode', { simple: true }), 'wal')
    mode.close()
  } finally {
    await store.close()
    assert.equal(await exited, 0)
  }
})
