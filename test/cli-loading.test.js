// What the `groupstore` command loads: each call loads the modules it uses
// and nothing else (start-up time is measured by `npm run bench:cli`, never
// asserted here). And the fast path of `get`, which answers without
// commander, behaves exactly as the full program does.
import assert from 'node:assert/strict'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Store } from 'groupstore'
import { fastGet } from '../dist/cli/fast-path.js'
import { run, tempDir } from './helpers/cli.js'
import { FIXTURES } from './helpers/sqlite.js'

const Database = createRequire(import.meta.url)('better-sqlite3')

const RECORDER = fileURLToPath(new URL('./helpers/record-modules.js', import.meta.url))

/** Runs `groupstore ...args`, answering its result and the URLs of the modules it loaded. */
async function runRecorded(t, args, options = {}) {
  const out = join(tempDir(t, 'groupstore-modules-'), 'modules.txt')
  const r = await run(args, { ...options, nodeArgs: ['--import', RECORDER], env: { ...options.env, GROUPSTORE_TEST_MODULES: out } })
  return { ...r, modules: readFileSync(out, 'utf8').split('\n') }
}

/** Whether a module of `pkg` (a package under node_modules) or of `distPath` (under dist/) was loaded. */
const loadedPackage = (modules, pkg) => modules.some((url) => url.includes(`/node_modules/${pkg}/`))
const loadedDist = (modules, distPath) => modules.some((url) => url.endsWith(`/dist/${distPath}`) || url.includes(`/dist/${distPath}/`))

async function seeded(t) {
  const db = join(tempDir(t), 'small.db')
  const store = await Store.open(db)
  await store.set('config', 'theme', 'dark')
  await store.set('config', 'host', 'localhost')
  await store.close()
  return db
}

describe('groupstore: what each command loads', () => {
  it('get reads the file through the SQLite backend\'s opening alone: no Store, commander, LiquidJS, cli-progress or pg', async (t) => {
    const db = await seeded(t)
    for (const args of [['--db', db, 'get', 'config', 'theme'], ['get', 'config', 'theme', '--json', '--db', db], ['--db', db, 'get', 'config', 'missing']]) {
      const r = await runRecorded(t, args)
      assert.equal(r.code, args.includes('missing') ? 1 : 0, r.err)
      assert.ok(loadedPackage(r.modules, 'better-sqlite3'), 'the recorder sees CommonJS dependencies')
      // The build bundles main.js and direct-get.js (scripts/bundle-cli.js):
      // these four are all the package's files that a plain get loads.
      const own = r.modules.filter((url) => url.includes('/dist/')).map((url) => url.slice(url.lastIndexOf('/dist/') + 6))
      assert.deepEqual(own.sort(), ['cli/direct-get.js', 'cli/errors.js', 'cli/main.js', 'errors.js'], args.join(' '))
      for (const pkg of ['commander', 'liquidjs', 'cli-progress', 'pg', 'ms']) assert.ok(!loadedPackage(r.modules, pkg), `${args.join(' ')} loaded ${pkg}`)
    }
  })

  it('the bundles of get\'s path hold only what it runs: the SQLite file\'s opening, the options, the output', () => {
    // esbuild marks where each bundled module starts with a comment naming it.
    const bundled = (file) => [...readFileSync(new URL(`../dist/cli/${file}`, import.meta.url), 'utf8').matchAll(/^\/\/ dist\/(.+\.js)$/gm)].map((m) => m[1])
    assert.deepEqual([...new Set(bundled('main.js'))].sort(), ['cli/arguments.js', 'cli/fast-path.js', 'cli/main.js'])
    assert.deepEqual([...new Set(bundled('direct-get.js'))].sort(), [
      'backend/backend.js',
      'backend/sqlite/sqlite-counts.js',
      'backend/sqlite/sqlite-errors.js',
      'backend/sqlite/sqlite-file.js',
      'backend/sqlite/sqlite-revisions.js',
      'backend/sqlite/sqlite-schema.js',
      'backend/sqlite/sqlite-sql.js',
      'cli/arguments.js',
      'cli/direct-get.js',
      'cli/io.js',
      'cli/output.js',
      'options.js',
      'validate.js',
    ])
  })

  it('get goes through the Store when the file alone cannot answer it: an expired key, a missing file', async (t) => {
    const db = await seeded(t)
    const store = await Store.open(db)
    await store.set('config', 'brief', 'gone', { ttl: 1 })
    await store.close()
    await new Promise((resolve) => setTimeout(resolve, 5))
    for (const args of [['--db', db, 'get', 'config', 'brief'], ['--db', join(tempDir(t), 'missing.db'), 'get', 'config', 'theme']]) {
      const r = await runRecorded(t, args)
      assert.equal(r.code, 1, r.err)
      assert.ok(loadedDist(r.modules, 'store.js'), `${args.join(' ')} did not load the store`)
      assert.ok(!loadedPackage(r.modules, 'commander'), `${args.join(' ')} loaded commander`)
    }
  })

  it('render loads LiquidJS; get through the full program (--db=PATH) loads commander but not LiquidJS', async (t) => {
    const db = await seeded(t)
    const render = await runRecorded(t, ['--db', db, 'render', 'config'], { input: '{{ host }}' })
    assert.equal(render.code, 0, render.err)
    assert.equal(render.out, 'localhost')
    assert.ok(loadedPackage(render.modules, 'liquidjs'))
    const full = await runRecorded(t, [`--db=${db}`, 'get', 'config', 'theme'])
    assert.equal(full.out, 'dark')
    assert.ok(loadedPackage(full.modules, 'commander'))
    assert.ok(!loadedPackage(full.modules, 'liquidjs'))
  })

  it('set, list and import without a terminal load neither LiquidJS nor cli-progress', async (t) => {
    const db = await seeded(t)
    const file = join(tempDir(t), 'in.jsonl')
    writeFileSync(file, `${JSON.stringify({ group: 'g', key: 'k', value: 'v', expiresAt: null })}\n`)
    for (const args of [['set', 'config', 'x', 'y', '--ttl', '1h'], ['list', 'config'], ['import', file]]) {
      const r = await runRecorded(t, ['--db', db, ...args])
      assert.equal(r.code, 0, r.err)
      assert.ok(!loadedPackage(r.modules, 'liquidjs'), `${args[0]} loaded liquidjs`)
      assert.ok(!loadedPackage(r.modules, 'cli-progress'), `${args[0]} loaded cli-progress`)
    }
  })

  it('--help, --version and usage errors load no store', async (t) => {
    for (const args of [['--help'], ['--version'], ['get', '--help'], ['get', 'only-group']]) {
      const r = await runRecorded(t, args)
      assert.ok(!loadedPackage(r.modules, 'better-sqlite3'), `${args.join(' ')} loaded better-sqlite3`)
      assert.ok(!loadedDist(r.modules, 'store.js'), `${args.join(' ')} loaded the store`)
    }
  })
})

describe('groupstore get: the fast path', () => {
  it('takes only the plain shapes of get', () => {
    assert.deepEqual(fastGet(['get', 'g', 'k']), { group: 'g', key: 'k', options: {} })
    assert.deepEqual(fastGet(['--db', 'x.db', 'get', 'g', 'k', '--json', '--scope', 'tenant-1']), {
      group: 'g',
      key: 'k',
      options: { db: 'x.db', json: true, scope: 'tenant-1' },
    })
    assert.deepEqual(fastGet(['get', '--json', 'g', '--db', 'x.db', 'k']), { group: 'g', key: 'k', options: { db: 'x.db', json: true } })
    const refused = [
      [],
      ['get'],
      ['get', 'g'],
      ['get', 'g', 'k', 'extra'],
      ['set', 'g', 'k'],
      ['--db=x.db', 'get', 'g', 'k'],
      ['--json', 'get', 'g', 'k'],
      ['get', 'g', 'k', '--help'],
      ['get', 'g', 'k', '-h'],
      ['get', '--', 'g', '-k'],
      ['get', 'g', 'k', '--json', '--json'],
      ['--db', 'a.db', 'get', 'g', 'k', '--db', 'b.db'],
      ['get', 'g', 'k', '--db'],
      ['get', 'g', 'k', '--db', ''],
      ['get', 'g', 'k', '--db', '-x'],
      ['get', 'g', 'k', '--scope', 'bad scope'],
      ['get', 'g', 'k', '--scope=t'],
      ['get', 'g', 'k', '--frob'],
    ]
    for (const args of refused) assert.equal(fastGet(args), undefined, args.join(' '))
  })

  it('answers as the full program does: values, --json, --scope, absent keys, bad names, a foreign file', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'test.db')
    const store = await Store.open(db)
    await store.set('config', 'theme', 'dark\n')
    await store.set('t1:config', 'theme', 'scoped')
    await store.close()
    const foreign = join(dir, 'foreign.db')
    writeFileSync(foreign, 'not a database, and long enough to have a header: '.repeat(4))
    const cases = [
      ['config', 'theme'],
      ['config', 'theme', '--json'],
      ['config', 'theme', '--scope', 't1'],
      ['config', 'missing'],
      ['config', 'missing', '--json'],
      ['config', 'a'.repeat(2000)],
    ]
    for (const rest of cases) {
      const fast = await run(['--db', db, 'get', ...rest])
      const full = await run([`--db=${db}`, 'get', ...rest])
      assert.deepEqual({ code: fast.code, out: fast.out, err: fast.err }, { code: full.code, out: full.out, err: full.err }, rest.join(' '))
    }
    const fast = await run(['--db', foreign, 'get', 'g', 'k'])
    const full = await run([`--db=${foreign}`, 'get', 'g', 'k'])
    assert.equal(fast.code, 3)
    assert.deepEqual({ code: fast.code, err: fast.err }, { code: full.code, err: full.err })
    // GROUPSTORE_DB names the database on both paths.
    const env = await run(['get', 'config', 'theme'], { env: { GROUPSTORE_DB: db } })
    assert.equal(env.out, 'dark\n')
  })

  it('answers as the full program does on go-store files, with expired keys and rows without a revision, leaving the same rows', async (t) => {
    const dir = tempDir(t)
    // Each path on its own copy, so that what one path writes (a revision
    // given to an old row, an expired row removed) cannot serve the other.
    const copies = (name) => {
      const fast = join(dir, `fast-${name}`)
      const full = join(dir, `full-${name}`)
      copyFileSync(join(FIXTURES, name), fast)
      copyFileSync(join(FIXTURES, name), full)
      return { fast, full }
    }
    const rows = (path) => {
      const db = new Database(path, { readonly: true })
      try {
        return db.prepare('SELECT grp, key, value, expires_at, revision FROM kv ORDER BY grp, key').all()
      } finally {
        db.close()
      }
    }
    const files = [
      [
        'go-store.db',
        [
          ['config', 'plain'],
          ['config', 'empty', '--json'],
          ['config', 'plain', '--json'],
          ['config', 'ttl1h'],
          ['config', 'ttl1h', '--json'],
          ['bin', 'nul'],
          ['bin', 'emoji', '--json'],
          ['cfg', 'theme', '--scope', 'tenant-1'],
          ['a_b', 'k', '--json', '--scope', 'tenant-1'],
        ],
      ],
      ['go-store-pre-ttl.db', [['config', 'theme', '--json'], ['config', 'lang'], ['cfg', 'k', '--scope', 'tenant-1', '--json']]],
    ]
    for (const [name, cases] of files) {
      const { fast, full } = copies(name)
      for (const rest of cases) {
        const a = await run(['--db', fast, 'get', ...rest])
        const b = await run([`--db=${full}`, 'get', ...rest])
        assert.deepEqual({ code: a.code, out: a.stdout, err: a.err }, { code: b.code, out: b.stdout, err: b.err }, `${name}: ${rest.join(' ')}`)
      }
      assert.deepEqual(rows(fast), rows(full), name)
    }
    // A key with a TTL that has not passed, and an empty file (which becomes a database).
    const db = join(dir, 'ttl.db')
    const store = await Store.open(db)
    await store.set('config', 'later', 'soon', { ttl: 3_600_000 })
    await store.close()
    const empty = join(dir, 'empty.db')
    writeFileSync(empty, '')
    for (const [path, rest] of [[db, ['config', 'later', '--json']], [empty, ['config', 'theme']]]) {
      const a = await run(['--db', path, 'get', ...rest])
      const b = await run([`--db=${path}`, 'get', ...rest])
      assert.deepEqual({ code: a.code, out: a.out, err: a.err }, { code: b.code, out: b.out, err: b.err }, rest.join(' '))
    }
  })
})
