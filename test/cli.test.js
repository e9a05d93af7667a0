// The `groupstore` command, run as a real child process against real files.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Store } from 'groupstore'
import { CLI, ok, run, start, tempDir } from './helpers/cli.js'
import { fixtureCopy } from './helpers/sqlite.js'
import { dropSchema, unavailable, unique, url, withSearchPath } from './postgres/server.js'

const pgSkip = await unavailable()

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

/** A database path in a fresh folder. */
function database(t) {
  return join(tempDir(t), 'test.db')
}

/** Writes `[group, key, value?]` entries through the library: quicker than one process per key. */
async function seed(db, entries) {
  const store = await Store.open(db)
  for (const [group, key, value = 'v'] of entries) await store.set(group, key, value)
  await store.close()
}

/** stderr holds exactly one line. */
function oneLine(err) {
  assert.equal(err.trimEnd().split('\n').length, 1, `expected one line on stderr, got: ${err}`)
}

describe('groupstore: conventions', () => {
  it('--version prints the version from package.json', async () => {
    const r = await run(['--version'])
    assert.equal(r.code, 0)
    assert.equal(r.out.trim(), pkg.version)
  })

  it('--help lists every command, and each command has its own --help', async () => {
    const r = await run(['--help'])
    assert.equal(r.code, 0)
    const commands = ['set', 'get', 'delete', 'incr', 'delete-group', 'delete-prefix', 'list', 'count', 'groups', 'ttl', 'render', 'watch', 'purge', 'export', 'import']
    for (const c of commands) assert.match(r.out, new RegExp(`^  ${c} `, 'm'))
    const helps = await Promise.all(commands.map((c) => run([c, '--help'])))
    for (const [i, h] of helps.entries()) {
      assert.equal(h.code, 0, commands[i])
      assert.match(h.out, new RegExp(`^Usage: groupstore ${commands[i]} `), commands[i])
    }
    assert.match(helps[0].out, /--scope <namespace>/)
  })

  it('an unknown command exits 2 with a one-line error and the usage', async (t) => {
    const r = await run(['--db', database(t), 'frobnicate'])
    assert.equal(r.code, 2)
    assert.equal(r.out, '')
    const [first, ...rest] = r.err.trimEnd().split('\n')
    assert.match(first, /^groupstore: unknown command 'frobnicate'/)
    assert.match(rest.join('\n'), /^Usage: groupstore /m)
  })

  it('no command, a missing argument or an unknown option exits 2 with the usage', async (t) => {
    const db = database(t)
    const cases = [[], ['set', 'g'], ['get', 'g', 'k', '--frob'], ['list', 'g', '--limit', '0'], ['list', 'g', '--limit', 'x']]
    const results = await Promise.all(cases.map((args) => run(['--db', db, ...args])))
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 2, cases[i].join(' '))
      assert.match(r.err, /Usage: groupstore/, cases[i].join(' '))
    }
    assert.equal(existsSync(db), false)
  })

  it('store errors exit 3 with one line and leave a foreign file untouched', async (t) => {
    const dir = tempDir(t)
    const foreign = join(dir, 'notes.txt')
    writeFileSync(foreign, 'not a database, just text that is long enough to have a header\n'.repeat(4))
    const before = readFileSync(foreign)
    const r = await run(['--db', foreign, 'set', 'g', 'k', 'v'])
    assert.equal(r.code, 3)
    oneLine(r.err)
    assert.match(r.err, /^groupstore: .*not a database/)
    assert.deepEqual(readFileSync(foreign), before)

    const r2 = await run(['--db', join(dir, 'no-such-folder', 'x.db'), 'set', 'g', 'k', 'v'])
    assert.equal(r2.code, 3)
    oneLine(r2.err)
  })
})

describe('groupstore: broken files and locks', () => {
  it('every command on a damaged file or a folder exits 3 with one line, nothing on stdout, and leaves it untouched', async (t) => {
    const dir = tempDir(t)
    const damaged = join(dir, 'damaged.db')
    writeFileSync(damaged, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8176, 0xa5)]))
    const before = readFileSync(damaged)
    const folder = join(dir, 'folder.db')
    mkdirSync(folder)
    const commands = [['get', 'g', 'k'], ['get', 'g', 'k', '--json'], ['ttl', 'g', 'k'], ['list', 'g'], ['count', '--all'], ['groups'], ['export'], ['delete', 'g', 'k'], ['delete-group', 'g'], ['purge'], ['set', 'g', 'k', 'v'], ['incr', 'g', 'k']]
    for (const [db, pattern] of [[damaged, /truncated|corrupt|not a database/], [folder, /is a directory/]]) {
      const results = await Promise.all(commands.map((args) => run(['--db', db, ...args])))
      for (const [i, r] of results.entries()) {
        const what = `${db} ${commands[i].join(' ')}`
        assert.equal(r.code, 3, `${what}: ${r.err}`)
        assert.equal(r.out, '', what)
        oneLine(r.err)
        assert.match(r.err, /^groupstore: Store\.open: /, what)
        assert.match(r.err, pattern, what)
      }
    }
    assert.deepEqual(readFileSync(damaged), before)
  })

  it('a write that waits past the 5-second lock timeout exits 3 and writes nothing', { timeout: 30_000 }, async (t) => {
    const db = database(t)
    await ok(db, ['set', 'g', 'k', 'before'])
    const Database = (await import('better-sqlite3')).default
    const holder = new Database(db)
    t.after(() => holder.close())
    holder.exec('BEGIN IMMEDIATE')
    const started = Date.now()
    const r = await run(['--db', db, 'set', 'g', 'k', 'after'])
    holder.exec('COMMIT')
    assert.equal(r.code, 3, r.err)
    oneLine(r.err)
    assert.match(r.err, /^groupstore: store\.set: .*locked/)
    assert.ok(Date.now() - started >= 4900, `gave up after ${Date.now() - started} ms`)
    assert.equal(await ok(db, ['get', 'g', 'k']), 'before')
  })
})

describe('groupstore: choosing the database', () => {
  it('uses ./groupstore.db by default, created on the first write', async (t) => {
    const dir = tempDir(t)
    const get = await run(['get', 'g', 'k'], { cwd: dir })
    assert.equal(get.code, 1)
    for (const args of [['list', 'g'], ['count', '--all'], ['groups'], ['export'], ['delete-group', 'g'], ['purge']]) {
      assert.equal((await run(args, { cwd: dir })).code, 0, args.join(' '))
    }
    assert.equal(existsSync(join(dir, 'groupstore.db')), false, 'read commands do not create the file')
    assert.equal((await run(['set', 'g', 'k', 'v'], { cwd: dir })).code, 0)
    assert.equal(existsSync(join(dir, 'groupstore.db')), true)
    assert.equal((await run(['get', 'g', 'k'], { cwd: dir })).out, 'v')
  })

  it('GROUPSTORE_DB names the database, and --db wins over it', async (t) => {
    const dir = tempDir(t)
    const fromEnv = join(dir, 'env.db')
    const fromFlag = join(dir, 'flag.db')
    assert.equal((await run(['set', 'g', 'k', 'env'], { cwd: dir, env: { GROUPSTORE_DB: fromEnv } })).code, 0)
    assert.equal((await run(['--db', fromFlag, 'set', 'g', 'k', 'flag'], { cwd: dir, env: { GROUPSTORE_DB: fromEnv } })).code, 0)
    assert.equal(existsSync(join(dir, 'groupstore.db')), false)
    assert.equal(await ok(fromEnv, ['get', 'g', 'k']), 'env')
    assert.equal(await ok(fromFlag, ['get', 'g', 'k']), 'flag')
    assert.equal((await run(['get', 'g', 'k', '--db', fromFlag])).out, 'flag', '--db after the command')
  })
})

describe('groupstore: keys', () => {
  it('set and get a value given as an argument; get of an absent key exits 1', async (t) => {
    const db = database(t)
    assert.equal(await ok(db, ['set', 'config', 'theme', 'dark']), '')
    assert.equal(await ok(db, ['get', 'config', 'theme']), 'dark')
    const entry = JSON.parse(await ok(db, ['get', 'config', 'theme', '--json']))
    assert.deepEqual(entry, { group: 'config', key: 'theme', value: 'dark', revision: entry.revision, expiresAt: null })
    assert.ok(Number.isSafeInteger(entry.revision) && entry.revision > 0)
    const missing = await run(['--db', db, 'get', 'config', 'nope'])
    assert.equal(missing.code, 1)
    assert.equal(missing.out, '')
    oneLine(missing.err)
    assert.match(missing.err, /no key "nope" in group "config"/)
  })

  it('set reads the value from stdin byte for byte: NUL bytes, BOM, CRLF, emoji, no newline added or removed', async (t) => {
    const db = database(t)
    const value = Buffer.from('\uFEFFa\0b\r\nc 🚀 \u2028\n\n', 'utf8')
    await ok(db, ['set', 'bin', 'v'], { input: value })
    const r = await run(['--db', db, 'get', 'bin', 'v'])
    assert.equal(r.code, 0)
    assert.deepEqual(r.stdout, value)
    await ok(db, ['set', 'bin', 'empty'], { input: '' })
    const empty = await run(['--db', db, 'get', 'bin', 'empty'])
    assert.equal(empty.code, 0)
    assert.equal(empty.stdout.length, 0)
  })

  it('set and get a large value through pipes', async (t) => {
    const db = database(t)
    const value = Buffer.from('0123456789abcdé\n'.repeat(320_000)) // about 5 MB
    await ok(db, ['set', 'big', 'v'], { input: value })
    const r = await run(['--db', db, 'get', 'big', 'v'])
    assert.equal(r.code, 0)
    assert.equal(r.stdout.length, value.length)
    assert.ok(r.stdout.equals(value))
  })

  it('set refuses stdin that is not UTF-8, storing nothing (exit 2)', async (t) => {
    const db = database(t)
    const r = await run(['--db', db, 'set', 'g', 'k'], { input: Buffer.from([0x61, 0xff, 0x62]) })
    assert.equal(r.code, 2)
    oneLine(r.err)
    assert.match(r.err, /not valid UTF-8/)
    assert.equal((await run(['--db', db, 'get', 'g', 'k'])).code, 1)
  })

  it('--ttl takes durations with a unit and ttl reports the time left', async (t) => {
    const db = database(t)
    const before = Date.now()
    await ok(db, ['set', 'session', 'abc', 'user-1', '--ttl', '1h'])
    await ok(db, ['set', 'session', 'forever', 'x'])
    const j = JSON.parse(await ok(db, ['ttl', 'session', 'abc', '--json']))
    assert.ok(j.ttl > 0 && j.ttl <= 3_600_000, `ttl ${j.ttl}`)
    assert.ok(j.expiresAt >= before + 3_600_000 && j.expiresAt <= Date.now() + 3_600_000, `expiresAt ${j.expiresAt}`)
    assert.match(await ok(db, ['ttl', 'session', 'abc']), /^(59m \d+s|1h) \(\d+ ms\)\n$/)
    assert.deepEqual(JSON.parse(await ok(db, ['ttl', 'session', 'forever', '--json'])), { ttl: null, expiresAt: null })
    assert.equal(await ok(db, ['ttl', 'session', 'forever']), 'no expiry\n')
    const absent = await run(['--db', db, 'ttl', 'session', 'nope'])
    assert.equal(absent.code, 1)
    oneLine(absent.err)

    const durations = [['90s', 90_000], ['10m', 600_000], ['2d', 172_800_000], ['1.5h', 5_400_000], ['90000ms', 90_000]]
    await Promise.all(durations.map(([d]) => ok(db, ['set', 'd', d, 'x', '--ttl', d])))
    const store = await Store.open(db)
    t.after(() => store.close())
    for (const [duration, ms] of durations) {
      const left = await store.ttl('d', duration)
      assert.ok(left > ms - 60_000 && left <= ms, `${duration}: ${left}`)
    }
  })

  it('bad durations are usage errors and store nothing', async (t) => {
    const db = database(t)
    const bad = ['60', 'xx', '-1h', '0s', '10 parsecs', '']
    const results = await Promise.all(bad.map((d) => run(['--db', db, 'set', 'g', 'k', 'v', '--ttl', d])))
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 2, `--ttl ${JSON.stringify(bad[i])}`)
      assert.match(r.err, /^groupstore: .*--ttl/, bad[i])
    }
    assert.equal(existsSync(db), false)
  })

  it('delete exits 0 when it removed a key, 1 when there was none', async (t) => {
    const db = database(t)
    await ok(db, ['set', 'g', 'k', 'v'])
    assert.equal((await run(['--db', db, 'delete', 'g', 'k'])).code, 0)
    const again = await run(['--db', db, 'delete', 'g', 'k'])
    assert.equal(again.code, 1)
    oneLine(again.err)
    assert.equal((await run(['--db', db, 'get', 'g', 'k'])).code, 1)
  })
})

describe('groupstore: groups', () => {
  it('delete-group and delete-prefix print how many keys they removed', async (t) => {
    const db = database(t)
    await seed(db, [['app:a', '1'], ['app:a', '2'], ['app:b', '1'], ['apple', '1'], ['other', '1']])
    assert.equal(await ok(db, ['delete-group', 'app:a']), '2\n')
    assert.equal(await ok(db, ['delete-group', 'app:a']), '0\n')
    assert.equal(await ok(db, ['delete-prefix', 'app:', '--json']), '{"removed":1}\n')
    assert.deepEqual(JSON.parse(await ok(db, ['groups', '--json'])), ['apple', 'other'])
    assert.equal(await ok(db, ['delete-group', 'apple', '--json']), '{"removed":1}\n')
    assert.equal(await ok(db, ['delete-prefix', '']), '1\n')
    assert.deepEqual(JSON.parse(await ok(db, ['groups', '--json'])), [])
  })

  it('count, count --all [--prefix] and groups [prefix]', async (t) => {
    const db = database(t)
    await seed(db, [['web:a', '1'], ['web:a', '2'], ['web:b', '1'], ['api', '1']])
    assert.equal(await ok(db, ['count', 'web:a']), '2\n')
    assert.equal(await ok(db, ['count', 'web:a', '--json']), '{"count":2}\n')
    assert.equal(await ok(db, ['count', 'nothing']), '0\n')
    assert.equal(await ok(db, ['count', '--all']), '4\n')
    assert.equal(await ok(db, ['count', '--all', '--prefix', 'web:', '--json']), '{"count":3}\n')
    assert.equal(await ok(db, ['groups']), 'api\nweb:a\nweb:b\n')
    assert.equal(await ok(db, ['groups', 'web:']), 'web:a\nweb:b\n')
    assert.equal(await ok(db, ['groups', 'zzz']), '')
    assert.equal(await ok(db, ['groups', 'web:', '--json']), '["web:a","web:b"]\n')
    for (const args of [['count'], ['count', 'web:a', '--all'], ['count', 'web:a', '--prefix', 'x']]) {
      const r = await run(['--db', db, ...args])
      assert.equal(r.code, 2, args.join(' '))
      oneLine(r.err)
    }
  })

  it('list prints key<TAB>value or JSON Lines, with --prefix and --limit', async (t) => {
    const db = database(t)
    await seed(db, ['b', 'a', 'c1', 'c2', 'c3'].map((k) => ['g', k, `value of ${k}`]))
    assert.equal(await ok(db, ['list', 'g']), 'a\tvalue of a\nb\tvalue of b\nc1\tvalue of c1\nc2\tvalue of c2\nc3\tvalue of c3\n')
    assert.equal(await ok(db, ['list', 'g', '--prefix', 'c', '--limit', '2']), 'c1\tvalue of c1\nc2\tvalue of c2\n')
    const lines = (await ok(db, ['list', 'g', '--json', '--limit', '2'])).trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.deepEqual(lines, [{ key: 'a', value: 'value of a' }, { key: 'b', value: 'value of b' }])
    assert.equal(await ok(db, ['list', 'empty']), '')
  })

  it('list streams a group larger than a page, in key order, and stops quietly when the reader goes away', async (t) => {
    const db = database(t)
    const store = await Store.open(db)
    await store.transaction(async (tx) => {
      for (let i = 0; i < 5000; i++) await tx.set('big', `k${String(i).padStart(5, '0')}`, `v${i}`)
    })
    await store.close()
    const all = (await ok(db, ['list', 'big', '--json'])).trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.equal(all.length, 5000)
    assert.deepEqual(all[0], { key: 'k00000', value: 'v0' })
    assert.deepEqual(all[4999], { key: 'k04999', value: 'v4999' })
    assert.deepEqual(all.map((e) => e.key), all.map((e) => e.key).toSorted())
    assert.equal((await ok(db, ['list', 'big', '--limit', '1500'])).trimEnd().split('\n').length, 1500)

    // `groupstore list big | head -1`: the first line arrives, then the pipe closes.
    const child = spawn(process.execPath, [CLI, '--db', db, 'list', 'big'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c) => (stderr += c))
    const first = await new Promise((resolve) => child.stdout.once('data', (c) => resolve(String(c).split('\n')[0])))
    assert.equal(first, 'k00000\tv0')
    child.stdout.destroy()
    const code = await new Promise((resolve) => child.on('close', resolve))
    assert.equal(code, 0)
    assert.equal(stderr, '')
  })

  it('purge removes expired keys and prints how many', async (t) => {
    const db = database(t)
    // Written with a clock ten hours behind: their one-hour TTLs have already run out.
    const past = await Store.open(db, { now: () => Date.now() - 36_000_000 })
    await past.set('g', 'old1', 'x', { ttl: 3_600_000 })
    await past.set('g', 'old2', 'x', { ttl: 3_600_000 })
    await past.set('g', 'kept', 'x')
    await past.close()
    assert.equal(await ok(db, ['count', 'g']), '1\n', 'expired keys are invisible before the purge')
    assert.equal(await ok(db, ['purge']), '2\n')
    assert.equal(await ok(db, ['purge', '--json']), '{"purged":0}\n')
    assert.equal(await ok(db, ['list', 'g']), 'kept\tx\n')
  })
})

describe('groupstore: render', () => {
  it('renders a template from a file, from stdin and from -', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'r.db')
    await ok(db, ['set', 'db', 'host', 'localhost'])
    await ok(db, ['set', 'db', 'port', '5432'])
    const file = join(dir, 'url.liquid')
    writeFileSync(file, 'postgres://{{ host }}:{{ port }}/app\n')
    assert.equal(await ok(db, ['render', 'db', file]), 'postgres://localhost:5432/app\n')
    assert.equal(await ok(db, ['render', 'db'], { input: '{{ host }}' }), 'localhost')
    assert.equal(await ok(db, ['render', 'db', '-'], { input: '<{{ port }}>' }), '<5432>')
    assert.equal(await ok(db, ['render', 'db'], { input: '[{{ missing }}]' }), '[]')
  })

  it('--strict fails on a missing variable (exit 3); a missing template file is a usage error', async (t) => {
    const db = database(t)
    await ok(db, ['set', 'db', 'host', 'localhost'])
    const strict = await run(['--db', db, 'render', 'db', '--strict'], { input: '{{ host }} {{ missing }}' })
    assert.equal(strict.code, 3)
    assert.equal(strict.out, '')
    oneLine(strict.err)
    assert.match(strict.err, /missing/)
    const syntax = await run(['--db', db, 'render', 'db'], { input: '{% if %}' })
    assert.equal(syntax.code, 3)
    oneLine(syntax.err)
    const noFile = await run(['--db', db, 'render', 'db', join(tempDir(t), 'absent.liquid')])
    assert.equal(noFile.code, 2)
    oneLine(noFile.err)
    assert.match(noFile.err, /ENOENT/)
  })
})

describe('groupstore: export and import', () => {
  async function fill(db) {
    const store = await Store.open(db)
    await store.set('config', 'theme', 'dark')
    await store.set('config', 'nul', 'a\0b\nc')
    await store.set('config', '__proto__', '{"x":1}')
    await store.set('emoji 🚀', 'k\u2028', 'é\r\n', { ttl: 3_600_000 })
    await store.set('', '', '')
    await store.set('t1:scoped', 'k', 'in scope')
    await store.close()
  }

  it('export | import copies every live key, with its expiry, into a new file', async (t) => {
    const dir = tempDir(t)
    const a = join(dir, 'a.db')
    const b = join(dir, 'b.db')
    await fill(a)
    const exported = await ok(a, ['export'])
    const records = exported.trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.equal(records.length, 6)
    for (const r of records) assert.deepEqual(Object.keys(r), ['group', 'key', 'value', 'expiresAt'])
    assert.deepEqual(records.find((r) => r.key === 'nul'), { group: 'config', key: 'nul', value: 'a\0b\nc', expiresAt: null })
    const timed = records.find((r) => r.group === 'emoji 🚀')
    assert.ok(Number.isInteger(timed.expiresAt) && timed.expiresAt > Date.now())

    // A real shell pipe between two processes: groupstore export | groupstore import
    const q = (arg) => `'${arg}'`
    const node = q(process.execPath)
    const pipeline = `${node} ${q(CLI)} --db ${q(a)} export | ${node} ${q(CLI)} --db ${q(b)} import --json`
    const piped = spawnSync('sh', ['-c', pipeline], { encoding: 'utf8', env: { ...process.env, GROUPSTORE_DB: '' } })
    assert.equal(piped.status, 0, piped.stderr)
    assert.equal(piped.stderr, '')
    const out = piped.stdout
    assert.deepEqual(JSON.parse(out), { imported: 6, groups: 4, expired: 0 })
    assert.equal(await ok(b, ['export']), exported, 'the copy exports the same lines, expiresAt included')
    assert.equal(await ok(b, ['get', 'config', 'nul']), 'a\0b\nc')
  })

  it('file → PostgreSQL → file keeps every string and expiry exactly, and exports the same lines', { skip: pgSkip, timeout: 60_000 }, async (t) => {
    const dir = tempDir(t)
    const a = join(dir, 'a.db')
    const b = join(dir, 'b.db')
    const schema = unique('groupstore_cli_copy')
    t.after(() => dropSchema(schema))
    const pg = withSearchPath(url, schema)
    const soon = Date.now() + 3_600_123
    const lines = [
      { group: 'g', key: 'nul', value: 'a\0b', expiresAt: null },
      { group: 'g', key: 'crlf', value: 'a\r\nb\r\n', expiresAt: soon },
      { group: 'g', key: 'tab\tkey', value: '\t\n', expiresAt: null },
      { group: 'g\0z', key: 'k\u2028', value: '🚀\uFEFF\u0085\x01\x7f', expiresAt: soon + 1 },
      { group: '', key: '', value: '', expiresAt: null },
      { group: 'long', key: 'k'.repeat(10_000), value: `${'é'.repeat(500_000)}\n`, expiresAt: null },
      { group: 'g', key: 'quotes', value: '\\ \\u0000 " \'', expiresAt: null },
    ]
    const input = `${lines.map((l) => JSON.stringify(l)).join('\r\n')}\r\n`
    assert.equal(await ok(a, ['import', '--json'], { input }), '{"imported":7,"groups":4,"expired":0}\n')
    const fromFile = await ok(a, ['export'])
    assert.deepEqual(
      fromFile.trimEnd().split('\n').map((l) => JSON.parse(l)).toSorted((x, y) => (x.group + x.key < y.group + y.key ? -1 : 1)),
      lines.toSorted((x, y) => (x.group + x.key < y.group + y.key ? -1 : 1)),
    )
    assert.equal(await ok(pg, ['import'], { input: fromFile }), 'imported 7 keys into 4 groups; skipped 0 expired\n')
    assert.equal(await ok(pg, ['export']), fromFile, 'PostgreSQL exports the same lines, in the same order')
    await ok(b, ['import'], { input: await ok(pg, ['export']) })
    assert.equal(await ok(b, ['export']), fromFile)
    assert.equal(JSON.parse(await ok(pg, ['get', 'g', 'crlf', '--json'])).expiresAt, soon)
    assert.deepEqual((await run(['--db', pg, 'get', 'long', 'k'.repeat(10_000)])).stdout, Buffer.from(lines[5].value))
  })

  it('export --prefix and --output FILE; import FILE', async (t) => {
    const dir = tempDir(t)
    const a = join(dir, 'a.db')
    await fill(a)
    const file = join(dir, 'config.jsonl')
    const r = await run(['--db', a, 'export', '--prefix', 'con', '--output', file])
    assert.equal(r.code, 0)
    assert.equal(r.out, '')
    assert.match(r.err, /exported 3 keys from 1 group/)
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
    assert.deepEqual(lines.map((l) => JSON.parse(l).key), ['__proto__', 'nul', 'theme'])
    const b = join(dir, 'b.db')
    assert.equal(await ok(b, ['import', file]), 'imported 3 keys into 1 group; skipped 0 expired\n')
    assert.equal(await ok(b, ['get', 'config', '__proto__']), '{"x":1}')
    const bad = await run(['--db', a, 'export', '--output', join(dir, 'missing', 'x.jsonl')])
    assert.equal(bad.code, 2)
    oneLine(bad.err)
    // An --output that names a folder, or nothing, cannot be created either: exit 2, and no file is left behind.
    const folder = join(dir, 'folder')
    mkdirSync(folder)
    const before = readdirSync(dir).toSorted()
    for (const output of [folder, '']) {
      const r = await run(['--db', a, 'export', '--output', output], { cwd: dir })
      assert.equal(r.code, 2, `--output ${JSON.stringify(output)}: ${r.err}`)
      assert.equal(r.out, '')
      oneLine(r.err)
      assert.match(r.err, /^groupstore: export: cannot write '.*'/)
    }
    assert.deepEqual(readdirSync(dir).toSorted(), before)
    assert.deepEqual(readdirSync(folder), [])
  })

  it('a malformed line is reported with its number and nothing is imported', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'target.db')
    await ok(db, ['set', 'config', 'theme', 'light'])
    const good = (k) => JSON.stringify({ group: 'config', key: k, value: 'new', expiresAt: null })
    const cases = [
      ['{"group":"config","key":"x"', /line 3 is not JSON/],
      ['{"group":"config","key":"x","value":1,"expiresAt":null}', /line 3 has no string "value"/],
      ['{"group":"config","key":"x","value":"v","expiresAt":"soon"}', /line 3 has an "expiresAt"/],
      ['{"group":"config","key":"x","value":"v","expires_at":null}', /line 3 has an unknown field "expires_at"/],
      ['["config","x","v"]', /line 3 is not an object/],
      ['{"group":"config","key":"\\ud800","value":"v"}', /line 3 has a lone UTF-16 surrogate/],
    ]
    for (const [line, message] of cases) {
      const input = [good('theme'), good('added'), line, good('after')].join('\n') + '\n'
      const r = await run(['--db', db, 'import'], { input })
      assert.equal(r.code, 2, line)
      assert.equal(r.out, '')
      oneLine(r.err)
      assert.match(r.err, message)
      assert.match(r.err, /nothing was imported/)
    }
    const file = join(dir, 'bad.jsonl')
    writeFileSync(file, Buffer.concat([Buffer.from(`${good('a')}\n`), Buffer.from([0x7b, 0xff, 0x7d, 0x0a])]))
    const r = await run(['--db', db, 'import', file])
    assert.equal(r.code, 2)
    assert.match(r.err, /line 2 is not valid UTF-8/)
    assert.equal(await ok(db, ['export']), `${JSON.stringify({ group: 'config', key: 'theme', value: 'light', expiresAt: null })}\n`)
  })

  it('skips and counts keys whose expiresAt has passed; tolerates blank lines and CRLF', async (t) => {
    const db = database(t)
    const future = Date.now() + 86_400_000
    const input = [
      JSON.stringify({ group: 'g', key: 'past', value: 'v', expiresAt: Date.now() - 1000 }),
      '',
      JSON.stringify({ group: 'g', key: 'future', value: 'v', expiresAt: future }),
      JSON.stringify({ group: 'h', key: 'plain', value: 'v' }),
    ].join('\r\n')
    assert.equal(await ok(db, ['import', '-', '--json'], { input }), '{"imported":2,"groups":2,"expired":1}\n')
    assert.equal(JSON.parse(await ok(db, ['ttl', 'g', 'future', '--json'])).expiresAt, future)
    assert.equal((await run(['--db', db, 'get', 'g', 'past'])).code, 1)
  })

  it('shows a progress bar on a terminal for a large input', { skip: !hasScript() && 'needs script(1) for a terminal' }, async (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'big.jsonl')
    const line = (i) => JSON.stringify({ group: 'g', key: `k${i}`, value: 'x'.repeat(500), expiresAt: null })
    writeFileSync(file, Array.from({ length: 3000 }, (_, i) => line(i)).join('\n'))
    const db = join(dir, 'big.db')
    const command = [process.execPath, CLI, '--db', db, 'import', file].map((a) => `'${a}'`).join(' ')
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /importing .*%/)
    assert.match(r.stdout, /imported 3000 keys into 1 group/)
    const quiet = await run(['--db', join(dir, 'quiet.db'), 'import', file])
    assert.equal(quiet.err, '', 'no bar when stderr is not a terminal')
  })
})

function hasScript() {
  return spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0
}

describe('groupstore: input that cannot be read', () => {
  /** Runs `groupstore --db db ...args` with `path` opened as its stdin (`< path` in a shell). */
  function runWithStdin(db, args, path) {
    const fd = openSync(path, 'r')
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, '--db', db, ...args], { stdio: [fd, 'pipe', 'pipe'], env: { ...process.env, GROUPSTORE_DB: '' } })
      closeSync(fd)
      let out = ''
      let err = ''
      child.stdout.on('data', (c) => (out += c))
      child.stderr.on('data', (c) => (err += c))
      child.on('error', reject)
      child.on('close', (code) => resolve({ code, out, err }))
    })
  }

  it('a template file or import file that is a folder, or missing, is a usage error (exit 2) naming it', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'test.db')
    await ok(db, ['set', 'g', 'k', 'v'])
    const folder = join(dir, 'folder')
    mkdirSync(folder)
    const render = await run(['--db', db, 'render', 'g', folder])
    assert.equal(render.code, 2, render.err)
    assert.equal(render.out, '')
    oneLine(render.err)
    assert.match(render.err, /^groupstore: cannot read the template '.*folder': EISDIR/)
    for (const [file, code] of [[folder, 'EISDIR'], [join(dir, 'absent.jsonl'), 'ENOENT']]) {
      const r = await run(['--db', db, 'import', file])
      assert.equal(r.code, 2, r.err)
      assert.equal(r.out, '')
      oneLine(r.err)
      assert.match(r.err, new RegExp(`^groupstore: import: cannot read '.*': ${code}`))
    }
    assert.equal(await ok(db, ['export']), '{"group":"g","key":"k","value":"v","expiresAt":null}\n')
  })

  it('stdin that is a folder is a usage error (exit 2) for set, render and import, and nothing is written', async (t) => {
    const dir = tempDir(t)
    const db = join(dir, 'test.db')
    await ok(db, ['set', 'g', 'k', 'v'])
    for (const args of [['set', 'g', 'k'], ['set', 'g', 'other'], ['render', 'g'], ['render', 'g', '-'], ['import'], ['import', '-']]) {
      const r = await runWithStdin(db, args, dir)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`)
      assert.equal(r.out, '', args.join(' '))
      oneLine(r.err)
      assert.match(r.err, /^groupstore: .*stdin.*EISDIR/, args.join(' '))
    }
    assert.equal(await ok(db, ['export']), '{"group":"g","key":"k","value":"v","expiresAt":null}\n')
  })
})

describe('groupstore: go-store\'s files', () => {
  it('exports the live rows of a go-store database as they are, and lists a pre-TTL one after upgrading it', async (t) => {
    const db = fixtureCopy(t, 'go-store.db')
    assert.deepEqual((await ok(db, ['export'])).trimEnd().split('\n').map((l) => JSON.parse(l)), [
      { group: 'a_b', key: 'k', value: 'in underscore group', expiresAt: null },
      { group: 'bin', key: 'emoji', value: 'héllo 🚀', expiresAt: null },
      { group: 'bin', key: 'nul', value: 'a\0b', expiresAt: null },
      { group: 'config', key: 'empty', value: '', expiresAt: null },
      { group: 'config', key: 'plain', value: 'hello', expiresAt: null },
      { group: 'tenant-1:cfg', key: 'theme', value: 'dark', expiresAt: null },
    ])
    assert.equal((await run(['--db', db, 'get', 'config', 'ttl1h'])).code, 1, 'the expired row')
    assert.equal(await ok(db, ['groups', '--scope', 'tenant-1']), 'cfg\n')
    const old = fixtureCopy(t, 'go-store-pre-ttl.db')
    assert.equal(await ok(old, ['list', 'config']), 'lang\ten-GB\ntheme\tdark\n')
    assert.equal(await ok(old, ['ttl', 'config', 'theme']), 'no expiry\n')
    await ok(old, ['set', 'config', 'theme', 'light', '--ttl', '1h'])
    assert.equal(await ok(old, ['get', 'config', 'theme']), 'light')
  })
})

describe('groupstore: --scope', () => {
  it('runs data commands in a tenant scope, with names relative to it', async (t) => {
    const db = database(t)
    await ok(db, ['set', '--scope', 'tenant-42', 'config', 'theme', 'dark'])
    await ok(db, ['set', 'config', 'theme', 'light'])
    assert.equal(await ok(db, ['get', 'config', 'theme', '--scope', 'tenant-42']), 'dark')
    assert.equal(await ok(db, ['get', 'tenant-42:config', 'theme']), 'dark')
    assert.equal(await ok(db, ['groups', '--scope', 'tenant-42']), 'config\n')
    assert.equal(await ok(db, ['groups']), 'config\ntenant-42:config\n')
    assert.equal(await ok(db, ['count', '--all', '--scope', 'tenant-42']), '1\n')
    assert.equal(await ok(db, ['list', 'config', '--scope', 'tenant-42']), 'theme\tdark\n')
    assert.equal(await ok(db, ['render', 'config', '--scope', 'tenant-42'], { input: '{{ theme }}' }), 'dark')
    assert.equal(await ok(db, ['export', '--scope', 'tenant-42']), '{"group":"config","key":"theme","value":"dark","expiresAt":null}\n')
    assert.equal(await ok(db, ['import', '--scope', 'other'], { input: '{"group":"x","key":"k","value":"v"}' }), 'imported 1 key into 1 group; skipped 0 expired\n')
    assert.equal(await ok(db, ['get', 'other:x', 'k']), 'v')
    assert.equal(await ok(db, ['delete-group', 'config', '--scope', 'tenant-42']), '1\n')
    assert.equal(await ok(db, ['get', 'config', 'theme']), 'light')
    const bad = await run(['--db', db, 'get', 'g', 'k', '--scope', 'no spaces'])
    assert.equal(bad.code, 2)
    assert.match(bad.err, /--scope/)
  })
})

describe('groupstore: watch', () => {
  it('prints the events of a second process\'s writes as JSON lines, and exits 0 on SIGINT', { timeout: 30_000 }, async (t) => {
    const db = database(t)
    const watch = start(['--db', db, 'watch'], 'watching')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    await ok(db, ['set', 'config', 'theme', 'dark'])
    await ok(db, ['delete', 'config', 'theme'])
    const set = JSON.parse(await watch.next())
    assert.equal(set.type, 'set')
    assert.equal(set.group, 'config')
    assert.equal(set.key, 'theme')
    assert.equal(set.value, 'dark')
    assert.ok(!Number.isNaN(Date.parse(set.timestamp)))
    assert.ok(Number.isInteger(set.revision) && set.revision > 0)
    const del = JSON.parse(await watch.next())
    assert.deepEqual([del.type, del.group, del.key, del.revision], ['delete', 'config', 'theme', set.revision + 1])
    watch.child.kill('SIGINT')
    const { code, signal } = await watch.exit
    assert.equal(signal, null)
    assert.equal(code, 0)
  })

  it('watches one group (or one key) in a scope, and exits 0 on SIGTERM', { timeout: 30_000 }, async (t) => {
    const db = database(t)
    const watch = start(['--db', db, 'watch', 'config', '--scope', 't1'], 'watching')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    await ok(db, ['set', 'config', 'unscoped', 'x'])
    await ok(db, ['set', 'other', 'k', 'x', '--scope', 't1'])
    await ok(db, ['set', 'config', 'k', 'seen', '--scope', 't1'])
    const event = JSON.parse(await watch.next())
    assert.deepEqual([event.type, event.group, event.key, event.value], ['set', 'config', 'k', 'seen'])
    watch.child.kill('SIGTERM')
    assert.equal((await watch.exit).code, 0)
  })

  it('watching one key prints its sets, deletes and expiry and its group\'s delete_group, nothing of other keys', { timeout: 30_000 }, async (t) => {
    const db = database(t)
    const watch = start(['--db', db, 'watch', 'config', 'theme'], 'watching group "config" key "theme"')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    await ok(db, ['set', 'config', 'theme', 'dark', '--ttl', '300ms'])
    await ok(db, ['set', 'config', 'other', 'x'])
    await ok(db, ['set', 'elsewhere', 'theme', 'x'])
    await new Promise((resolve) => setTimeout(resolve, 400))
    assert.equal((await run(['--db', db, 'get', 'config', 'theme'])).code, 1) // the read that meets it removes it
    await ok(db, ['set', 'config', 'theme', 'light'])
    await ok(db, ['delete', 'config', 'theme'])
    await ok(db, ['delete-group', 'config'])
    const events = []
    for (let i = 0; i < 5; i++) events.push(JSON.parse(await watch.next()))
    assert.deepEqual(events.map((e) => [e.type, e.group, e.key, e.value]), [
      ['set', 'config', 'theme', 'dark'],
      ['expire', 'config', 'theme', undefined],
      ['set', 'config', 'theme', 'light'],
      ['delete', 'config', 'theme', undefined],
      ['delete_group', 'config', '', undefined],
    ])
    for (const e of events) assert.deepEqual(Object.keys(e), e.type === 'set' ? ['type', 'group', 'key', 'value', 'timestamp', 'revision'] : ['type', 'group', 'key', 'timestamp', 'revision'])
    assert.ok(events.every((e, i) => i === 0 || e.revision > events[i - 1].revision))
    watch.child.kill('SIGINT')
    assert.equal((await watch.exit).code, 0)
  })

  it('--since replays the events after a revision first', { timeout: 30_000 }, async (t) => {
    const db = database(t)
    for (const v of ['1', '2', '3']) await ok(db, ['set', 'g', 'k', v])
    const watch = start(['--db', db, 'watch', 'g', 'k', '--since', '1'], 'watching')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    const replayed = [JSON.parse(await watch.next()), JSON.parse(await watch.next())]
    assert.deepEqual(replayed.map((e) => [e.value, e.revision]), [['2', 2], ['3', 3]])
    await ok(db, ['set', 'g', 'k', '4'])
    assert.deepEqual(JSON.parse(await watch.next()).revision, 4)
    watch.child.kill('SIGINT')
    assert.equal((await watch.exit).code, 0)
    const bad = await run(['--db', db, 'watch', '--since', '-1'])
    assert.equal(bad.code, 2)
  })

  it('--since a revision pruned from the log: the first line carries missed, and stderr says so', { timeout: 30_000 }, async (t) => {
    const db = database(t)
    const store = await Store.open(db, { changeRetention: { maxAge: 0, maxCount: 3 } })
    for (let i = 1; i <= 10; i++) await store.set('g', `k${i}`, String(i))
    await store.purgeExpired() // prunes the log to its latest 3 entries: revisions 8 to 10
    await store.close()
    const watch = start(['--db', db, 'watch', '--since', '1'], 'watching')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    const first = JSON.parse(await watch.next())
    assert.deepEqual([first.key, first.revision, first.missed], ['k8', 8, 6])
    assert.equal('missed' in JSON.parse(await watch.next()), false)
    watch.child.kill('SIGINT')
    const { code, stderr } = await watch.exit
    assert.equal(code, 0)
    assert.match(stderr, /^groupstore: 6 events were pruned from the change log before they could be read$/m)
  })

  it('exits 0 on SIGINT with no events, creating the database it follows', async (t) => {
    const db = database(t)
    const watch = start(['--db', db, 'watch', 'g', 'k'], 'watching')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    assert.equal(existsSync(db), true)
    watch.child.kill('SIGINT')
    const { code, stderr } = await watch.exit
    assert.equal(code, 0)
    assert.equal(stderr.trimEnd().split('\n').length, 1)
  })

  it('never writes the password of a postgres:// location to stderr', { skip: pgSkip, timeout: 30_000 }, async (t) => {
    const schema = unique('groupstore_watch_password')
    t.after(() => dropSchema(schema))
    const location = new URL(withSearchPath(url, schema))
    // The test server trusts local connections: any password is taken.
    if (location.password === '') location.password = 'not-to-be-shown'
    const watch = start(['--db', location.href, 'watch'], 'watching')
    t.after(() => watch.child.kill('SIGKILL'))
    await watch.started
    watch.child.kill('SIGINT')
    const { code, stderr } = await watch.exit
    assert.equal(code, 0, stderr)
    assert.match(stderr, /^watching group "\*" key "\*" in postgres:\/\/[^:]+:\*\*\*@/)
    assert.ok(!stderr.includes(location.password), stderr)
  })
})

describe('groupstore: installation', () => {
  it('package.json names the bin, whose file starts with a node shebang', () => {
    assert.deepEqual(pkg.bin, { groupstore: './dist/cli/main.js' })
    assert.match(readFileSync(new URL(`../${pkg.bin.groupstore}`, import.meta.url), 'utf8'), /^#!\/usr\/bin\/env node\n/)
  })

  it('npm pack ships the bin', { skip: !hasNpm() && 'npm is not on PATH' }, () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: new URL('..', import.meta.url), encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    const files = JSON.parse(r.stdout)[0].files.map((f) => f.path)
    assert.ok(files.includes('dist/cli/main.js'))
    assert.ok(files.includes('package.json'))
  })

  it('npm install -g puts a working groupstore on PATH', { skip: !hasNpm() && 'npm is not on PATH' }, async (t) => {
    const prefix = tempDir(t, 'groupstore-prefix-')
    const root = new URL('..', import.meta.url)
    const r = spawnSync('npm', ['install', '-g', '.', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    const bin = join(prefix, process.platform === 'win32' ? 'groupstore.cmd' : join('bin', 'groupstore'))
    assert.ok(statSync(bin).mode & 0o111, 'the installed bin is executable')
    const dir = tempDir(t)
    const env = { PATH: `${join(prefix, 'bin')}:${process.env.PATH}` }
    const opts = { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env, GROUPSTORE_DB: '' } }
    assert.equal(spawnSync('groupstore', ['--version'], opts).stdout.trim(), pkg.version)
    assert.equal(spawnSync('groupstore', ['set', 'g', 'k', 'via PATH'], opts).status, 0)
    assert.equal(spawnSync('groupstore', ['get', 'g', 'k'], opts).stdout, 'via PATH')
    assert.ok(existsSync(join(dir, 'groupstore.db')))
  })
})

function hasNpm() {
  return spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0
}
