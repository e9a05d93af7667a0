// The HTTP contract of `groupstore serve` over real HTTP, on an SQLite file.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { Store } from 'groupstore'
import { httpSuite } from './server/suite.js'

const dir = mkdtempSync(join(tmpdir(), 'groupstore-serve-'))
after(() => rmSync(dir, { recursive: true, force: true }))

// `db` names another database file, for tests that need a store of their own options.
httpSuite('sqlite', { open: ({ db = 'serve', ...options } = {}) => Store.open(join(dir, `${db}.db`), { durability: 'normal', ...options }) })
