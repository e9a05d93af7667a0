// `npm run demo:serve`: `groupstore serve` on a small sample database in a
// temporary folder (removed at the end), with the console's address printed.
// Ctrl-C stops it. `-- --port N` picks the port (default 8080; 0 = any free one).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
if (!existsSync(cli)) {
  console.error('demo: the CLI is not built yet; run `npm install` (or `npm run build`) first')
  process.exit(1)
}
const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } })
const { Store } = await import('../dist/index.js')

const dir = mkdtempSync(join(tmpdir(), 'groupstore-serve-demo-'))
const db = join(dir, 'demo.db')
const store = await Store.open(db)
await store.set('config', 'theme', 'dark')
await store.set('config', 'db.url', 'postgres://db.internal:5432/app')
await store.set('config', 'feature.search', 'on')
await store.set('sessions', 'u-1042', '{"user":"ada","role":"admin"}', { ttl: 30 * 60_000 })
await store.set('sessions', 'u-2210', '{"user":"linus","role":"dev"}', { ttl: 5 * 60_000 })
await store.set('rate:api', 'ip:10.0.0.7', '17', { ttl: 60_000 })
await store.close()

const child = spawn(process.execPath, [cli, 'serve', '--db', db, '--port', values.port], { stdio: ['ignore', 'pipe', 'inherit'] })
child.stdout.setEncoding('utf8')
child.stdout.on('data', (text) => {
  const address = /listening on (\S+)/.exec(text)?.[1]
  if (address === undefined) return process.stdout.write(text)
  console.log(`groupstore serve is running on a sample database (${db}).`)
  console.log(`Open the console: ${address}/`)
  console.log(`Try the API:      curl -s ${address}/v1/groups/config/keys`)
  console.log(`Watch changes:    curl -sN ${address}/v1/watch`)
  console.log('Ctrl-C stops it.')
})
// Ctrl-C reaches the server too; it stops by itself. A SIGTERM is sent to this
// process alone: pass it on, so that the server stops and the folder is removed.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => child.kill('SIGTERM'))
const code = await new Promise((resolve) => child.on('close', resolve))
rmSync(dir, { recursive: true, force: true })
process.exit(code ?? 0)
