/**
 * Liquid rendering of a group's pairs, safe for untrusted templates: no HTML
 * escaping, no file system (an empty in-memory template map stands in for
 * it, so `include`, `render` and `layout` find nothing), own properties only
 * (no `constructor`, no `__proto__` lookups), no access to the environment,
 * and limits on template size, render time, memory and output.
 *
 * LiquidJS is loaded the first time a template is rendered, so that a
 * process that never renders (the command line's `get`) does not pay for it.
 *
 * @module
 */
import type { Context, Emitter, Liquid, TagToken, Template } from 'liquidjs'
import { TemplateError } from './errors.js'

type LiquidModule = typeof import('liquidjs')

let liquidjs: Promise<LiquidModule> | undefined

/** The LiquidJS module, imported once, on first use. */
function loadLiquid(): Promise<LiquidModule> {
  return (liquidjs ??= import('liquidjs'))
}

/** Limits applied to every render; documented in the README and docs/reliability.md. */
export const RENDER_LIMITS = {
  /** Characters of template parsed per render. */
  parseLimit: 1_000_000,
  /** Milliseconds a render may take. */
  renderLimit: 1_000,
  /**
   * Allocations LiquidJS accounts for: characters of strings that filters
   * build and items of arrays and ranges.
   */
  memoryLimit: 10_000_000,
  /**
   * Characters a render may write, counting what `capture` writes into its
   * variable as well as the final output.
   */
  outputLimit: 10_000_000,
} as const

/** The text LiquidJS would write for a value (its own `stringify`); `toValue` is LiquidJS's. */
function text(value: unknown, toValue: LiquidModule['toValue']): string {
  const v: unknown = toValue(value)
  if (typeof v === 'string') return v
  if (v === null || v === undefined) return ''
  if (Array.isArray(v)) return v.map((item) => text(item, toValue)).join('')
  return String(v)
}

/** Output written by each render, across the nested emitters of `capture` and loops. */
const written = new WeakMap<Context, { chars: number }>()

/** An emitter that stops the render once it has written more than the output limit. */
class BoundedEmitter implements Emitter {
  buffer = ''
  readonly #used: { chars: number }
  readonly #toValue: LiquidModule['toValue']

  constructor(ctx: Context, toValue: LiquidModule['toValue']) {
    this.#toValue = toValue
    let used = written.get(ctx)
    if (used === undefined) {
      used = { chars: 0 }
      written.set(ctx, used)
    }
    this.#used = used
  }

  write(html: unknown): void {
    const s = text(html, this.#toValue)
    this.#used.chars += s.length
    if (this.#used.chars > RENDER_LIMITS.outputLimit) {
      throw new RangeError(`output limit exceeded (${RENDER_LIMITS.outputLimit} characters)`)
    }
    this.buffer += s
  }
}

/** Tags that would read other templates from files: refused when the template is parsed. */
const FILE_TAGS = ['include', 'render', 'layout'] as const

/** A tag that fails when the template is parsed, before anything renders. */
function refusedTag(name: string): Parameters<Liquid['registerTag']>[1] {
  return {
    parse(token: TagToken): void {
      const [line] = token.getPosition()
      throw new Error(`line ${line}: the ${name} tag is not available: templates cannot read other templates or files`)
    },
    render(): void {},
  }
}

function engine(lib: LiquidModule, strict: boolean): Liquid {
  const liquid = new lib.Liquid({
    strictVariables: strict,
    strictFilters: true,
    ownPropertyOnly: true,
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    cache: false,
    parseLimit: RENDER_LIMITS.parseLimit,
    renderLimit: RENDER_LIMITS.renderLimit,
    memoryLimit: RENDER_LIMITS.memoryLimit,
  })
  for (const name of FILE_TAGS) liquid.registerTag(name, refusedTag(name))
  // Every render, and every `capture` inside one, gets an emitter that counts
  // what it writes: LiquidJS's own emitters have no output limit.
  const renderer = liquid.renderer
  const renderTemplates = renderer.renderTemplates.bind(renderer)
  renderer.renderTemplates = (templates: Template[], ctx: Context, emitter?: Emitter) =>
    renderTemplates(templates, ctx, emitter ?? new BoundedEmitter(ctx, lib.toValue))
  return liquid
}

/** Renders templates with a lenient and a strict engine, each made on first use. */
export class Renderer {
  #lenient: Liquid | undefined
  #strict: Liquid | undefined

  async render(method: string, template: string, vars: Record<string, string>, strict: boolean): Promise<string> {
    const lib = await loadLiquid()
    const liquid = strict ? (this.#strict ??= engine(lib, true)) : (this.#lenient ??= engine(lib, false))
    try {
      return await liquid.parseAndRender(template, vars)
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      throw new TemplateError(`${method}: ${detail}`, { cause: err })
    }
  }
}
