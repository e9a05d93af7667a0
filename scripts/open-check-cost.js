#!/usr/bin/env node
// What a whole-file check would cost at open: times PRAGMA quick_check and
// PRAGMA integrity_check on groupstore databases of growing size (warm page
// cache), and Store.open itself. docs/reliability.md reports the figures.
//
//   node scripts/open-check-cost.js [keys ...]     # default 10000 100000 1000000
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'

const sizes = process.argv.slice(2).map(Number)
const dir = mkdtempSync(join(tmpdir(), 'groupstore-open-check-'))
const ms = (fn) => {
  const t = performance.now()
  const result = fn()
  return [performance.now() - t, result]
}
try {
  process.stdout.write('| keys | file MB | quick_check ms | integrity_check ms | Store.open ms |\n| ---: | ---: | ---: | ---: | ---: |\n')
  for (const keys of sizes.length > 0 ? sizes : [10_000, 100_000, 1_000_000]) {
    const file = join(dir, `k${keys}.db`)
    // Made by the store, then filled directly for speed: the same schema and indexes.
    await (await Store.open(file, { purgeInterval: 0 })).close()
    const db = new Database(file)
    const insert = db.prepare('INSERT INTO kv (grp, key, value, expires_at) VALUES (?, ?, ?, ?)')
    db.transaction(() => {
      for (let i = 0; i < keys; i++) insert.run(`group-${i % 1000}`, `key-${i}`, `${'value-'.repeat(16)}${i}`, i % 10 === 0 ? 1e13 + i : null)
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
    const [quick] = ms(() => db.pragma('quick_check', { simple: true }))
    const [full] = ms(() => db.pragma('integrity_check', { simple: true }))
    db.close()
    const t = performance.now()
    await (await Store.open(file, { purgeInterval: 0 })).close()
    const open = performance.now() - t
    const mb = statSync(file).size / 1e6
    process.stdout.write(`| ${keys} | ${mb.toFixed(1)} | ${quick.toFixed(1)} | ${full.toFixed(1)} | ${open.toFixed(1)} |\n`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
