// The package as a user installs it: its manifest, its exports map, its
// runtime exports and its types.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as groupstore from 'groupstore'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

describe('package', () => {
  it('is an ESM package named groupstore for Node 20 or later, built on install', () => {
    assert.equal(pkg.name, 'groupstore')
    assert.equal(pkg.type, 'module')
    assert.match(pkg.engines.node, />=\s*20/)
    assert.equal(typeof pkg.scripts.prepare, 'string', 'a clean clone must build on npm install')
    assert.match(pkg.dependencies['better-sqlite3'], /^\^?12\./, 'better-sqlite3 13 crashes on Node 20')
  })

  it('maps its root export to built JavaScript and types', () => {
    const root = pkg.exports['.']
    assert.equal(root.types, './dist/index.d.ts')
    assert.equal(root.import, './dist/index.js')
    assert.ok(existsSync(new URL('../dist/index.d.ts', import.meta.url)))
    assert.equal(fileURLToPath(import.meta.resolve('groupstore')), fileURLToPath(new URL('../dist/index.js', import.meta.url)))
  })

  it('exports the classes of the contract and no internals', () => {
    for (const name of ['Store', 'ScopedStore', 'Transaction', 'StoreError', 'StoreClosedError', 'QuotaExceededError', 'TemplateError']) {
      assert.equal(typeof groupstore[name], 'function', name)
    }
    for (const name of ['StoreCore', 'Operations', 'SqliteBackend', 'SqliteQueries', 'EventHub', 'Feed', 'Renderer', 'wrapError']) {
      assert.equal(name in groupstore, false, `${name} is internal`)
    }
  })

  it('its types compile for a user in strict mode', async () => {
    const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
    const { code, output } = await new Promise((resolve) => {
      execFile(process.execPath, [tsc, '-p', 'test/types/tsconfig.json'], { cwd: ROOT }, (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, output: stdout + stderr }),
      )
    })
    assert.equal(code, 0, output)
  })

  it('ships the console and the server, and loads the server only for serve', async () => {
    const npm = process.env.npm_execpath
    const listed = await new Promise((resolve, reject) => {
      const [cmd, args] = npm === undefined ? ['npm', []] : [process.execPath, [npm]]
      execFile(cmd, [...args, 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT }, (err, stdout) =>
        err ? reject(err) : resolve(JSON.parse(stdout)[0].files.map((f) => f.path)),
      )
    })
    for (const file of ['console/index.html', 'console/console.js', 'console/console.css', 'dist/server/app.js', 'dist/cli/commands/serve.js']) {
      assert.ok(listed.includes(file), `${file} is in the package`)
    }
    assert.equal(listed.filter((f) => f.endsWith('.png')).length, 0, 'no screenshots in the package')
    const program = readFileSync(new URL('../dist/cli/program.js', import.meta.url), 'utf8')
    assert.doesNotMatch(program, /^import .*(fastify|server)/m, 'the program imports no server module up front')
    assert.match(program, /import\('\.\/commands\/serve\.js'\)/)
  })
})
