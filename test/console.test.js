// The web console, end to end in headless Chromium (playwright-core driving
// the system's browser): sign in, browse, create, edit with a conflict
// shown, delete, a TTL counting down, and another client's change arriving
// live. One browser and one server for the whole file.
//
// GROUPSTORE_SCREENSHOTS=docs keeps screenshots of the main views there.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Store } from 'groupstore'
import { keyPath, request, serve } from './server/http.js'

const executablePath = process.env.GROUPSTORE_CHROMIUM ?? '/usr/bin/chromium'
const skip = !existsSync(executablePath)
  ? `no Chromium at ${executablePath} (install Debian's chromium package, or set GROUPSTORE_CHROMIUM): console tests skipped`
  : false
const shots = process.env.GROUPSTORE_SCREENSHOTS
const TOKEN = 'console-secret'

describe('the web console in Chromium', { skip }, () => {
  let store
  let server
  let browser
  let page
  const errors = []

  before(async () => {
    const { chromium } = await import('playwright-core')
    store = await Store.open()
    await store.set('config', 'theme', 'dark')
    await store.set('config', 'db.url', 'postgres://db.internal/app')
    await store.set('config', 'feature.search', 'on')
    await store.set('sessions', 'u-1042', '{"user":"ada","role":"admin"}', { ttl: 30 * 60_000 })
    await store.set('sessions', 'u-2210', '{"user":"linus","role":"dev"}', { ttl: 5 * 60_000 })
    await store.set('rate:api', 'ip:10.0.0.7', '17', { ttl: 45_000 })
    await store.setMany('zz-many', Array.from({ length: 60 }, (_, i) => [`item-${String(i).padStart(2, '0')}`, String(i)]))
    server = await serve(store, { tokens: [{ token: TOKEN, access: 'write' }] })
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    const context = await browser.newContext({ viewport: { width: 1360, height: 820 } })
    page = await context.newPage()
    page.on('pageerror', (err) => errors.push(err.message))
    page.on('console', (message) => {
      // The browser reports the 401 and 412 answers the tests provoke; only other errors count.
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|412)/.test(message.text())) {
        errors.push(message.text())
      }
    })
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    await store?.close()
  })

  const shoot = async (name) => {
    if (shots !== undefined) await page.screenshot({ path: join(shots, `console-${name}.png`) })
  }
  const row = (key) => page.locator(`#key-rows tr[data-key="${key}"]`)

  it('asks for a token, refuses an unknown one, signs in with a known one', async () => {
    await page.goto(server.base)
    await page.locator('#sign-in-form').waitFor()
    await shoot('sign-in')
    await page.fill('#token', 'not-a-token')
    await page.click('#sign-in-form button[type=submit]')
    await page.locator('#sign-in-error').waitFor()
    assert.match(await page.textContent('#sign-in-error'), /not known/)
    await page.fill('#token', TOKEN)
    await page.click('#sign-in-form button[type=submit]')
    await page.locator('#app').waitFor()
    assert.equal(await page.evaluate(() => sessionStorage.getItem('groupstore.token')), TOKEN)
  })

  it('browses groups by prefix and pages through keys', async () => {
    await page.locator('#group-list button[data-group="sessions"]').waitFor()
    await page.fill('#group-prefix', 'se')
    await page.waitForFunction(() => document.querySelectorAll('#group-list li').length === 1)
    await page.fill('#group-prefix', '')
    await page.waitForFunction(() => document.querySelectorAll('#group-list li').length === 4)
    await page.click('#group-list button[data-group="zz-many"]')
    await page.waitForFunction(() => document.querySelectorAll('#key-rows tr').length === 50)
    await page.click('#more')
    await page.waitForFunction(() => document.querySelectorAll('#key-rows tr').length === 60)
    assert.equal(await page.isHidden('#more'), true, 'no more pages')
    await page.click('#group-list button[data-group="config"]')
    await row('theme').waitFor()
    assert.deepEqual(await page.$$eval('#key-rows tr', (rows) => rows.map((r) => r.dataset.key)), ['db.url', 'feature.search', 'theme'])
    assert.equal(await row('theme').locator('td').nth(1).textContent(), 'dark')
    assert.match(await page.textContent('#key-count'), /3 keys/)
  })

  it('creates a key, with a TTL that counts down', async () => {
    await page.click('#new-key')
    await page.fill('#edit-key', 'banner')
    await page.fill('#edit-value', 'Maintenance at 22:00')
    await page.fill('#edit-ttl', '90')
    await page.click('#save')
    await row('banner').waitFor()
    assert.equal(await store.get('config', 'banner'), 'Maintenance at 22:00')
    const ttl = row('banner').locator('td').nth(3)
    const seconds = async () => Number((await ttl.textContent()).replace(/[^0-9]/g, ''))
    await page.waitForFunction(() => /^1m \d\ds$/.test(document.querySelector('#key-rows tr[data-key="banner"] td:nth-child(4)').textContent))
    const first = await seconds()
    await page.waitForFunction((before) => Number(document.querySelector('#key-rows tr[data-key="banner"] td:nth-child(4)').textContent.replace(/[^0-9]/g, '')) < before, first)
    assert.ok((await seconds()) < first, 'the TTL went down')
    await shoot('keys')
  })

  it('edits with If-Match: a change made meanwhile by another client is shown as a conflict, never overwritten', async () => {
    await row('theme').click()
    await page.waitForFunction(() => document.querySelector('#edit-value').value === 'dark')
    // Another client changes the key while the editor is open.
    const other = await request(server, 'PUT', keyPath('config', 'theme'), { token: TOKEN, body: 'solarized' })
    assert.equal(other.status, 200)
    await page.fill('#edit-value', 'light')
    await page.click('#save')
    await page.locator('#conflict').waitFor()
    assert.match(await page.textContent('#conflict-text'), /someone else changed it.*solarized/)
    assert.equal(await store.get('config', 'theme'), 'solarized', 'nothing overwritten')
    await shoot('conflict')
    await page.click('#conflict-overwrite')
    await page.waitForFunction(() => /Saved as revision/.test(document.querySelector('#edit-notice').textContent))
    assert.equal(await store.get('config', 'theme'), 'light')
    await page.waitForFunction(() => document.querySelector('#key-rows tr[data-key="theme"] td:nth-child(2)').textContent === 'light')
  })

  it('deletes a key', async () => {
    await row('feature.search').click()
    await page.waitForFunction(() => document.querySelector('#edit-value').value === 'on')
    await page.click('#delete')
    await row('feature.search').waitFor({ state: 'detached' })
    assert.equal(await store.get('config', 'feature.search'), undefined)
  })

  it("shows another client's change live, in the events panel and in the visible list", async () => {
    const writes = [
      request(server, 'PUT', `${keyPath('config', 'cache.ttl')}?ttl=600000`, { token: TOKEN, body: '300' }),
      store.set('audit', 'last-login', 'ada'),
    ]
    await Promise.all(writes)
    await row('cache.ttl').waitFor()
    await page.locator('#group-list button[data-group="audit"]').waitFor()
    await page.waitForFunction(() => [...document.querySelectorAll('#events .what')].some((e) => e.textContent === 'config / cache.ttl = 300'))
    await store.delete('config', 'db.url')
    await row('db.url').waitFor({ state: 'detached' })
    await row('banner').click()
    await page.waitForFunction(() => document.querySelector('#edit-value').value === 'Maintenance at 22:00')
    await shoot('live')
    assert.deepEqual(errors, [])
  })
})
