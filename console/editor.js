// The editor: view, create, edit and delete one key. Every write is
// conditional (If-Match with the revision the editor shows, or
// If-None-Match: * to create), so a change made meanwhile by someone else
// is shown as a conflict and never silently overwritten.
import { ApiError, paths } from './api.js'
import { $, preview, remaining } from './dom.js'

export class Editor {
  constructor(api, { onSaved, onDeleted }) {
    this.api = api
    this.onSaved = onSaved
    this.onDeleted = onDeleted
    this.group = undefined
    this.key = undefined
    /** The revision being edited; undefined while creating. */
    this.revision = undefined
    this.expiresAt = null
    /** While a conflict is shown: their revision (undefined: the key is gone). */
    this.theirs = undefined
    this.conflictKind = undefined
    /** True once the user typed into the form shown last. */
    this.edited = false
    $('editor-form').addEventListener('input', () => (this.edited = true))
    /** The group field is in the page only while a new key is being created (an existing key stays in its group). */
    this.groupField = $('edit-group-field')
    this.groupInput = $('edit-group')
    this.groupField.remove()
    this.groupField.hidden = false
    $('editor-form').addEventListener('submit', (e) => {
      e.preventDefault()
      void this.save(this.revision)
    })
    $('delete').addEventListener('click', () => void this.remove(this.revision))
    $('close-editor').addEventListener('click', () => this.close())
    $('conflict-reload').addEventListener('click', () => void this.reload())
    $('conflict-overwrite').addEventListener('click', () => void this.overwrite())
  }

  isOpen(group, key) {
    return !$('editor').hidden && this.group === group && this.key === key && this.revision !== undefined
  }

  /**
   * Shows an existing key as the list last saw it, then as the server has
   * it now, unless the user has started typing meanwhile: then the form
   * stays as it is, with the revision the list showed.
   */
  async open(group, key, row) {
    this.#show(group, key, row)
    await this.reload({ keepEdits: true })
  }

  /** An empty form for a new key; its group field starts with `group` (the one shown, if any). */
  create(group) {
    this.#show(group, undefined, undefined)
    this.groupInput.value = group ?? ''
    ;(group === undefined ? this.groupInput : $('edit-key')).focus()
  }

  close() {
    $('editor').hidden = true
    // A closed editor keeps no title that could be mistaken for the page's buttons (New key).
    $('editor-title').textContent = ''
    this.group = undefined
    this.key = undefined
    this.#markSelected()
  }

  #show(group, key, row) {
    this.group = group
    this.key = key
    this.revision = row?.revision
    this.expiresAt = row?.expiresAt ?? null
    $('editor').hidden = false
    $('editor-title').textContent = key === undefined ? 'New key' : 'Edit key'
    this.#groupField(key === undefined)
    $('edit-key').value = key ?? ''
    $('edit-key').readOnly = key !== undefined
    $('edit-value').value = row?.value ?? ''
    $('edit-ttl').value = row?.expiresAt ? String(Math.max(1, Math.ceil((row.expiresAt - Date.now()) / 1000))) : ''
    $('delete').hidden = key === undefined
    this.edited = false
    this.#hideMessages()
    this.#renderMeta()
    this.#markSelected()
  }

  #groupField(shown) {
    if (!shown) this.groupField.remove()
    else if (!this.groupField.isConnected) $('edit-key').labels[0].before(this.groupField)
  }

  #markSelected() {
    for (const tr of $('key-rows').children) tr.setAttribute('aria-current', String(this.isOpen(this.group, tr.dataset.key)))
  }

  /** Hides and empties the messages, so that no stale text stays in the page. */
  #hideMessages() {
    $('conflict').hidden = true
    $('conflict-text').textContent = ''
    for (const id of ['edit-error', 'edit-notice']) {
      $(id).hidden = true
      $(id).textContent = ''
    }
  }

  #renderMeta() {
    $('edit-revision').textContent = this.revision === undefined ? 'not saved yet' : `revision ${this.revision}`
    this.tick(Date.now())
  }

  /** Loads the key as the server has it now (dropping unsaved edits, unless `keepEdits`). */
  async reload({ keepEdits = false } = {}) {
    const { group, key } = this
    try {
      const { body } = await this.api.request('GET', paths.key(group, key))
      if (group !== this.group || key !== this.key || (keepEdits && this.edited)) return
      this.#show(group, key, body)
    } catch (err) {
      if (group !== this.group || key !== this.key) return
      if (err instanceof ApiError && err.status === 404) {
        if (keepEdits && this.edited) return this.#error('This key no longer exists.')
        this.#show(group, key, undefined)
        this.#error('This key no longer exists. Saving creates it again.')
      } else this.#error(err.message)
    }
  }

  /** Saves the form: If-Match `revision`, or create-only when there is none. */
  async save(revision) {
    const key = $('edit-key').value
    const ttl = $('edit-ttl').value.trim()
    if (ttl !== '' && !/^[1-9][0-9]*$/.test(ttl)) return this.#error('TTL must be a whole number of seconds, or empty.')
    // A new key goes to the group its form names; an existing one stays in its own.
    const group = this.key === undefined ? this.groupInput.value : this.group
    if (group === '' && this.group !== '') return this.#error('Name the group of the new key.')
    const query = ttl === '' ? '' : `?ttl=${Number(ttl) * 1000}`
    const headers = revision === undefined ? { 'if-none-match': '*' } : { 'if-match': `"${revision}"` }
    this.#hideMessages()
    try {
      const { body } = await this.api.request('PUT', `${paths.key(group, key)}${query}`, { body: $('edit-value').value, headers })
      this.group = group
      this.key = key
      this.revision = body.revision
      this.expiresAt = ttl === '' ? null : Date.now() + Number(ttl) * 1000
      $('editor-title').textContent = 'Edit key'
      $('edit-key').readOnly = true
      this.#groupField(false)
      $('delete').hidden = false
      this.edited = false
      this.#renderMeta()
      this.#notice(`Saved as revision ${body.revision}.`)
      await this.onSaved(group, key)
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) return this.#conflict(group, key, 'save')
      this.#error(err.message)
    }
  }

  async remove(revision) {
    const { group, key } = this
    this.#hideMessages()
    try {
      await this.api.request('DELETE', paths.key(group, key), { headers: { 'if-match': `"${revision}"` } })
      this.close()
      this.onDeleted(group, key)
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) return this.#conflict(group, key, 'delete')
      this.#error(err.message)
    }
  }

  /** Shows what the server has now, beside the user's unsaved form. */
  async #conflict(group, key, kind) {
    this.conflictKind = kind
    let text
    try {
      const { body } = await this.api.request('GET', paths.key(group, key))
      this.theirs = body.revision
      const mine = this.revision === undefined ? 'You were creating this key, but it already exists' : `You opened revision ${this.revision}, but someone else changed it`
      text = `${mine}: it is now at revision ${body.revision} with the value “${preview(body.value)}”. Nothing was ${kind === 'save' ? 'saved' : 'deleted'}.`
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) return this.#error(err.message)
      this.theirs = undefined
      text = `Someone else deleted this key since you opened it. Nothing was ${kind === 'save' ? 'saved' : 'deleted'}.`
    }
    $('conflict-text').textContent = text
    $('conflict-overwrite').textContent = kind === 'save' ? 'Overwrite with mine' : 'Delete anyway'
    $('conflict-overwrite').hidden = kind === 'delete' && this.theirs === undefined
    $('conflict').hidden = false
  }

  /** After a conflict, on the user's word: writes against their revision (it may conflict again). */
  async overwrite() {
    if (this.conflictKind === 'delete') return this.remove(this.theirs)
    return this.save(this.theirs)
  }

  /** An event from the live stream: warns when the open key changes under the user. */
  onEvent(event) {
    if ($('editor').hidden || event.group !== this.group || this.key === undefined) return
    if (event.key !== this.key && event.type !== 'delete_group') return
    if (event.revision === this.revision) return
    const what = event.type === 'set' ? `changed it (revision ${event.revision})` : event.type === 'expire' ? 'expired' : 'deleted it'
    this.#notice(event.type === 'expire' ? 'This key has expired.' : `Someone else ${what}. Saving now will not overwrite their change.`)
  }

  tick(now) {
    const cell = $('edit-remaining')
    if (this.expiresAt === null || this.revision === undefined) {
      cell.textContent = this.revision === undefined ? '' : 'no expiry'
      return
    }
    const left = this.expiresAt - now
    cell.textContent = left > 0 ? `expires in ${remaining(left)}` : 'expired'
    cell.classList.toggle('soon', left < 10_000)
  }

  #error(message) {
    $('edit-error').textContent = message
    $('edit-error').hidden = false
  }

  #notice(message) {
    $('edit-notice').textContent = message
    $('edit-notice').hidden = false
  }
}
