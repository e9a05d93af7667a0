// The HTTP contract of `groupstore serve` over real HTTP, on PostgreSQL
// (GROUPSTORE_TEST_PG), in a schema made for this run and dropped after it.
import { Store } from 'groupstore'
import { httpSuite } from './server/suite.js'
import { testSchema, unavailable, url } from './postgres/server.js'

const skip = await unavailable()
const schema = skip ? undefined : testSchema('groupstore_serve')

// `db` names another table, for tests that need a store of their own options.
httpSuite('postgres', { skip, open: ({ db = 'serve', ...options } = {}) => Store.open(url, { schema, table: db, ...options }) })
