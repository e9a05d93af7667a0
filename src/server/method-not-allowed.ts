/**
 * 405 answers: a known path asked with a method it does not take.
 *
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Need } from './auth.js'
import { Problem } from './problem.js'

/** Every method Fastify routes that a path does not take answers 405 with `Allow`. */
export function methodNotAllowed(app: FastifyInstance, url: string, allowed: string[], need: Need = 'read'): void {
  const others = app.supportedMethods.filter((m) => !allowed.includes(m))
  app.route({
    method: others,
    url,
    config: { need },
    exposeHeadRoute: false,
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      reply.header('allow', allowed.join(', '))
      throw new Problem('ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed here; allowed: ${allowed.join(', ')}`)
    },
  })
}
