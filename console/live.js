// The live panel: every change as it is committed, over one EventSource,
// which reconnects by itself and resumes with Last-Event-ID.
import { $, el, preview } from './dom.js'

const SHOWN = 200
const TYPES = ['set', 'delete', 'delete_group', 'expire']

export class LivePanel {
  constructor(api, onEvent) {
    this.api = api
    this.onEvent = onEvent
    this.source = undefined
  }

  start() {
    const source = new EventSource(this.api.watchUrl())
    this.source = source
    const state = $('live-state')
    state.textContent = 'connecting…'
    source.addEventListener('open', () => (state.textContent = 'live'))
    source.addEventListener('error', () => {
      state.textContent = source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…'
    })
    for (const type of TYPES) source.addEventListener(type, (message) => this.#receive(JSON.parse(message.data)))
  }

  #receive(event) {
    const list = $('events')
    const where = event.type === 'delete_group' ? event.group : `${event.group} / ${event.key}`
    const what = event.type === 'set' ? `${where} = ${preview(event.value ?? '')}` : where
    const item = el(
      'li',
      { title: event.timestamp },
      el('span', { class: 'rev', text: String(event.revision) }),
      el('span', { class: `type ${event.type}`, text: event.type }),
      el('span', { class: 'what', text: what }),
    )
    list.prepend(item)
    while (list.children.length > SHOWN) list.lastElementChild.remove()
    this.onEvent(event)
  }
}
