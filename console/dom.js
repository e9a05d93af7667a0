// Small DOM helpers of the console. Text is always set as text, never as HTML.

/** The element with this id. */
export const $ = (id) => document.getElementById(id)

/** A new element with attributes (`text` sets its text) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') node.textContent = value
    else if (name === 'class') node.className = value
    else node.setAttribute(name, value)
  }
  node.append(...children)
  return node
}

/** Removes every child of `node`. */
export function clear(node) {
  while (node.firstChild !== null) node.firstChild.remove()
}

/** A value shortened for a table cell, with control characters made visible. */
export function preview(value) {
  const shown = value.length > 120 ? `${value.slice(0, 120)}…` : value
  return shown.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '↵' : c === '\t' ? '⇥' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
}

/** Remaining time as `45s`, `3m 07s`, `2h 05m` or `3d 4h`. */
export function remaining(ms) {
  const s = Math.ceil(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}
