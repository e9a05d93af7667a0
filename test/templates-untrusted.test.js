// Untrusted templates: no environment, no files, no prototypes or
// constructors, and limits that stop templates written to burn CPU or memory.
import assert from 'node:assert/strict'
import { before, after, describe, it } from 'node:test'
import { Store, TemplateError } from 'groupstore'

/** @type {import('groupstore').Store} */
let store
before(async () => {
  store = await Store.open(':memory:', { purgeInterval: 0 })
  await store.set('g', 'x', 'hello')
  await store.set('g', '__proto__', 'own proto value')
  await store.set('g', 'n', '3')
  await store.set('g', 'big', 'b'.repeat(1_000_000))
})
after(() => store.close())

/** Renders against group 'g'. */
const render = (template, options) => store.render(template, 'g', options)

/** Asserts that `template` rejects with a TemplateError whose message matches `pattern`. */
async function refused(template, pattern) {
  await assert.rejects(render(template), (err) => {
    assert.ok(err instanceof TemplateError, `expected TemplateError, got ${err?.name}: ${err?.message}`)
    assert.equal(err.code, 'ERR_TEMPLATE')
    assert.match(err.message, /^store\.render: /)
    assert.match(err.message, pattern)
    return true
  })
}

describe('untrusted templates: no way out', () => {
  it('still renders ordinary templates', async () => {
    assert.equal(await render('{{ x }} {% for i in (1..3) %}{{ i }}{% endfor %} {{ x | upcase }}'), 'hello 123 HELLO')
    assert.equal(await render('{% capture c %}[{{ x }}]{% endcapture %}{{ c }}{{ c }}'), '[hello][hello]')
  })

  it('cannot reach constructors or prototypes', async () => {
    const probes = [
      '{{ x.constructor }}',
      '{{ x.constructor.name }}',
      '{{ x["constructor"] }}',
      '{{ x.constructor.constructor }}',
      "{{ x.constructor.constructor('return process')() }}",
      '{{ constructor }}',
      '{{ constructor.constructor }}',
      '{{ x.__proto__ }}',
      '{{ x.__proto__.constructor }}',
      '{{ toString }}',
      '{{ hasOwnProperty }}',
      '{{ valueOf }}',
      '{% assign a = (1..3) %}{{ a.constructor }}{{ a.__proto__ }}{{ a.push }}',
      '{% for c in x.constructor %}{{ c }}{% endfor %}',
    ]
    for (const t of probes) {
      let out
      try {
        out = await render(t)
      } catch (err) {
        assert.ok(err instanceof TemplateError, `${t}: ${err}`)
        continue
      }
      assert.equal(out, '', `${t} rendered ${JSON.stringify(out)}`)
    }
    // A stored key named __proto__ is an ordinary variable, not the prototype.
    assert.equal(await render('{{ __proto__ }}'), 'own proto value')
  })

  it('cannot read the environment or globals', async () => {
    process.env.GROUPSTORE_TEMPLATE_SECRET = 'secret-value'
    try {
      const t =
        '{{ process.env.GROUPSTORE_TEMPLATE_SECRET }}{{ env.GROUPSTORE_TEMPLATE_SECRET }}{{ global.process }}' +
        '{{ globalThis }}{{ require }}{{ import }}{{ module }}{{ this }}{{ self }}'
      const out = await render(t)
      assert.equal(out, '')
      assert.doesNotMatch(await render('{{ "secret" }}{{ process }}'), /secret-value/)
    } finally {
      delete process.env.GROUPSTORE_TEMPLATE_SECRET
    }
  })

  it('cannot read files: include, render and layout are refused at parse time', async () => {
    for (const tag of ['include', 'render', 'layout']) {
      await refused(`{% ${tag} '/etc/passwd' %}`, new RegExp(`the ${tag} tag is not available`))
      await refused(`{% ${tag} 'package.json' %}`, new RegExp(`the ${tag} tag is not available`))
      await refused(`{% if false %}{% ${tag} x %}{% endif %}`, new RegExp(`the ${tag} tag is not available`))
      await refused(`{% liquid\n${tag} 'package.json'\n%}`, new RegExp(`the ${tag} tag is not available`))
    }
    await refused('{% layout "x" %}{% block a %}{% endblock %}', /layout tag is not available/)
  })

  it('cannot call unknown filters', async () => {
    await refused('{{ x | eval }}', /undefined filter/)
    await refused('{{ x | constructor }}', /undefined filter/)
  })
})

describe('untrusted templates: limits', () => {
  it('stops a template too large to parse', async () => {
    await refused('a'.repeat(1_000_001), /parse length limit exceeded/)
  })

  it('stops a huge range before allocating it', async () => {
    await refused('{% for i in (1..100000000) %}{% endfor %}', /memory alloc limit exceeded/)
    await refused('{% assign a = (1..100000000) %}{{ a | size }}', /memory alloc limit exceeded/)
  })

  it('stops loops that would run for ever (render time limit)', async () => {
    // 9,000,000 iterations (several seconds) within the memory limit: the time limit stops it.
    await refused('{% for i in (1..3000) %}{% for j in (1..3000) %}{% endfor %}{% endfor %}', /template render limit exceeded/)
    // 10,000,000,000 iterations: whichever limit comes first.
    await refused('{% for i in (1..100000) %}{% for j in (1..100000) %}{% endfor %}{% endfor %}', /(template render|memory alloc) limit exceeded/)
  })

  it('stops exponential string growth (memory limit)', async () => {
    await refused('{% assign s = "xx" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}', /memory alloc limit exceeded/)
    await refused(
      '{% assign a = "ab" | split: "" %}{% for i in (1..64) %}{% assign a = a | concat: a %}{% endfor %}{{ a | size }}',
      /memory alloc limit exceeded/,
    )
  })

  it('stops huge output, including output captured into a variable', async () => {
    // Few iterations of much text each: the output limit (10,000,000 characters) is hit within milliseconds.
    await refused(`{% for i in (1..100) %}${'z'.repeat(900_000)}{% endfor %}`, /output limit exceeded/)
    await refused(`{% capture c %}{% for i in (1..100) %}${'z'.repeat(900_000)}{% endfor %}{% endcapture %}`, /output limit exceeded/)
    // Output of stored values only: no filter charges the memory limit.
    await refused('{% for i in (1..100) %}{{ big }}{% endfor %}', /output limit exceeded/)
  })

  it('stops templates nested deeper than the stack allows', async () => {
    await refused('{% if true %}'.repeat(20_000) + '{% endif %}'.repeat(20_000), /call stack/)
    await refused(`{{ ${'('.repeat(100_000)}1${')'.repeat(100_000)} }}`, /./)
  })

  it('keeps serving after a template hit a limit', async () => {
    await refused('{% for i in (1..100000000) %}{% endfor %}', /limit exceeded/)
    assert.equal(await render('{{ x }}'), 'hello')
    assert.equal(await store.get('g', 'x'), 'hello')
  })
})
