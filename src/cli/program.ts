/**
 * The `groupstore` command: its commands, options and help.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { badNamespace, DATABASE_ENV, DEFAULT_DATABASE } from './arguments.js'
import { parseDuration } from './duration.js'
import type { ServeOptions } from './commands/serve.js'

// Each command's module (and with it the store) is loaded only when the command runs,
// so that --help, --version and usage errors answer at once.
const keys = () => import('./commands/keys.js')
const groups = () => import('./commands/groups.js')

/** The package's version, read from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('must be a whole number greater than 0')
  }
  return Number(value)
}

function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65_535) throw new InvalidArgumentError('must be a port number from 0 to 65535')
  return Number(value)
}

function revision(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('must be a revision: a whole number, 0 or more')
  }
  return Number(value)
}

function positiveRevision(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('must be a revision: a whole number greater than 0')
  }
  return Number(value)
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('must be a whole number (a safe integer, may be negative)')
  }
  return Number(value)
}

const json = (): Option => new Option('--json', 'print JSON for scripts')

/** `--if-revision N`, the condition of a set or delete. */
const ifRevision = (what: string): Option =>
  new Option('--if-revision <revision>', `${what} only if the key is live at this revision (else exit 1)`).argParser(positiveRevision)

/** `--scope NAMESPACE`, validated while parsing (a bad one is a usage error). */
function scopeOption(): Option {
  return new Option('--scope <namespace>', 'run in this tenant scope (groups stored as <namespace>:<group>)').argParser(
    (value: string) => {
      const complaint = badNamespace(value)
      if (complaint !== undefined) throw new InvalidArgumentError(complaint)
      return value
    },
  )
}

/** Options as commander hands them over, with the global ones merged in. */
function opts<T>(command: Command): T {
  return command.optsWithGlobals() as T
}

/**
 * Builds the program. `configure` lets the caller set output and exit
 * handling before the commands inherit it.
 */
export function buildProgram(configure: (program: Command) => void): Command {
  const program = new Command('groupstore')
  configure(program)
  program
    .description('A key-value store from the shell: string values under (group, key), with TTL, scopes and change events.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for groupstore or a command')
    .addOption(
      new Option('--db <path>', `database file; else $${DATABASE_ENV}, else ./${DEFAULT_DATABASE} (created on first write)`),
    )
    .addHelpText(
      'after',
      `
Durations (--ttl) take a unit: 500ms, 90s, 10m, 1h, 2d, 1w.
Exit codes: 0 ok, 1 not found or a condition not met, 2 usage error or bad input, 3 store error.

Examples:
  $ groupstore set config theme dark --ttl 1h
  $ groupstore get config theme
  $ groupstore list config --json
  $ groupstore watch config`,
    )

  program
    .command('set')
    .description('store a value (read from stdin, byte for byte, when omitted)')
    .argument('<group>')
    .argument('<key>')
    .argument('[value]', 'the value; stdin when omitted')
    .option('--ttl <duration>', 'expire after this long (90s, 10m, 1h, 2d)', parseDuration)
    .addOption(ifRevision('write'))
    .addOption(new Option('--if-absent', 'write only if there is no live key (else exit 1)').conflicts('ifRevision'))
    .addOption(new Option('--json', 'print {"group","key","revision"} of the write'))
    .addOption(scopeOption())
    .addHelpText(
      'after',
      '\nExamples:\n  $ groupstore set config theme dark\n  $ groupstore set session abc user-1 --ttl 30m\n  $ groupstore set files logo < logo.svg\n' +
        '  $ groupstore set locks nightly "$HOSTNAME" --if-absent --ttl 5m --json   # a lock with a lease',
    )
    .action(async (group: string, key: string, value: string | undefined, _o, cmd: Command) => (await keys()).setCommand(group, key, value, opts(cmd)))

  program
    .command('get')
    .description('print a value as stored (exit 1 when absent)')
    .argument('<group>')
    .argument('<key>')
    .addOption(new Option('--json', 'print the entry {"group","key","value","revision","expiresAt"}'))
    .addOption(scopeOption())
    .action(async (group: string, key: string, _o, cmd: Command) => (await keys()).getCommand(group, key, opts(cmd)))

  program
    .command('delete')
    .description('delete a key (exit 1 when absent)')
    .argument('<group>')
    .argument('<key>')
    .addOption(ifRevision('delete'))
    .addOption(scopeOption())
    .action(async (group: string, key: string, _o, cmd: Command) => (await keys()).deleteCommand(group, key, opts(cmd)))

  program
    .command('incr')
    .description('add to a counter atomically and print its new value (a missing key counts as 0)')
    .argument('<group>')
    .argument('<key>')
    .argument('[by]', 'the amount, may be negative', integer, 1)
    .option('--ttl <duration>', 'when the key is created: expire after this long', parseDuration)
    .addOption(scopeOption())
    .addHelpText('after', '\nExamples:\n  $ groupstore incr stats visits\n  $ groupstore incr stats stock -3\n  $ groupstore incr ratelimit "user-1:$(date +%M)" --ttl 1m')
    .action(async (group: string, key: string, by: number, _o, cmd: Command) => (await keys()).incrCommand(group, key, by, opts(cmd)))

  program
    .command('delete-group')
    .description('delete every key of a group; prints how many')
    .argument('<group>')
    .addOption(json())
    .addOption(scopeOption())
    .action(async (group: string, _o, cmd: Command) => (await groups()).deleteGroupCommand(group, opts(cmd)))

  program
    .command('delete-prefix')
    .description("delete every group whose name starts with prefix ('' = all); prints how many keys")
    .argument('<prefix>')
    .addOption(json())
    .addOption(scopeOption())
    .action(async (prefix: string, _o, cmd: Command) => (await groups()).deletePrefixCommand(prefix, opts(cmd)))

  program
    .command('list')
    .description('print the keys and values of a group, a page at a time (key<TAB>value, or JSON Lines)')
    .argument('<group>')
    .option('--prefix <prefix>', 'only keys starting with prefix')
    .option('--limit <n>', 'at most n entries', positiveInteger)
    .addOption(new Option('--json', 'one {"key","value"} JSON object per line'))
    .addOption(scopeOption())
    .action(async (group: string, _o, cmd: Command) => (await groups()).listCommand(group, opts(cmd)))

  program
    .command('count')
    .description('count the live keys of a group, or with --all of every group')
    .argument('[group]')
    .option('--all', 'count every group (with --prefix, those starting with it)')
    .option('--prefix <prefix>', 'with --all: only groups starting with prefix')
    .addOption(json())
    .addOption(scopeOption())
    .action(async (group: string | undefined, _o, cmd: Command) => (await groups()).countCommand(group, opts(cmd)))

  program
    .command('groups')
    .description('list the groups holding live keys, ascending')
    .argument('[prefix]', 'only groups starting with prefix')
    .addOption(new Option('--json', 'print a JSON array'))
    .addOption(scopeOption())
    .action(async (prefix: string | undefined, _o, cmd: Command) => (await groups()).groupsCommand(prefix, opts(cmd)))

  program
    .command('ttl')
    .description('print the time a key has left (exit 1 when absent)')
    .argument('<group>')
    .argument('<key>')
    .addOption(new Option('--json', 'print {"ttl","expiresAt"} in ms (null: no expiry)'))
    .addOption(scopeOption())
    .action(async (group: string, key: string, _o, cmd: Command) => (await keys()).ttlCommand(group, key, opts(cmd)))

  program
    .command('render')
    .description("render a Liquid template with a group's keys as variables")
    .argument('<group>')
    .argument('[template-file]', 'the template; stdin when omitted or -')
    .option('--strict', 'a missing variable is an error')
    .addOption(scopeOption())
    .addHelpText('after', `\nExample:\n  $ echo 'postgres://{{ host }}:{{ port }}/app' | groupstore render db`)
    .action(async (group: string, file: string | undefined, _o, cmd: Command) => (await import('./commands/render.js')).renderCommand(group, file, opts(cmd)))

  program
    .command('watch')
    .description('print one JSON line per change until Ctrl-C (group and key default to *)')
    .argument('[group]', 'the group to watch, or * for all')
    .argument('[key]', 'the key to watch, or * for all')
    .option('--since <revision>', 'first replay the retained events after this revision', revision)
    .addOption(scopeOption())
    .addHelpText('after', '\nExample:\n  $ groupstore watch config\n  {"type":"set","group":"config","key":"theme","value":"dark","timestamp":"…","revision":7}\n  $ groupstore watch --since 7    # resume after revision 7')
    .action(async (group: string | undefined, key: string | undefined, _o, cmd: Command) => (await import('./commands/watch.js')).watchCommand(group, key, opts(cmd)))

  program
    .command('serve')
    .description('serve the store over HTTP: a JSON/text API under /v1, live events, and a web console at /')
    .argument('[location]', 'the database file or postgres:// URL, as --db gives it (one or the other)')
    .option('--host <host>', 'address to listen on; without --tokens only a loopback one', '127.0.0.1')
    .option('--port <port>', 'port to listen on; 0 picks a free one', port, 8080)
    .option('--tokens <file>', 'JSON file of access tokens (see docs/server.md); without it every request has full access')
    .option('--max-body <bytes>', 'largest request body in bytes', positiveInteger, 1024 * 1024)
    .addHelpText('after', '\nPrints "listening on http://HOST:PORT" when ready; Ctrl-C stops it.\n\nExamples:\n  $ groupstore serve --db app.db --port 8080\n  $ groupstore serve postgres://app@db/app --host 0.0.0.0 --tokens tokens.json')
    .action(async (location: string | undefined, _o, cmd: Command) => {
      const options = opts<ServeOptions>(cmd)
      if (location !== undefined) {
        if (options.db !== undefined) cmd.error("error: give the database once: as --db or as the location argument, not both")
        options.db = location
      }
      await (await import('./commands/serve.js')).serveCommand(options)
    })

  program
    .command('purge')
    .description('remove expired keys for good; prints how many')
    .addOption(json())
    .action(async (_o, cmd: Command) => (await groups()).purgeCommand(opts(cmd)))

  program
    .command('export')
    .description('write every live key as JSON Lines {"group","key","value","expiresAt"}')
    .option('--prefix <prefix>', 'only groups starting with prefix')
    .option('--output <file>', 'write to file instead of stdout')
    .addOption(scopeOption())
    .action(async (_o, cmd: Command) => (await import('./commands/export.js')).exportCommand(opts(cmd)))

  program
    .command('import')
    .description('import JSON Lines written by export, all or nothing')
    .argument('[file]', 'the input; stdin when omitted or -')
    .option('--no-progress', 'no progress bar, even on a terminal')
    .addOption(json())
    .addOption(scopeOption())
    .action(async (file: string | undefined, _o, cmd: Command) => (await import('./commands/import.js')).importCommand(file, opts(cmd)))

  for (const command of program.commands) {
    command.showHelpAfterError(`Usage: groupstore ${command.name()} ${command.usage()}\nRun 'groupstore ${command.name()} --help' for details.`)
  }
  program.showHelpAfterError(`Usage: groupstore [--db <path>] <command> [options]\nRun 'groupstore --help' for the commands.`)
  return program
}
