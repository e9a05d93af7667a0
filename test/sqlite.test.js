// Runs the conformance suite on the embedded SQLite backend, in memory and on a file.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { Store } from 'groupstore'
import { conformance } from './conformance/index.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-conformance-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = () => join(dir, `store-${n++}.db`)
const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x)

await conformance('sqlite :memory:', {
  open: (options) => Store.open(':memory:', options),
  location: () => ':memory:',
})
// durability 'normal' skips the fsync per commit, which only makes the suite slower;
// test/group-commit.test.js and test/sqlite-file.test.js cover 'full'.
await conformance('sqlite file', {
  open: (options) => Store.open(file(), isObject(options) ? { durability: 'normal', ...options } : options),
  location: file,
  capabilities: { changeLog: true },
})
