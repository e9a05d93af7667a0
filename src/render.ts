/**
 * Liquid rendering of a group's pairs, safe for untrusted templates: no HTML
 * escaping, no file system (an empty in-memory template map stands in for
 * it, so `include` and `render` find nothing), own properties only, and
 * limits on template size, render time and memory.
 *
 * @module
 */
import { Liquid } from 'liquidjs'
import { TemplateError } from './errors.js'

/** Limits applied to every render; documented in the README. */
export const RENDER_LIMITS = {
  /** Characters of template parsed per render. */
  parseLimit: 1_000_000,
  /** Milliseconds a render may take. */
  renderLimit: 1_000,
  /** Allocations LiquidJS accounts for (roughly characters and array items). */
  memoryLimit: 64_000_000,
} as const

function engine(strict: boolean): Liquid {
  return new Liquid({
    strictVariables: strict,
    strictFilters: true,
    ownPropertyOnly: true,
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    cache: false,
    ...RENDER_LIMITS,
  })
}

/** Renders templates with a lenient and a strict engine made once. */
export class Renderer {
  #lenient: Liquid | undefined
  #strict: Liquid | undefined

  async render(method: string, template: string, vars: Record<string, string>, strict: boolean): Promise<string> {
    const liquid = strict ? (this.#strict ??= engine(true)) : (this.#lenient ??= engine(false))
    try {
      return await liquid.parseAndRender(template, vars)
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      throw new TemplateError(`${method}: ${detail}`, { cause: err })
    }
  }
}
