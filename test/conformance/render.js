// render: Liquid with the group's live pairs as variables, no HTML escaping,
// strict mode, syntax errors, no file access, bounded work.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { StoreError, TemplateError } from 'groupstore'
import { clock, openStore, within } from './helpers.js'

function templateError(method = 'store.render') {
  return (err) => {
    assert.ok(err instanceof TemplateError, `got ${err}`)
    assert.ok(err instanceof StoreError)
    assert.equal(err.name, 'TemplateError')
    assert.equal(err.code, 'ERR_TEMPLATE')
    assert.ok(err.message.startsWith(`${method}: `), err.message)
    return true
  }
}

/** @param {import('./index.js').Factory} factory */
export default function render(factory) {
  describe('render', () => {
    it('substitutes the group’s pairs as Liquid variables', async (t) => {
      const store = await openStore(t, factory)
      await store.set('db', 'host', 'localhost')
      await store.set('db', 'port', '5432')
      await store.set('other', 'host', 'elsewhere')
      assert.equal(await store.render('postgres://{{ host }}:{{ port }}/app', 'db'), 'postgres://localhost:5432/app')
      assert.equal(await store.render('plain text', 'db'), 'plain text')
      assert.equal(await store.render('', 'db'), '')
    })

    it('supports filters, conditions and loops', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'name', 'world')
      await store.set('g', 'list', 'a,b,c')
      assert.equal(await store.render('{{ name | upcase }}', 'g'), 'WORLD')
      assert.equal(await store.render('{% if name == "world" %}yes{% else %}no{% endif %}', 'g'), 'yes')
      assert.equal(await store.render('{% assign xs = list | split: "," %}{% for x in xs %}[{{ x }}]{% endfor %}', 'g'), '[a][b][c]')
      assert.equal(await store.render('{{ missing | default: "fallback" }}', 'g'), 'fallback')
    })

    it('does not escape HTML', async (t) => {
      const store = await openStore(t, factory)
      const html = `<b class="x">Tom & 'Jerry'</b><script>alert(1)</script>`
      await store.set('g', 'html', html)
      assert.equal(await store.render('{{ html }}', 'g'), html)
    })

    it('renders values with emoji, NUL bytes and newlines exactly', async (t) => {
      const store = await openStore(t, factory)
      const v = 'a\u0000b\n🚀 é'
      await store.set('g', 'v', v)
      assert.equal(await store.render('[{{ v }}]', 'g'), `[${v}]`)
    })

    it('a missing variable renders empty, or with strict: true rejects with TemplateError', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'a', '1')
      assert.equal(await store.render('[{{ missing }}]', 'g'), '[]')
      assert.equal(await store.render('[{{ missing }}]', 'g', { strict: false }), '[]')
      assert.equal(await store.render('{{ a }}', 'g', { strict: true }), '1')
      await assert.rejects(store.render('[{{ missing }}]', 'g', { strict: true }), templateError())
      await assert.rejects(store.render('{{ a }}{{ b }}', 'nope', { strict: true }), templateError())
    })

    for (const bad of ['{{ unclosed', '{% if x %}no end', '{% nosuchtag %}', '{{ x | nosuchfilter }}', '{% for %}{% endfor %}']) {
      it(`a template error (${bad}) rejects with TemplateError`, async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', 'x', '1')
        await assert.rejects(store.render(bad, 'g'), templateError())
      })
    }

    it('a TemplateError keeps the Liquid error as cause', async (t) => {
      const store = await openStore(t, factory)
      await assert.rejects(store.render('{{ unclosed', 'g'), (err) => err instanceof TemplateError && err.cause instanceof Error)
    })

    it('include and render tags cannot read files', async (t) => {
      const store = await openStore(t, factory)
      const dir = mkdtempSync(join(tmpdir(), 'groupstore-render-'))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      const secret = join(dir, 'secret.liquid')
      writeFileSync(secret, 'TOP-SECRET')
      const probe = `.groupstore-render-probe-${process.pid}-${Math.random().toString(36).slice(2)}`
      writeFileSync(join(process.cwd(), `${probe}.liquid`), 'TOP-SECRET')
      t.after(() => rmSync(join(process.cwd(), `${probe}.liquid`), { force: true }))
      for (const template of [
        `{% include '${secret}' %}`,
        `{% render '${secret}' %}`,
        `{% layout '${secret}' %}x`,
        `{% include '${probe}.liquid' %}`,
        `{% render '${probe}' %}`,
        `{% include '../../../../../../etc/passwd' %}`,
      ]) {
        let out
        try {
          out = await store.render(template, 'g')
        } catch (err) {
          assert.ok(err instanceof TemplateError, `${template}: ${err}`)
          assert.ok(!err.message.includes('TOP-SECRET'))
          continue
        }
        assert.ok(!out.includes('TOP-SECRET'), `${template} read a file`)
        assert.ok(!out.includes('root:'), `${template} read a file`)
      }
    })

    it('templates cannot reach prototypes or run code', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'x', 'abc')
      const out = await store.render(
        '[{{ x.constructor }}][{{ constructor }}][{{ x.__proto__ }}][{{ __proto__ }}][{{ x.constructor.constructor }}][{{ toString }}]',
        'g',
      )
      assert.equal(out, '[][][][][][]')
    })

    it('a runaway template is stopped by the memory or time limit with TemplateError', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'x', 'a')
      const loops = '{% for i in (1..100000000) %}{% for j in (1..100000000) %}{{ x }}{% endfor %}{% endfor %}'
      await assert.rejects(within(store.render(loops, 'g'), 'the render to be stopped', 10_000), templateError())
      const busy = '{% for i in (1..5000) %}{% for j in (1..5000) %}{% endfor %}{% endfor %}'
      await assert.rejects(within(store.render(busy, 'g'), 'the render to be stopped', 10_000), templateError())
      const growth = '{% assign s = x %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}'
      await assert.rejects(within(store.render(growth, 'g'), 'the render to be stopped', 10_000), templateError())
    })

    it('expired keys are invisible to templates', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      await store.set('g', 'a', 'A')
      await store.set('g', 'b', 'B', { ttl: 10 })
      now.advance(10)
      assert.equal(await store.render('{{ a }}[{{ b }}]', 'g'), 'A[]')
      await assert.rejects(store.render('{{ b }}', 'g', { strict: true }), TemplateError)
    })

    it('keys that are not identifiers are reachable with bracket syntax', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'my-key', 'dash')
      await store.set('g', 'with space', 'space')
      assert.equal(await store.render(`{{ ["my-key"] }}|{{ ["with space"] }}`, 'g'), 'dash|space')
    })

    it('a scoped render uses the scope’s group and names its method', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('ns')
      await s.set('g', 'a', 'scoped')
      await store.set('g', 'a', 'root')
      assert.equal(await s.render('{{ a }}', 'g'), 'scoped')
      await assert.rejects(s.render('{{ nope }}', 'g', { strict: true }), templateError('scope.render'))
    })

    it('a render in a scoped transaction reads the scope’s group with the transaction’s own writes', async (t) => {
      const store = await openStore(t, factory)
      const s = store.scope('ns')
      await s.set('g', 'a', 'committed')
      await store.set('g', 'a', 'root')
      await store.set('g', 'b', 'root')
      const out = await s.transaction(async (tx) => {
        await tx.set('g', 'b', 'uncommitted')
        const rendered = await tx.render('{{ a }}/{{ b }}', 'g')
        // A TemplateError is a rejection like any other: caught, the transaction goes on.
        await assert.rejects(tx.render('{{ c }}', 'g', { strict: true }), templateError('tx.render'))
        await assert.rejects(tx.render('{% if %}', 'g'), templateError('tx.render'))
        await tx.set('g', 'c', 'after the error')
        return rendered
      })
      assert.equal(out, 'committed/uncommitted')
      assert.equal(await s.render('{{ b }} {{ c }}', 'g'), 'uncommitted after the error')
    })

    it('strict: true rejects a missing variable wherever the template uses it', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'a', '1')
      for (const template of ['{% if missing %}x{% endif %}', '{{ missing | upcase }}', '{% for x in missing %}{% endfor %}', '{{ a.missing }}']) {
        assert.equal(await store.render(template, 'g'), '', template)
        await assert.rejects(store.render(template, 'g', { strict: true }), templateError(), template)
      }
    })

    it('many renders run concurrently', async (t) => {
      const store = await openStore(t, factory)
      await store.set('g', 'n', '7')
      const outs = await Promise.all(Array.from({ length: 50 }, (_, i) => store.render(`{{ n | plus: ${i} }}`, 'g')))
      assert.deepEqual(outs, Array.from({ length: 50 }, (_, i) => String(7 + i)))
    })
  })
}
