// `npm run demo`: a short session with the groupstore command on the default
// embedded file (./groupstore.db in a temporary folder, removed at the end).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
if (!existsSync(cli)) {
  console.error('demo: the CLI is not built yet; run `npm install` (or `npm run build`) first')
  process.exit(1)
}
const dir = mkdtempSync(join(tmpdir(), 'groupstore-demo-'))
const env = { ...process.env }
delete env.GROUPSTORE_DB
const colour = process.stdout.isTTY === true
const dim = (text) => (colour ? `\x1b[2m${text}\x1b[0m` : text)
const bold = (text) => (colour ? `\x1b[1m${text}\x1b[0m` : text)
const quote = (arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)

function start(args, stdin = 'ignore') {
  return spawn(process.execPath, [cli, ...args], { cwd: dir, env, stdio: [stdin, 'pipe', 'pipe'] })
}

/**
 * Shows `$ groupstore …` (with `echo 'line' |` for a one-line stdin), runs it
 * in the demo folder and prints what it prints.
 */
async function groupstore(args, line) {
  const shown = `groupstore ${args.map(quote).join(' ')}`
  console.log(bold(line === undefined ? `$ ${shown}` : `$ echo ${quote(line)} | ${shown}`))
  const child = start(args, 'pipe')
  child.stdin.end(line === undefined ? '' : `${line}\n`)
  let last = '\n'
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk)
    last = String(chunk).at(-1)
  })
  child.stderr.pipe(process.stderr, { end: false })
  const code = await new Promise((resolve) => child.on('close', resolve))
  if (last !== '\n') process.stdout.write('\n') // a raw value has no newline of its own
  if (code !== 0) throw new Error(`${shown} exited with code ${code}`)
}

function comment(text) {
  console.log(dim(`\n# ${text}`))
}

/** The next line `child` prints on `stream`, or a failure after `ms`. */
function nextLine(stream, what, ms = 10_000) {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms / 1000} s`)), ms)
    const onData = (chunk) => {
      buffered += chunk
      const i = buffered.indexOf('\n')
      if (i === -1) return
      clearTimeout(timer)
      stream.off('data', onData)
      resolve(buffered.slice(0, i))
    }
    stream.setEncoding('utf8')
    stream.on('data', onData)
  })
}

async function demo() {
  comment(`a fresh folder: the store is ./groupstore.db, created by the first write`)
  await groupstore(['set', 'config', 'theme', 'dark'])
  await groupstore(['set', 'config', 'host', 'db.internal'])
  await groupstore(['set', 'config', 'port', '5432'])
  await groupstore(['get', 'config', 'theme'])

  comment('a key with a time to live')
  await groupstore(['set', 'session', 'abc123', 'user-42', '--ttl', '30m'])
  await groupstore(['ttl', 'session', 'abc123'])

  comment('list a group (streamed a page at a time), count every group')
  await groupstore(['list', 'config'])
  await groupstore(['count', '--all'])

  comment("render a Liquid template with a group's keys as variables")
  await groupstore(['render', 'config'], 'postgres://{{ host }}:{{ port }}/app?theme={{ theme }}')

  comment('watch in one process, set from another: the watcher prints the event')
  console.log(bold('$ groupstore watch config &'))
  const watcher = start(['watch', 'config'])
  const ready = nextLine(watcher.stderr, 'watcher start')
  const exited = new Promise((resolve) => watcher.on('close', (code, signal) => resolve({ code, signal })))
  try {
    await ready
    const event = nextLine(watcher.stdout, 'event from the watcher')
    await groupstore(['set', 'config', 'theme', 'light'])
    console.log(`${dim('[watch]')} ${await event}`)
  } finally {
    watcher.kill('SIGINT')
  }
  const { code } = await exited
  console.log(dim(`[watch] stopped by Ctrl-C (SIGINT), exit code ${code}`))
  if (code !== 0) throw new Error(`watch exited with code ${code}`)

  comment('export every live key as JSON Lines (import reads them back)')
  await groupstore(['export'])
}

try {
  await demo()
  console.log(dim(`\n# done; the demo folder is removed. Next: npm test, and docs/cli.md`))
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
