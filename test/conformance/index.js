// The conformance suite: every backend runs these same files through
// `conformance(name, factory)`. A factory opens a fresh, empty store.
import { describe } from 'node:test'

/**
 * @typedef {object} Factory
 * @property {(options?: import('groupstore').StoreOptions) => Promise<import('groupstore').Store>} open
 *   opens a fresh, empty store with the given options
 * @property {() => string} [location] a fresh location that `Store.open` accepts in another
 *   process, for the tests that spawn one; without it those tests are skipped
 * @property {string | false} [skip] a reason to skip the whole suite, shown in the output
 * @property {{ changeLog?: boolean }} [capabilities] what the backend supports beyond the
 *   contract's core: a durable change log (kv_changes) that prunes by retention
 */

const suites = [
  // Each entry: a module under test/conformance/ exporting `default (factory) => void`,
  // which declares its tests with describe/it. Add new files here.
  './basics.js',
  './paging.js',
  './ttl.js',
  './strings.js',
  './arguments.js',
  './events.js',
  './transactions.js',
  './scopes.js',
  './quotas.js',
  './render.js',
  './lifecycle.js',
  './feed.js',
  './atomic.js',
]

/**
 * Declares the whole conformance suite for one backend.
 * @param {string} name
 * @param {Factory} factory
 */
export async function conformance(name, factory) {
  const modules = await Promise.all(suites.map((path) => import(path)))
  describe(`conformance: ${name}`, { skip: factory.skip ?? false }, () => {
    for (const m of modules) m.default(factory)
  })
}
