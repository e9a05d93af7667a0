/**
 * `serve`: the store over HTTP until SIGINT or SIGTERM. Loaded only for this
 * command, so that no other command loads the server or Fastify.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { shownLocation } from '../../backend/open.js'
import { Store } from '../../index.js'
import { buildServer, DEFAULT_MAX_BODY } from '../../server/app.js'
import { TokenTable, TokensFileError } from '../../server/tokens.js'
import { databaseLocation } from '../arguments.js'
import { usageError } from '../errors.js'

/** Options of `serve`. */
export interface ServeOptions {
  db?: string
  host: string
  port: number
  tokens?: string
  maxBody?: number
}

/** How long a stop waits for requests in flight before it closes their connections. */
const GRACE_MS = 3000

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./i.test(host)
}

function readTokens(file: string): TokenTable {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw usageError(`cannot read the tokens file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    return TokenTable.parse(text)
  } catch (err) {
    if (err instanceof TokensFileError) throw usageError(`${file}: ${err.message}`)
    throw err
  }
}

/**
 * Serves the store until the first SIGINT or SIGTERM; then stops accepting,
 * lets requests in flight finish (a few seconds at most), ends the event
 * streams, closes the store and returns (exit code 0). A second signal ends
 * the process at once (exit 130).
 */
export async function serveCommand(options: ServeOptions): Promise<void> {
  const tokens = options.tokens === undefined ? undefined : readTokens(options.tokens)
  if (tokens === undefined && !isLoopback(options.host)) {
    throw usageError(`without --tokens every request has full access, so serve listens only on a loopback address (127.0.0.1, ::1), not ${options.host}`)
  }
  const location = databaseLocation(options.db)
  const store = await Store.open(location)
  const app = buildServer(store, { tokens, maxBody: options.maxBody ?? DEFAULT_MAX_BODY })
  let stopping = false
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) process.exit(130)
      stopping = true
      process.stderr.write('groupstore serve: stopping\n')
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  try {
    await app.listen({ host: options.host, port: options.port })
    const address = app.server.address()
    const port = typeof address === 'object' && address !== null ? address.port : options.port
    const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host
    process.stdout.write(`listening on http://${host}:${port}\n`)
    // A postgres:// location may hold a password: logs never show it.
    const shown = shownLocation(location)
    process.stderr.write(`groupstore serve: ${shown}${tokens === undefined ? ', no tokens: full access from this machine' : `, ${tokens.grants.length} tokens`}\n`)
    await stopped
    const grace = setTimeout(() => app.server.closeAllConnections(), GRACE_MS)
    await app.close()
    clearTimeout(grace)
  } finally {
    await store.close()
  }
}
