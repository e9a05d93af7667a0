#!/usr/bin/env node
/**
 * The `groupstore` executable. A plain `get` is answered without loading
 * commander (see fast-path.ts), and from the file without the Store when it
 * can be (see direct-get.ts); every other call goes through the program.
 *
 * @module
 */
import module from 'node:module'
import { describeError, EXIT, exitCodeOf } from './errors.js'
import { fastGet } from './fast-path.js'

// Node 22.1 and later keep the code they compile in a cache on disk, so the
// next call skips compiling the modules loaded from here on. Node 20 has no
// such cache; it answers without one.
;(module as { enableCompileCache?: () => unknown }).enableCompileCache?.()

function fail(code: number, message: string): void {
  process.stderr.write(`groupstore: ${message}\n`)
  process.exitCode = code
}

// The reader of stdout went away (`groupstore list big | head`): stop quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok)
  fail(EXIT.store, describeError(err))
  process.exit()
})

/** Parses `argv` with commander and runs the command it names. */
async function runProgram(argv: string[]): Promise<void> {
  const [{ CommanderError }, { buildProgram }] = await Promise.all([import('commander'), import('./program.js')])
  const program = buildProgram((p) => {
    p.exitOverride()
    p.configureOutput({
      outputError: (text, write) => write(`groupstore: ${text.replace(/^error: /, '')}`),
    })
  })
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    // --help and --version end with code 0; every parsing error is a usage error.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage
  }
}

try {
  const get = fastGet(process.argv.slice(2))
  if (get === undefined) await runProgram(process.argv)
  else await (await import('./direct-get.js')).directGet(get)
} catch (err) {
  fail(exitCodeOf(err), describeError(err))
}
