// The HTTP contract of `groupstore serve` over real HTTP, on an SQLite file.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { Store } from 'groupstore'
import { httpSuite } from './server/suite.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-serve-'))
after(() => rmSync(dir, { recursive: true, force: true }))

httpSuite('sqlite', { open: () => Store.open(join(dir, 'serve.db'), { durability: 'normal' }) })
