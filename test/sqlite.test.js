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

await conformance('sqlite :memory:', { open: (options) => Store.open(':memory:', options) })
await conformance('sqlite file', {
  open: (options) => Store.open(join(dir, `store-${n++}.db`), options),
  capabilities: { file: true, changeLog: true },
})
