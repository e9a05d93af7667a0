// The HTTP contract of `groupstore serve` over real HTTP, on PostgreSQL
// (GROUPSTORE_TEST_PG), in a schema made for this run and dropped after it.
import { after } from 'node:test'
import { Store } from 'groupstore'
import { httpSuite } from './server/suite.js'
import { admin, unavailable, unique, url } from './postgres/server.js'

const skip = await unavailable()
const schema = unique('groupstore_serve')

if (!skip) {
  after(async () => {
    const client = await admin()
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      await client.end()
    }
  })
}

httpSuite('postgres', { skip, open: () => Store.open(url, { schema, table: 'serve' }) })
