// The second step of `npm run build`, after tsc: bundles the two modules
// that start a plain `groupstore get`, dist/cli/main.js and
// dist/cli/direct-get.js, each with the modules it imports, into one file
// in place. Node 20's ES module loader pays for every file it resolves,
// reads and links, and this path would otherwise load sixteen of the
// package's files (see docs/performance.md, "Command-line start-up").
//
// Left out of the bundles, as files of their own:
// - the error modules (dist/errors.js, dist/cli/errors.js), whose classes
//   main.js tests with instanceof, whichever path threw them: there must be
//   one copy of each class;
// - whatever is imported with import(): the commander program, the
//   commands and the Store load only when a call needs them, as before;
// - packages (better-sqlite3, commander) and Node's built-in modules.
//
// Without this step (plain `tsc`, as in `tsc --watch`) the command works the
// same, only starts slower.
import { build } from 'esbuild'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const shared = new Set([resolve(dist, 'errors.js'), resolve(dist, 'cli/errors.js')])

for (const entry of ['cli/main.js', 'cli/direct-get.js']) {
  const file = resolve(dist, entry)
  /** An import of `path` from the bundle's own folder. */
  const fromBundle = (path) => {
    const rel = relative(dirname(file), path)
    return rel.startsWith('.') ? rel : `./${rel}`
  }
  await build({
    entryPoints: [file],
    outfile: file,
    allowOverwrite: true,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [
      {
        name: 'keep-separate',
        setup(b) {
          b.onResolve({ filter: /^\./ }, (args) => {
            const path = resolve(args.resolveDir, args.path)
            if (args.kind === 'dynamic-import' || shared.has(path)) return { path: fromBundle(path), external: true }
            return undefined
          })
        },
      },
    ],
  })
}
