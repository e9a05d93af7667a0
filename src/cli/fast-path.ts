/**
 * The call the command line answers without loading commander: `get` in its
 * plain forms, the commonest call and the one scripts make in loops.
 *
 * Only exact shapes are taken: `[--db PATH] get GROUP KEY`, followed by any
 * of `--json`, `--scope NAMESPACE` and `--db PATH`, each at most once, with
 * values and names that do not start with `-`. Anything else (help, `--`,
 * `--db=PATH`, a repeated or unknown option, a bad namespace, a missing or
 * extra argument) goes to the full program, so that what a call prints and
 * how it exits never depends on which path answered it.
 *
 * @module
 */
import { badNamespace } from './arguments.js'
import type { JsonOptions } from './commands/keys.js'

/** A `get` call recognised by {@link fastGet}. */
export interface FastGet {
  group: string
  key: string
  options: JsonOptions
}

/** `args` (the arguments after the script) as a plain `get` call, or undefined. */
export function fastGet(args: readonly string[]): FastGet | undefined {
  const options: JsonOptions = {}
  const positionals: string[] = []
  const plain = (value: string | undefined): value is string => value !== undefined && value !== '' && !value.startsWith('-')
  let i = 0
  if (args[0] === '--db') {
    if (!plain(args[1])) return undefined
    options.db = args[1]
    i = 2
  }
  if (args[i] !== 'get') return undefined
  for (i++; i < args.length; i++) {
    const arg = args[i] as string
    if (!arg.startsWith('-')) positionals.push(arg)
    else if (arg === '--json' && options.json === undefined) options.json = true
    else if ((arg === '--db' || arg === '--scope') && options[arg.slice(2) as 'db' | 'scope'] === undefined && plain(args[i + 1])) {
      options[arg.slice(2) as 'db' | 'scope'] = args[++i]
    } else return undefined
  }
  if (positionals.length !== 2) return undefined
  if (options.scope !== undefined && badNamespace(options.scope) !== undefined) return undefined
  const [group, key] = positionals as [string, string]
  return { group, key, options }
}
