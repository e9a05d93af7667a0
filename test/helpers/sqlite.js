// Helpers of the SQLite-specific tests: temporary folders and fixture copies.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** go-store's databases (test/fixtures, read-only: always copy before opening). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))

/**
 * A fresh temporary folder, removed when the test ends.
 * @param {import('node:test').TestContext} t
 */
export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'groupstore-test-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Copies a fixture into a fresh temporary folder; answers the copy's path.
 * @param {import('node:test').TestContext} t
 * @param {string} name
 */
export function fixtureCopy(t, name) {
  const path = join(tempDir(t), name)
  copyFileSync(join(FIXTURES, name), path)
  return path
}
