// The web console, end to end in headless Chromium (playwright-core driving
// the system's browser): sign in, browse, create, edit with a conflict
// shown, delete, a TTL counting down, and another client's change arriving
// live; then all of it again through roles, labels and visible text only,
// as a stranger to the markup would. One browser and one server for the
// whole file.
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
    assert.match(await page.textContent('#sign-in-error'), /unknown or invalid token/)
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

  it('drops a row from the list once its TTL has run out, without waiting for the purge', async () => {
    await store.set('short', 'blink', 'soon gone', { ttl: 1500 })
    await store.set('short', 'stays', 'here')
    await page.getByRole('button', { name: 'short' }).click()
    await page.getByRole('row', { name: /blink/ }).waitFor()
    await page.getByText('2 keys', { exact: true }).waitFor()
    await page.getByRole('row', { name: /blink/ }).waitFor({ state: 'detached', timeout: 4000 })
    assert.equal(await page.getByRole('row', { name: /stays/ }).count(), 1)
    await page.getByText('1 key', { exact: true }).waitFor()
  })

  it('keeps what the user typed when the editor\'s fresh read of the key arrives after it', async () => {
    await page.getByRole('button', { name: 'sessions' }).click()
    let release
    const held = new Promise((resolve) => (release = resolve))
    await page.route(/\/keys\/u-1042$/, async (route) => {
      await held
      await route.continue()
    })
    const loaded = page.waitForResponse((r) => r.url().endsWith('/keys/u-1042'))
    await page.getByRole('button', { name: 'u-1042' }).click()
    await page.getByLabel('Value').fill('typed before the read came back')
    release()
    await loaded
    await page.unroute(/\/keys\/u-1042$/)
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)))
    assert.equal(await page.getByLabel('Value').inputValue(), 'typed before the read came back')
    await page.getByRole('button', { name: 'Close' }).click()
  })

  // The same features as a stranger finds them: only roles, labels and
  // visible text, each a plain name that matches one element of the page.
  it('goes through every feature by roles, labels and visible text only, as someone who never saw the markup', async () => {
    const tab = await (await browser.newContext({ viewport: { width: 1360, height: 820 } })).newPage()
    const tabErrors = []
    tab.on('pageerror', (err) => tabErrors.push(err.message))
    tab.on('console', (message) => {
      if (message.type() === 'error' && !/status of (401|412)/.test(message.text())) tabErrors.push(message.text())
    })
    tab.on('dialog', (dialog) => tabErrors.push(`unexpected dialog: ${dialog.message()}`))
    const shown = (locator) => locator.waitFor({ state: 'visible' })
    const gone = (locator) => locator.waitFor({ state: 'detached' })
    const until = async (what, fn) => {
      for (let i = 0; i < 100 && !(await fn()); i++) await new Promise((r) => setTimeout(r, 50))
      assert.ok(await fn(), what)
    }

    // Sign in: an unknown token is refused in an alert; Enter submits a known one.
    await tab.goto(server.base)
    await tab.getByLabel('Token').fill('not-a-token')
    await tab.getByRole('button', { name: 'Sign in' }).click()
    await shown(tab.getByRole('alert'))
    assert.match(await tab.getByRole('alert').textContent(), /unknown or invalid token/)
    await tab.getByLabel('Token').fill(TOKEN)
    await tab.getByLabel('Token').press('Enter')
    await shown(tab.getByRole('button', { name: 'Sign out' }))

    // Groups by prefix.
    await shown(tab.getByRole('button', { name: 'config' }))
    await tab.getByLabel('prefix').fill('se')
    await gone(tab.getByRole('button', { name: 'config' }))
    await shown(tab.getByRole('button', { name: 'sessions' }))
    await tab.getByPlaceholder('prefix').fill('')
    await shown(tab.getByRole('button', { name: 'config' }))

    // Keys page by page.
    await tab.getByRole('button', { name: 'zz-many' }).click()
    await shown(tab.getByRole('cell', { name: 'item-49' }))
    assert.equal(await tab.getByRole('cell', { name: 'item-50' }).count(), 0, 'one page shown')
    await tab.getByRole('button', { name: 'Load more' }).click()
    await shown(tab.getByRole('cell', { name: 'item-59' }))
    await tab.getByRole('button', { name: 'Load more' }).waitFor({ state: 'hidden' })

    // Create a key with a TTL, in a group that does not exist yet.
    await tab.getByRole('button', { name: 'New key' }).click()
    await tab.getByLabel('Group').fill('a11y')
    await tab.getByLabel('Key').fill('greeting')
    await tab.getByLabel('Value').fill('hello')
    await tab.getByLabel('TTL').fill('90')
    await tab.getByRole('button', { name: 'Save' }).click()
    await shown(tab.getByText(/Saved as revision \d+/))
    await shown(tab.getByRole('heading', { name: 'Keys in a11y' }))
    assert.equal(await store.get('a11y', 'greeting'), 'hello')
    const ttl = tab.getByRole('row', { name: /greeting/ }).getByRole('cell').nth(3)
    await until('the TTL shows as minutes and seconds', async () => /^1m \d\ds$/.test(await ttl.textContent()))
    const seconds = async () => {
      const [, m, s] = /^(\d+)m (\d+)s$/.exec(await ttl.textContent())
      return Number(m) * 60 + Number(s)
    }
    const first = await seconds()
    await until('the TTL counts down', async () => (await seconds()) < first)
    await shown(tab.getByText(/expires in 1m/))

    // Edit: another client's change meanwhile is shown as a conflict, and nothing is overwritten.
    const loaded = tab.waitForResponse((r) => r.request().method() === 'GET' && r.url().endsWith('/keys/greeting'))
    await tab.getByRole('button', { name: 'greeting' }).click()
    await loaded
    assert.equal(await tab.getByLabel('Value').inputValue(), 'hello')
    assert.equal((await request(server, 'PUT', keyPath('a11y', 'greeting'), { token: TOKEN, body: 'hola' })).status, 200)
    await tab.getByLabel('Value').fill('hi')
    await tab.getByRole('button', { name: 'Save' }).click()
    await shown(tab.getByText('Conflict'))
    assert.match(await tab.getByRole('alert').textContent(), /Conflict.*someone else changed it.*hola/)
    assert.equal(await store.get('a11y', 'greeting'), 'hola', 'nothing overwritten')
    await tab.getByRole('button', { name: 'Overwrite with mine' }).click()
    await shown(tab.getByRole('cell', { name: 'hi', exact: true }))
    assert.equal(await store.get('a11y', 'greeting'), 'hi')

    // Delete, with no dialog to answer.
    await tab.getByRole('button', { name: 'Delete' }).click()
    await gone(tab.getByRole('row', { name: /greeting/ }))
    assert.equal(await store.get('a11y', 'greeting'), undefined)

    // Another client's write arrives in the live panel and in the list; the keyboard opens it.
    await store.set('a11y', 'pushed', 'from elsewhere')
    await shown(tab.getByRole('complementary', { name: 'Live events' }).getByText('a11y / pushed = from elsewhere'))
    await tab.getByRole('button', { name: 'pushed' }).press('Enter')
    await until('the editor shows the pushed value', async () => (await tab.getByLabel('Value').inputValue()) === 'from elsewhere')

    // Sign out: the token is asked for again.
    await tab.getByRole('button', { name: 'Sign out' }).click()
    await shown(tab.getByLabel('Token'))
    assert.deepEqual(tabErrors, [])
    await tab.context().close()
  })
})
