// The documentation the issues promise: the README links every guide, each
// guide covers what its issue asks of it, every link leads somewhere,
// docs/architecture.md says what each source file owns, and the README's
// command-line section is the one docs/cli.md opens with.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const read = (file) => readFileSync(join(ROOT, file), 'utf8')
const markdown = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

/** The anchors GitHub gives the headings of a Markdown text. */
function anchors(text) {
  const slugs = new Set()
  for (const [, heading] of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    slugs.add(heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'))
  }
  return slugs
}

/** The `## heading` section of `text`, up to the next one. */
function section(text, heading) {
  const start = text.indexOf(`\n## ${heading}\n`)
  assert.notEqual(start, -1, `no section "${heading}"`)
  const end = text.indexOf('\n## ', start + 1)
  return text.slice(start, end === -1 ? undefined : end)
}

/** Every file under `dir`, relative to the repository. */
function files(dir) {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(ROOT, join(d.parentPath ?? d.path, d.name)))
}

describe('docs', () => {
  it('the README links every guide, and shows a screenshot of the console kept in docs/', () => {
    const readme = read('README.md')
    for (const guide of ['api', 'architecture', 'change-feed', 'cli', 'performance', 'postgres', 'reliability', 'server']) {
      assert.ok(readme.includes(`](docs/${guide}.md`), `the README does not link docs/${guide}.md`)
    }
    const shots = [...readme.matchAll(/!\[[^\]]*\]\((docs\/[^)]+\.png)\)/g)].map((m) => m[1])
    assert.ok(shots.length > 0, 'no screenshot in the README')
    for (const shot of shots) assert.ok(existsSync(join(ROOT, shot)), `${shot} is missing`)
  })

  it('each guide covers what its issue asks of it', () => {
    const asked = {
      'README.md': [/^## Durability$/m, /^## go-store compatibility$/m, /^### TTL$/m, /^### Scopes and quotas$/m, /^### Events$/m, /^### Templates$/m, /^### Transactions$/m, /^### Paging$/m],
      'docs/change-feed.md': [/^## Retention$/m, /exactly-once/, /at-least-once/, /`groupstore watch/, /changeLog: false/],
      'docs/reliability.md': [/npm run torture/, /npm run faults/],
      'docs/postgres.md': [/^## When to move from SQLite$/m, /^## Managed and replicated servers$/m, /^## What each guarantee becomes$/m, /groupstore --db \S+ export \| groupstore --db '?postgres(ql)?:\/\/\S+ import/],
      'docs/server.md': [/systemd/, /^FROM /m, /"sha256"/, /^curl /m, /\*\*TLS\.\*\*/],
    }
    for (const [file, patterns] of Object.entries(asked)) {
      const text = read(file)
      for (const pattern of patterns) assert.match(text, pattern, `${file} lacks ${pattern}`)
    }
  })

  it('every relative link of the README and the guides leads to a file and heading that exist', () => {
    for (const file of markdown) {
      const text = read(file)
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue
        const [path, hash] = target.split('#')
        const linked = path === '' ? file : join(dirname(file), path)
        assert.ok(existsSync(join(ROOT, linked)), `${file} links ${target}, which does not exist`)
        if (hash !== undefined && linked.endsWith('.md')) {
          assert.ok(anchors(read(linked)).has(hash), `${file} links ${target}, a heading ${linked} does not have`)
        }
      }
    }
  })

  it('docs/architecture.md names every source file', () => {
    const architecture = read('docs/architecture.md')
    for (const file of files('src').filter((f) => f.endsWith('.ts'))) {
      const name = file.slice(file.lastIndexOf('/') + 1)
      assert.ok(architecture.includes(name), `docs/architecture.md does not say what ${file} owns`)
    }
  })

  it("the README's command-line section is the one docs/cli.md opens with", () => {
    const readme = section(read('README.md'), 'Command line')
    const cli = section(read('docs/cli.md'), 'Command line').replace(/<!--[\s\S]*?-->\n\n/, '')
    // The last sentence links the guide from the README, and its contents from the guide.
    assert.equal(cli, readme.replace('[docs/cli.md](docs/cli.md)', '[below](#contents)'))
  })
})
