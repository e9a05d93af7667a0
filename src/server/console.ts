/**
 * The web console: plain HTML, CSS and ES modules from the package's
 * `console/` folder, read once at start and served with headers that allow
 * scripts and styles from this origin only.
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs'
import { extname } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Authenticator } from './auth.js'
import { methodNotAllowed } from './method-not-allowed.js'
import { Problem } from './problem.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/** The headers of every console response. */
export const CONSOLE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

/** The folder of the console's files in the package. */
const FOLDER = new URL('../../console/', import.meta.url)

interface Asset {
  type: string
  body: Buffer
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const name of readdirSync(FOLDER)) {
    const type = TYPES[extname(name)]
    if (type !== undefined) assets.set(name, { type, body: readFileSync(new URL(name, FOLDER)) })
  }
  return assets
}

/**
 * Registers `/` and `/console/<file>`: public, like `/healthz`; the console
 * asks for a token itself. Anything else on these paths (a file that is not
 * there, another method) needs a token first, as every other route does.
 */
export function registerConsole(app: FastifyInstance, auth: Authenticator): void {
  const assets = loadAssets()
  const send = (reply: FastifyReply, asset: Asset): FastifyReply => reply.headers(CONSOLE_HEADERS).type(asset.type).send(asset.body)
  const index = assets.get('index.html')
  if (index === undefined) throw new Error('groupstore serve: the console files are missing from the package (console/index.html)')
  app.get('/', { config: { need: 'public' } }, async (_request, reply) => send(reply, index))
  methodNotAllowed(app, '/', ['GET', 'HEAD'])
  app.get<{ Params: { file: string } }>('/console/:file', { config: { need: 'public' } }, async (request, reply) => {
    const asset = assets.get(request.params.file)
    if (asset === undefined) {
      auth.authenticate(request, 'read', false)
      throw new Problem('ERR_NOT_FOUND', 'no such console file')
    }
    return send(reply, asset)
  })
  methodNotAllowed(app, '/console/:file', ['GET', 'HEAD'])
}
