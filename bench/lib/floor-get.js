// The floor under `groupstore get`, for bench/cli-startup.js: what any
// command-line read of a SQLite file with better-sqlite3 pays, and nothing
// of groupstore's. An ES module (as the command is) that requires the
// driver, hands it its addon's path (as the command does), opens the file
// read-only, reads the row and prints its value.
//   node bench/lib/floor-get.js FILE GROUP KEY
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const Database = require('better-sqlite3')
const [file, group, key] = process.argv.slice(2)
const addon = join(dirname(require.resolve('better-sqlite3')), '..', 'build', 'Release', 'better_sqlite3.node')
const db = new Database(file, { readonly: true, nativeBinding: addon })
const row = db.prepare('SELECT value FROM kv WHERE grp = ? AND key = ?').get(group, key)
db.close()
process.stdout.write(row.value)
