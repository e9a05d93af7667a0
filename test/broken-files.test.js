// Broken files and environments: each is refused with a StoreError whose
// message names the path, without a crash and without changing the file;
// a store that was open keeps serving reads when its writes fail.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { Store, StoreError } from 'groupstore'

const root = mkdtempSync(join(tmpdir(), 'groupstore-broken-'))
chmodSync(root, 0o755) // the unprivileged child below must reach it
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
/** A fresh, empty folder. */
function folder() {
  const dir = join(root, `case-${n++}`)
  mkdirSync(dir, { mode: 0o755 })
  chmodSync(dir, 0o755)
  return dir
}

/** The folder's files and their bytes, to show that nothing changed. */
function snapshot(dir) {
  return Object.fromEntries(readdirSync(dir).sort().map((name) => [name, readFileSync(join(dir, name)).toString('base64')]))
}

/** A groupstore database with `count` keys over ten groups. */
async function makeDatabase(file, count = 3000) {
  const store = await Store.open(file, { purgeInterval: 0, durability: 'normal' })
  await store.transaction(async (tx) => {
    for (let i = 0; i < count; i++) await tx.set(`g${i % 10}`, `k${String(i).padStart(5, '0')}`, `value-${'x'.repeat(150)}-${i}`)
  })
  await store.close()
}

/** Asserts that opening `location` rejects with a StoreError naming it, matching `pattern`, with `code`. */
async function refusedOpen(location, pattern, code = 'ERR_STORE') {
  await assert.rejects(Store.open(location, { purgeInterval: 0 }), (err) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${err?.name}: ${err?.message}`)
    assert.equal(err.code, code)
    assert.equal(err.name, 'StoreError')
    assert.match(err.message, /^Store\.open: /)
    assert.ok(err.message.includes(location), `message names the path: ${err.message}`)
    assert.match(err.message, pattern)
    return true
  })
}

/** Overwrites pages [from, to) of a file with `byte`. */
function damagePages(file, from, to, byte) {
  const fd = openSync(file, 'r+')
  for (let page = from; page < to; page++) writeSync(fd, Buffer.alloc(4096, byte), 0, 4096, page * 4096)
  closeSync(fd)
}

const isRoot = process.getuid?.() === 0
const OPEN_CHILD = fileURLToPath(new URL('./reliability/open-child.js', import.meta.url))
const DISK_FULL_CHILD = fileURLToPath(new URL('./reliability/disk-full-child.js', import.meta.url))
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * Opens `location` in a child process as an unprivileged user: root ignores
 * file permissions, so read-only cases are run as `nobody` when the tests
 * run as root.
 */
function openAsUser(t, location) {
  const result = spawnSync(process.execPath, [OPEN_CHILD, location], {
    cwd: PACKAGE_ROOT,
    encoding: 'utf8',
    ...(isRoot ? { uid: 65534, gid: 65534 } : {}),
  })
  if (isRoot && (result.error !== undefined || /EACCES|EPERM/.test(result.stderr))) {
    // No switching user here, or the checkout is not readable by nobody.
    t.skip(`cannot run as an unprivileged user: ${result.error?.message ?? result.stderr.split('\n')[0]}`)
    return undefined
  }
  assert.equal(result.status, 0, result.stderr)
  return JSON.parse(result.stdout)
}

function assertRefusedInChild(report, location, pattern) {
  if (report === undefined) return // skipped
  assert.equal(report.opened, false, `opened: ${JSON.stringify(report)}`)
  assert.equal(report.error.name, 'StoreError')
  assert.equal(report.error.code, 'ERR_STORE')
  assert.ok(report.error.message.startsWith('Store.open: '), report.error.message)
  assert.ok(report.error.message.includes(location), report.error.message)
  assert.match(report.error.message, pattern)
}

describe('broken files', () => {
  it('a file that is not a database', async () => {
    const dir = folder()
    const file = join(dir, 'notes.db')
    writeFileSync(file, 'These are my notes, not a database.\n'.repeat(200))
    const before = snapshot(dir)
    await refusedOpen(file, /not a database/, 'ERR_STORE_CORRUPT')
    assert.deepEqual(snapshot(dir), before)
  })

  it('a database truncated at several points', async () => {
    const dir = folder()
    const original = join(dir, 'original.db')
    await makeDatabase(original)
    const size = readFileSync(original).length
    for (const cut of [50, 100, 4096, 8192, Math.floor(size / 2), size - 4096]) {
      const file = join(dir, `cut-${cut}.db`)
      writeFileSync(file, readFileSync(original).subarray(0, cut))
      const before = snapshot(dir)
      await refusedOpen(file, /truncated|not a database|corrupt/, 'ERR_STORE_CORRUPT')
      assert.deepEqual(snapshot(dir), before, `cut at ${cut}: nothing changed or created`)
    }
  })

  it('a database with damaged pages', async () => {
    const dir = folder()
    const original = join(dir, 'original.db')
    await makeDatabase(original)
    const pages = readFileSync(original).length / 4096
    const damages = [
      ['every page after the first', 1, pages, 0xa5],
      ['a few pages in the middle', Math.floor(pages / 2), Math.floor(pages / 2) + 3, 0x00],
      ['one page near the end', pages - 2, pages - 1, 0xff],
    ]
    for (const [what, from, to, byte] of damages) {
      const file = join(dir, `damaged-${from}.db`)
      writeFileSync(file, readFileSync(original))
      damagePages(file, from, to, byte)
      const before = snapshot(dir)
      await refusedOpen(file, /is corrupt/, 'ERR_STORE_CORRUPT')
      assert.deepEqual(snapshot(dir), before, `${what}: nothing changed or created`)
    }
  })

  it('a large damaged file: opens (no full check), then the operation that meets the damage fails and writes stop', async () => {
    // Above the size checked whole at open (32 MiB), damage is found when touched.
    const dir = folder()
    const file = join(dir, 'large.db')
    const store = await Store.open(file, { purgeInterval: 0, durability: 'normal' })
    await store.set('small', 'a', 'kept')
    const mb = 'm'.repeat(1024 * 1024)
    await store.transaction(async (tx) => {
      for (let i = 0; i < 34; i++) await tx.set('big', `k${String(i).padStart(2, '0')}`, mb)
    })
    await store.close()
    const pages = readFileSync(file).length / 4096
    damagePages(file, Math.floor(pages / 2), Math.floor(pages / 2) + 1, 0xff)
    const before = snapshot(dir)

    const damaged = await Store.open(file, { purgeInterval: 0 })
    try {
      assert.equal(await damaged.get('small', 'a'), 'kept')
      await assert.rejects(damaged.getAll('big'), (err) => {
        assert.ok(err instanceof StoreError)
        assert.match(err.message, /^store\.getAll: /)
        assert.ok(err.message.includes(file))
        assert.match(err.message, /is corrupt/)
        return true
      })
      // From then on, writes are refused; reads of intact data still work.
      await assert.rejects(damaged.set('small', 'b', 'x'), (err) => {
        assert.ok(err instanceof StoreError)
        assert.match(err.message, /^store\.set: .*is corrupt.*writes are refused/)
        return true
      })
      await assert.rejects(damaged.transaction((tx) => tx.set('small', 'c', 'x')), StoreError)
      assert.equal(await damaged.get('small', 'a'), 'kept')
    } finally {
      await damaged.close()
    }
    assert.deepEqual(snapshot(dir), before)
  })
})

describe('broken environments', () => {
  it('a directory given as the path', async () => {
    const dir = folder()
    const before = snapshot(dir)
    await refusedOpen(dir, /is a directory/)
    assert.deepEqual(snapshot(dir), before)
  })

  it('a missing parent folder', async () => {
    const dir = folder()
    const location = join(dir, 'missing', 'store.db')
    await refusedOpen(location, /folder .* does not exist/)
    assert.equal(existsSync(join(dir, 'missing')), false)
  })

  it('something that is not a regular file', async (t) => {
    if (!existsSync('/dev/null')) return t.skip('no /dev/null on this system')
    await refusedOpen('/dev/null', /not a regular file/)
  })

  it(`a read-only file${isRoot ? ' (opened as an unprivileged user)' : ''}`, async (t) => {
    const dir = folder()
    const file = join(dir, 'ro.db')
    await makeDatabase(file, 10)
    chmodSync(file, 0o444)
    const before = snapshot(dir)
    assertRefusedInChild(openAsUser(t, file), file, /read-only/)
    assert.deepEqual(snapshot(dir), before)
  })

  it(`a read-only folder, for an existing and a new file${isRoot ? ' (opened as an unprivileged user)' : ''}`, async (t) => {
    const dir = folder()
    const file = join(dir, 'in-ro-folder.db')
    await makeDatabase(file, 10)
    if (isRoot) chownSync(file, 65534, 65534) // the file itself is writable for the user who opens it
    chmodSync(dir, 0o555)
    try {
      const before = snapshot(dir)
      assertRefusedInChild(openAsUser(t, file), file, /folder .* is read-only/)
      const fresh = join(dir, 'new.db')
      assertRefusedInChild(openAsUser(t, fresh), fresh, /folder .* is read-only/)
      assert.deepEqual(snapshot(dir), before)
    } finally {
      chmodSync(dir, 0o755)
    }
  })
})

describe('full disk', () => {
  /** Checks the child's report and that every acknowledged write is in the file afterwards. */
  async function checkFull(file, report, { pattern, freed }) {
    assert.ok(report.error, 'the writes eventually failed')
    assert.equal(report.error.storeError, true, JSON.stringify(report.error))
    assert.equal(report.error.code, 'ERR_STORE')
    assert.match(report.error.message, /^store\.set: /)
    assert.ok(report.error.message.includes(file), report.error.message)
    assert.match(report.error.message, pattern)
    // The open store kept serving reads, including reads in the failing batches.
    assert.equal(report.concurrentReadsFailed, 0)
    assert.equal(report.readsAfter.get, 'v5')
    assert.equal(report.readsAfter.count, 20)
    assert.equal(report.readsAfter.getAll, 20)
    assert.equal(typeof report.readsAfter.fill, 'number')
    // Another write may fit in what is left, or fail the same way: never anything else.
    if (report.writeAgain !== 'ok') assert.equal(report.writeAgain.storeError, true, JSON.stringify(report.writeAgain))
    if (freed) assert.equal(report.writeAfterSpaceFreed, 'ok', 'writes work again once space is freed')
    assert.equal(report.close, 'ok')
    // Every acknowledged write is in the file, which is intact.
    const db = new Database(file)
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
      const get = db.prepare('SELECT value FROM kv WHERE grp = ? AND key = ?').pluck()
      const missing = report.acked.filter(([g, k, v]) => get.get(g, k) !== v)
      assert.deepEqual(missing.map(([g, k]) => `${g}/${k}`), [])
    } finally {
      db.close()
    }
  }

  it('simulated with a file-size limit (RLIMIT_FSIZE): writes fail with a StoreError, reads go on', async (t) => {
    const dir = folder()
    const file = join(dir, 'limited.db')
    // ulimit -f counts 512-byte blocks: writes past 400 KB fail with EFBIG.
    const result = spawnSync('/bin/sh', ['-c', 'ulimit -f 800 && exec "$0" "$@"', process.execPath, DISK_FULL_CHILD, file], {
      cwd: PACKAGE_ROOT,
      encoding: 'utf8',
    })
    if (result.error !== undefined || result.status === 127) return t.skip(`no /bin/sh with ulimit: ${result.error?.message ?? result.stderr}`)
    assert.equal(result.status, 0, result.stderr)
    await checkFull(file, JSON.parse(result.stdout), { pattern: /I\/O error|disk is full/, freed: false })
  })

  it('a real full disk: a 1 MB tmpfs (needs root and mount; skipped otherwise)', async (t) => {
    if (!isRoot) return t.skip('needs root to mount a tmpfs')
    const mountPoint = folder()
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', mountPoint], { stdio: 'pipe' })
    } catch (err) {
      return t.skip(`cannot mount a tmpfs here: ${String(err.stderr ?? err.message).trim()}`)
    }
    try {
      const file = join(mountPoint, 'full.db')
      const filler = join(mountPoint, 'filler')
      writeFileSync(filler, Buffer.alloc(256 * 1024))
      const result = spawnSync(process.execPath, [DISK_FULL_CHILD, file, filler], { cwd: PACKAGE_ROOT, encoding: 'utf8' })
      assert.equal(result.status, 0, result.stderr)
      await checkFull(file, JSON.parse(result.stdout), { pattern: /the disk is full/, freed: true })
    } finally {
      execFileSync('umount', [mountPoint])
    }
  })
})
