// Timing, statistics and formatting helpers of the benchmark.
import os from 'node:os'
import { performance } from 'node:perf_hooks'

/** Nanoseconds since an arbitrary origin, as a number. */
export function nowNs() {
  return Number(process.hrtime.bigint())
}

/** The median of a list of numbers (the mean of the two middle ones for an even count). */
export function median(values) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

/** Collects garbage when the process runs with --expose-gc, so one run's garbage does not bill the next. */
export function collectGarbage() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc()
    globalThis.gc()
  }
}

/** A duration in nanoseconds, in the unit that suits it. */
export function formatNs(ns) {
  if (!Number.isFinite(ns)) return 'n/a'
  if (ns < 1_000) return `${ns.toFixed(0)} ns`
  if (ns < 10_000) return `${(ns / 1_000).toFixed(2)} µs`
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(1)} µs`
  if (ns < 10_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`
  return `${(ns / 1_000_000).toFixed(1)} ms`
}

export function formatRatio(r) {
  if (!Number.isFinite(r)) return ''
  if (r < 0.1) return `${r.toFixed(3)}×`
  if (r < 10) return `${r.toFixed(2)}×`
  return `${r.toFixed(0)}×`
}

/** A plain-text table: `rows` is a list of string arrays, the first being the header. */
export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c] ?? '').length)))
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ')
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

/** The same table in Markdown. */
export function markdownTable(rows) {
  const esc = (s) => String(s).replaceAll('|', '\\|')
  const [head, ...body] = rows
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n')
}

/** What the run ran on. */
export function machine() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
  }
}

/**
 * The event-loop time `fn`'s promise kept the thread busy, in nanoseconds:
 * active time of the event loop between the call and the resolution, which
 * excludes time spent waiting for I/O done off the main thread.
 */
export async function blockingNs(fn) {
  const start = performance.eventLoopUtilization()
  await fn()
  const used = performance.eventLoopUtilization(start)
  return used.active * 1e6
}
