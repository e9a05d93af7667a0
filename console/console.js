// The console: sign in, groups, keys with their TTLs counting down, and the
// live event panel that keeps the visible lists current.
import { Api, ApiError, paths } from './api.js'
import { Editor } from './editor.js'
import { $, clear, el, preview, remaining } from './dom.js'
import { LivePanel } from './live.js'

const TOKEN_KEY = 'groupstore.token'
const PAGE = 50

const state = {
  api: undefined,
  group: undefined,
  groups: [],
  /** The loaded rows of the current group: key → { value, revision, expiresAt }. */
  rows: new Map(),
  /** The `next` of the last page loaded; undefined when the whole group is loaded. */
  next: undefined,
}

let editor
let live

function setStatus(text) {
  $('status').textContent = text
}

// ---- signing in ----------------------------------------------------------

async function start() {
  const saved = sessionStorage.getItem(TOKEN_KEY)
  if (saved !== null && (await tryToken(saved))) return
  // A server without tokens lets every request in: no sign-in needed.
  if (await tryToken('')) return
  showSignIn()
}

async function tryToken(token) {
  const api = new Api(token)
  try {
    await api.request('GET', paths.groups(''))
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return false
    showSignIn(err.message)
    return false
  }
  if (token === '') sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, token)
  enter(api, token === '' ? 'open access: this server runs without tokens' : 'signed in')
  return true
}

function showSignIn(message) {
  $('app').hidden = true
  $('sign-out').hidden = true
  $('sign-in').hidden = false
  const error = $('sign-in-error')
  error.hidden = message === undefined
  error.textContent = message ?? ''
  $('token').focus()
}

function enter(api, status) {
  state.api = api
  $('sign-in').hidden = true
  $('app').hidden = false
  $('sign-out').hidden = api.token === ''
  setStatus(`${location.host} · ${status}`)
  editor = new Editor(api, { onSaved, onDeleted: removeRow })
  live = new LivePanel(api, onEvent)
  live.start()
  void loadGroups()
}

$('sign-in-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const token = $('token').value.trim()
  if (!(await tryToken(token))) showSignIn('Sign-in failed: unknown or invalid token (401 Unauthorized).')
})

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  location.reload()
})

// ---- groups --------------------------------------------------------------

async function loadGroups() {
  const prefix = $('group-prefix').value
  try {
    const { body } = await state.api.request('GET', paths.groups(prefix))
    if (prefix !== $('group-prefix').value) return
    state.groups = body.groups
    renderGroups()
  } catch (err) {
    setStatus(err.message)
  }
}

function renderGroups() {
  const list = $('group-list')
  clear(list)
  for (const group of state.groups) {
    const button = el('button', { type: 'button', text: group === '' ? '(empty name)' : group })
    button.setAttribute('aria-current', String(group === state.group))
    button.dataset.group = group
    button.addEventListener('click', () => openGroup(group))
    list.append(el('li', {}, button))
  }
  $('group-empty').hidden = state.groups.length > 0
}

$('group-prefix').addEventListener('input', () => void loadGroups())

// ---- keys ----------------------------------------------------------------

/** Shows `group`'s keys; the editor closes unless `keepEditor` (it shows a key just saved there). */
async function openGroup(group, { keepEditor = false } = {}) {
  state.group = group
  state.rows = new Map()
  state.next = undefined
  if (!keepEditor) editor.close()
  $('keys-title').textContent = `Keys in ${group === '' ? '(empty name)' : group}`
  $('key-prefix').disabled = false
  renderGroups()
  await loadPage(undefined)
  void loadCount()
}

async function loadCount() {
  const group = state.group
  const { body } = await state.api.request('GET', paths.group(group))
  if (group === state.group) $('key-count').textContent = `${body.count} ${body.count === 1 ? 'key' : 'keys'}`
}

async function loadPage(after) {
  const group = state.group
  const prefix = $('key-prefix').value
  try {
    const { body } = await state.api.request('GET', paths.keys(group, { prefix, after, limit: PAGE }))
    if (group !== state.group || prefix !== $('key-prefix').value) return
    if (after === undefined) state.rows = new Map()
    for (const e of body.entries) state.rows.set(e.key, { value: e.value, revision: e.revision, expiresAt: e.expiresAt })
    state.next = body.next
    renderRows()
  } catch (err) {
    setStatus(err.message)
  }
}

function renderRows(flashKey) {
  const tbody = $('key-rows')
  clear(tbody)
  const keys = [...state.rows.keys()].sort(compareKeys)
  for (const key of keys) {
    const row = state.rows.get(key)
    // The key's name is a button, so the row opens from the keyboard too.
    const tr = el(
      'tr',
      {},
      el('td', { title: key }, el('button', { type: 'button', class: 'key', text: key === '' ? '(empty name)' : key })),
      el('td', { text: preview(row.value) }),
      el('td', { text: String(row.revision) }),
      el('td', { class: 'ttl' }),
    )
    tr.dataset.key = key
    tr.setAttribute('aria-current', String(editor.isOpen(state.group, key)))
    if (key === flashKey) tr.classList.add('flash')
    tr.addEventListener('click', () => editor.open(state.group, key, row))
    tbody.append(tr)
  }
  $('keys-empty').hidden = keys.length > 0
  $('keys-empty').textContent = state.group === undefined ? 'Choose a group.' : 'No keys.'
  $('more').hidden = state.next === undefined
  tick()
}

/** The server's order: by UTF-16 code units, as the store sorts. */
function compareKeys(a, b) {
  return a < b ? -1 : a > b ? 1 : 0
}

$('key-prefix').addEventListener('input', () => void loadPage(undefined))
$('more').addEventListener('click', () => void loadPage(state.next))
$('new-key').addEventListener('click', () => editor.create(state.group))

/** After a save: a key created in another group than the one shown opens that group. */
async function onSaved(group, key) {
  if (group === state.group) return refreshRow(group, key)
  if (!state.groups.includes(group) && group.startsWith($('group-prefix').value)) {
    state.groups = [...state.groups, group].sort(compareKeys)
  }
  await openGroup(group, { keepEditor: true })
}

/** Re-reads one key and shows it, if it belongs in the visible list. */
async function refreshRow(group, key) {
  if (group !== state.group || !key.startsWith($('key-prefix').value)) return
  // Beyond the last loaded page, it will come with a later page.
  if (state.next !== undefined && !state.rows.has(key) && compareKeys(key, state.next) > 0) return
  try {
    const { body } = await state.api.request('GET', paths.key(group, key))
    if (group !== state.group) return
    state.rows.set(key, { value: body.value, revision: body.revision, expiresAt: body.expiresAt })
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err
    state.rows.delete(key)
  }
  renderRows(key)
  void loadCount()
}

function removeRow(group, key) {
  if (group !== state.group || !state.rows.delete(key)) return
  renderRows()
  void loadCount()
}

// ---- live events ---------------------------------------------------------

function onEvent(event) {
  const { type, group, key } = event
  if (type === 'set') {
    if (!state.groups.includes(group) && group.startsWith($('group-prefix').value)) {
      state.groups = [...state.groups, group].sort(compareKeys)
      renderGroups()
    }
    void refreshRow(group, key)
  } else if (type === 'delete' || type === 'expire') {
    removeRow(group, key)
    if (state.groups.includes(group)) void dropGroupIfEmpty(group)
  } else if (type === 'delete_group') {
    state.groups = state.groups.filter((g) => g !== group)
    renderGroups()
    if (group === state.group) {
      state.rows = new Map()
      renderRows()
      void loadCount()
    }
  }
  editor.onEvent(event)
}

async function dropGroupIfEmpty(group) {
  const { body } = await state.api.request('GET', paths.group(group))
  if (body.count === 0) {
    state.groups = state.groups.filter((g) => g !== group)
    renderGroups()
  }
}

// ---- TTLs counting down --------------------------------------------------

/** How long an expired row stays in the list, marked expired, before it goes. */
const EXPIRED_SHOWN = 1000

function tick() {
  const now = Date.now()
  // An expired key is gone for every read: its row goes too, without waiting for the purge's event.
  const gone = [...state.rows].filter(([, row]) => row.expiresAt !== null && row.expiresAt + EXPIRED_SHOWN <= now)
  if (gone.length > 0) {
    for (const [key] of gone) state.rows.delete(key)
    renderRows()
    void loadCount()
    void dropGroupIfEmpty(state.group)
    return
  }
  for (const tr of $('key-rows').children) {
    const row = state.rows.get(tr.dataset.key)
    const cell = tr.lastElementChild
    cell.classList.toggle('muted', row === undefined || row.expiresAt === null)
    if (row === undefined || row.expiresAt === null) {
      cell.textContent = '—'
      continue
    }
    const left = row.expiresAt - now
    cell.textContent = left > 0 ? remaining(left) : 'expired'
    cell.classList.toggle('soon', left < 10_000)
  }
  editor?.tick(now)
}
setInterval(tick, 250)

void start()
