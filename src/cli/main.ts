#!/usr/bin/env node
/**
 * The `groupstore` executable.
 *
 * @module
 */
import { CommanderError } from 'commander'
import { buildProgram } from './program.js'
import { describeError, EXIT, exitCodeOf } from './errors.js'

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

const program = buildProgram((p) => {
  p.exitOverride()
  p.configureOutput({
    outputError: (text, write) => write(`groupstore: ${text.replace(/^error: /, '')}`),
  })
})

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end with code 0; every parsing error is a usage error.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage
  } else {
    fail(exitCodeOf(err), describeError(err))
  }
}
