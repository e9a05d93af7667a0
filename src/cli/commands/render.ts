/**
 * `render <group> [template-file | -] [--strict]`.
 *
 * @module
 */
import { withSession } from '../context.js'
import { readTextSource, writeRaw } from '../io.js'
import type { DataOptions } from './keys.js'

/** Renders a Liquid template (a file, or stdin for `-` or none) with the group's keys as variables. */
export async function renderCommand(group: string, file: string | undefined, options: DataOptions & { strict?: boolean }): Promise<void> {
  const template = await readTextSource(file, 'the template')
  const text = await withSession(options.db, 'existing', options.scope, (s) =>
    s.target.render(template, group, { strict: options.strict === true }),
  )
  await writeRaw(text)
}
