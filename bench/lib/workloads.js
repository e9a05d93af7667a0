// The workloads of the benchmark. Each opens a fresh instance of every
// system it measures, fills them (untimed), warms them up, then times its
// operations in slices that take turns between the systems, so that a
// change in the machine's load (other jobs on a shared machine) falls on
// every system alike. It answers nanoseconds per operation, per measurement
// and system. The runner repeats every workload and keeps the median.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { Store } from 'groupstore'
import { blockingNs, collectGarbage, nowNs, percentile } from './stats.js'
import { tempDir } from './systems.js'
import { GO_STORE_SCHEMA } from './go-store.js'

const key = (i) => `key-${String(i).padStart(7, '0')}`
const value = (i) => `value-${i}`
const SLICES = 10

/** A fixed permutation of 0..n-1 (the same in every run), for reads in scattered order. */
function scattered(n) {
  const order = Array.from({ length: n }, (_, i) => i)
  let seed = 0x9e3779b9
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    const j = seed % (i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

function* pairs(n, from = 0) {
  for (let i = from; i < from + n; i++) yield [key(i), value(i)]
}

/** Runs `op(i)` for i in [from, to), one await each; answers the nanoseconds taken. */
async function timeRange(from, to, op) {
  const start = nowNs()
  for (let i = from; i < to; i++) await op(i)
  return nowNs() - start
}

/** Runs `op(i)` `count` times untimed, to warm the JIT and the caches. */
async function warm(count, op) {
  for (let i = 0; i < count; i++) await op(i)
}

/** How many of `count` operations a handle runs: a slow system stops at its `cap`. */
const capped = (h, count) => Math.min(count, (h.system ?? h.h.system).cap ?? count)

/**
 * Times `count` sequential calls of `op(handle, i)` on every handle (fewer
 * on a system with a `cap`), in slices taking turns (the order rotating
 * each slice); answers ns per call for each handle, in order.
 */
async function interleaved(handles, count, op, slices = SLICES) {
  const total = handles.map(() => 0)
  const counts = handles.map((h) => capped(h, count))
  for (let k = 0; k < slices; k++) {
    for (let j = 0; j < handles.length; j++) {
      const h = (j + k) % handles.length
      const per = Math.ceil(counts[h] / slices)
      const from = Math.min(counts[h], k * per)
      const to = Math.min(counts[h], from + per)
      if (to > from) total[h] += await timeRange(from, to, (i) => op(handles[h], i))
    }
  }
  return total.map((t, h) => t / counts[h])
}

/** Opens every system, runs `fn` with the open instances, closes them. */
async function withSystems(systems, options, fn) {
  collectGarbage()
  const handles = []
  try {
    for (const system of systems) handles.push({ system, s: await system.open(options(system)) })
    return await fn(handles)
  } finally {
    for (const h of handles) await h.s.close()
  }
}

/** { measurement: { system: ns } } from per-handle lists. */
function byName(handles, results) {
  const out = {}
  for (const [id, list] of Object.entries(results)) {
    out[id] = {}
    handles.forEach((h, i) => {
      if (list[i] !== undefined) out[id][h.system.name] = list[i]
    })
  }
  return out
}

/**
 * Measurement ids, with what one operation is. Raw better-sqlite3 runs the
 * closest plain equivalent where it has no such feature (see systems.js).
 */
export const MEASUREMENTS = {
  set: { label: 'set, 100k distinct keys', op: 'set' },
  get: { label: 'get, scattered order', op: 'get' },
  getAll: { label: 'getAll, 10k-key group', op: 'call' },
  count: { label: 'count, 10k-key group', op: 'call' },
  entries: { label: 'entries, 100k-key group', op: 'entry' },
  setTtl: { label: 'set with a TTL', op: 'set' },
  scopedPlain: { label: 'set (plain, beside the scoped sets)', op: 'set' },
  scoped100: { label: 'scoped set + maxKeys, namespace of 100', op: 'set' },
  scoped100k: { label: 'scoped set + maxKeys, namespace of 100k', op: 'set' },
  watchPlain: { label: 'set (plain, beside the watched sets)', op: 'set' },
  watched: { label: "set + watch('*','*') + onChange", op: 'set' },
  durableSet: { label: 'file, durable: sequential set', op: 'set' },
  durableConcurrent: { label: 'file, durable: 10k concurrent sets', op: 'set' },
  durableGet: { label: 'file, durable: get', op: 'get' },
  durableSetNoLog: { label: 'file, durable: sequential set, changeLog: false', op: 'set' },
  durableConcurrentNoLog: { label: 'file, durable: 10k concurrent sets, changeLog: false', op: 'set' },
  stallSet: { label: 'file, durable: 5 bursts of concurrent sets', op: 'set' },
  stallMaxGap: { label: 'same bursts: longest gap between 1 ms timer ticks', op: 'gap' },
  stallReadMax: { label: 'same bursts: slowest get of another group', op: 'get' },
  atomicPlain: { label: 'set (plain, beside the conditional sets)', op: 'set' },
  setIfAbsent: { label: 'set with ifAbsent, a new key', op: 'set' },
  setIfRevision: { label: 'set with ifRevision, a matching revision', op: 'set' },
  increment: { label: 'increment, a new counter', op: 'call' },
  get100: { label: '100 sequential gets', op: '100 keys' },
  getMany100: { label: 'getMany of 100 keys', op: '100 keys' },
}

/** Sizes of a full run, and of a quick one. */
export function sizes(quick) {
  return quick
    ? { atomic: 5_000, atomicReads: 300, keys: 10_000, group: 10_000, getAllCalls: 10, countCalls: 300, entries: 20_000, scoped: 5_000, scopedLarge: 100_000, watched: 10_000, durableSeq: 200, durableConcurrent: 2_000, durableGets: 10_000, memoryKeys: 100_000 }
    : { atomic: 20_000, atomicReads: 1_000, keys: 100_000, group: 10_000, getAllCalls: 20, countCalls: 1_000, entries: 100_000, scoped: 20_000, scopedLarge: 100_000, watched: 50_000, durableSeq: 1_000, durableConcurrent: 10_000, durableGets: 50_000, memoryKeys: 1_000_000 }
}

const memory = () => ({})

/**
 * Five bursts of `size` concurrent durable sets on a file. A 1 ms timer
 * records the longest gap between its ticks while each burst commits (from
 * the end of the loop that issues it, which is the caller's own code, to
 * the last write's resolution), and each tick issues a get of a key in
 * another group and records how long it takes. Answers ns per set, the
 * longest gap and the slowest get, in ns.
 */
async function bursts(s, size) {
  for (let i = 0; i < 1000; i++) await s.set('other', key(i), value(i))
  let last = 0
  let maxGap = 0
  let slowestRead = 0
  let inBurst = false
  const reads = []
  const timer = setInterval(() => {
    if (!inBurst) return
    const now = nowNs()
    maxGap = Math.max(maxGap, now - last)
    last = now
    reads.push(s.get('other', key(Math.floor(Math.random() * 1000))).then(() => {
      slowestRead = Math.max(slowestRead, nowNs() - now)
    }))
  }, 1)
  let setNs = 0
  try {
    for (let b = 0; b < 5; b++) {
      const start = nowNs()
      const writes = Array.from({ length: size }, (_, i) => s.set('burst', key(b * size + i), value(i)))
      last = nowNs()
      inBurst = true
      await Promise.all(writes)
      maxGap = Math.max(maxGap, nowNs() - last)
      inBurst = false
      setNs += nowNs() - start
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await Promise.all(reads)
  } finally {
    clearInterval(timer)
  }
  return { stallSet: setNs / (5 * size), stallMaxGap: maxGap, stallReadMax: slowestRead }
}

/**
 * Counts pg's Client#query calls, one round trip each (a simple query with
 * several statements is sent and answered as one; an extended one is
 * pipelined), while `fn` runs.
 */
async function countTrips(fn) {
  const query = pg.Client.prototype.query
  let trips = 0
  pg.Client.prototype.query = function (...args) {
    trips++
    return query.apply(this, args)
  }
  try {
    await fn()
  } finally {
    pg.Client.prototype.query = query
  }
  return trips
}

export const WORKLOADS = [
  {
    name: 'set-get',
    postgres: true,
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        for (const h of handles) {
          const w = capped(h, Math.min(5_000, n.keys / 10)) / (h.system.cap === undefined ? 1 : 5)
          await warm(w, (i) => h.s.set('warm', key(i), value(i)))
          await warm(w, (i) => h.s.get('warm', key(i)))
        }
        const set = await interleaved(handles, n.keys, ({ s }, i) => s.set('bench', key(i), value(i)))
        for (const h of handles) h.order = scattered(capped(h, n.keys))
        const get = await interleaved(handles, n.keys, ({ s, order }, i) => s.get('bench', key(order[i])))
        return byName(handles, { set, get })
      })
    },
  },
  {
    name: 'ttl',
    postgres: true,
    needs: ['setTtl'],
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        for (const h of handles) {
          const w = Math.min(5_000, n.keys / 10) / (h.system.cap === undefined ? 1 : 5)
          await warm(w, (i) => h.s.setTtl('warm', key(i), value(i), 3_600_000))
        }
        const setTtl = await interleaved(handles, n.keys, ({ s }, i) => s.setTtl('bench', key(i), value(i), 3_600_000))
        return byName(handles, { setTtl })
      })
    },
  },
  {
    name: 'group-reads',
    postgres: true,
    needs: ['getAll'],
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        for (const { system, s } of handles) {
          for (const g of ['a', 'big', 'z']) await s.load(g, pairs(n.group))
          const all = await s.getAll('big')
          if (Object.keys(all).length !== n.group) throw new Error(`${system.name}: getAll answered ${Object.keys(all).length} keys`)
          await warm(3, () => s.getAll('big'))
        }
        const getAll = await interleaved(handles, n.getAllCalls, ({ s }) => s.getAll('big'), 5)
        const counting = handles.filter((h) => h.s.count !== undefined)
        for (const { system, s } of counting) {
          if ((await s.count('big')) !== n.group) throw new Error(`${system.name}: count is wrong`)
          await warm(n.countCalls / 10, () => s.count('big'))
        }
        const count = await interleaved(counting, n.countCalls, ({ s }) => s.count('big'))
        return { ...byName(handles, { getAll }), ...byName(counting, { count }) }
      })
    },
  },
  {
    name: 'entries',
    postgres: true,
    needs: ['entries'],
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        // A PostgreSQL system walks a smaller group (at most its cap): filling it is the slow part.
        for (const h of handles) h.size = h.system.postgres ? Math.min(n.entries, h.system.cap) : n.entries
        for (const { s, size } of handles) {
          await s.load('big', pairs(size))
          await s.load('warm', pairs(1000))
          for await (const _ of s.entries('warm'));
        }
        const entries = await interleaved(
          handles,
          1,
          async ({ system, s, size }) => {
            let seen = 0
            for await (const _ of s.entries('big')) seen++
            if (seen !== size) throw new Error(`${system.name}: entries yielded ${seen}`)
          },
          1,
        )
        return byName(handles, { entries: entries.map((ns, i) => ns / handles[i].size) })
      })
    },
  },
  {
    name: 'scoped',
    needs: ['scopedSet'],
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        for (const { s } of handles) {
          await s.load('small:g', pairs(100))
          for (let g = 0; g < 10; g++) await s.load(`large:g${g}`, pairs(n.scopedLarge / 10))
          const w = Math.min(2_000, n.scoped / 5)
          await warm(w, (i) => s.set('warm', key(i), value(i)))
          await warm(w, (i) => s.scopedSet('warm', 'g', key(i), value(i)))
        }
        // Plain, small and large take turns too, so that drift hits all three alike.
        const variants = handles.flatMap((h) => [
          { h, op: (i) => h.s.set('plain', key(1_000_000 + i), value(i)) },
          { h, op: (i) => h.s.scopedSet('small', 'g', key(1_000_000 + i), value(i)) },
          { h, op: (i) => h.s.scopedSet('large', 'g0', key(1_000_000 + i), value(i)) },
        ])
        const times = await interleaved(variants, n.scoped, (v, i) => v.op(i))
        const pick = (k) => handles.map((_, i) => times[i * 3 + k])
        return byName(handles, { scopedPlain: pick(0), scoped100: pick(1), scoped100k: pick(2) })
      })
    },
  },
  {
    name: 'watched',
    only: ['raw', 'groupstore'],
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        let calls = 0
        let events = 0
        let expected = 0
        const notify = () => {
          calls++
        }
        // groupstore: one watch('*', '*') consumer and one onChange, attached for the watched slices only.
        const listen = (h) => {
          if (h.system.name !== 'groupstore') return () => {}
          const watcher = h.s.store.watch('*', '*')
          const consumed = (async () => {
            for await (const _ of watcher) events++
          })()
          const off = h.s.store.onChange(notify)
          return async () => {
            off()
            watcher.close()
            await consumed
          }
        }
        // raw: the write and a callback call, the floor of any notification.
        const watchedSet = (h, i) =>
          h.system.name === 'groupstore'
            ? h.s.set('watched', key(i), value(i))
            : h.s.set('watched', key(i), value(i)).then(notify)
        for (const h of handles) await warm(Math.min(2_000, n.watched / 10), (i) => h.s.set('warm', key(i), value(i)))
        const variants = handles.flatMap((h) => [
          { h, plain: true },
          { h, plain: false },
        ])
        const times = await interleaved(variants, n.watched, async (v, i) => {
          if (v.plain) return v.h.s.set('plain', key(i), value(i))
          if (i % Math.ceil(n.watched / SLICES) === 0) v.stop = listen(v.h)
          expected++
          await watchedSet(v.h, i)
          if ((i + 1) % Math.ceil(n.watched / SLICES) === 0 || i + 1 === n.watched) await v.stop()
        })
        if (calls !== expected) throw new Error(`${calls} callbacks for ${expected} watched sets`)
        const pick = (k) => handles.map((_, i) => times[i * 2 + k])
        if (handles.some((h) => h.system.name === 'groupstore') && events < n.watched) {
          throw new Error(`the watcher saw ${events} of ${n.watched} events`)
        }
        return byName(handles, { watchPlain: pick(0), watched: pick(1) })
      })
    },
  },
  {
    // Conditional sets, increment and getMany against their plain equivalents, in the same
    // store and turns. raw runs the plain set and 100 gets for each (the floor).
    name: 'atomic',
    postgres: true,
    only: ['raw', 'groupstore', 'groupstore-pg'],
    async run(systems, n) {
      return withSystems(systems, memory, async (handles) => {
        const readKeys = Array.from({ length: 100 }, (_, i) => key(i))
        const wrote = (r) => {
          if (r === false) throw new Error('a conditional set that should have written did not')
        }
        for (const h of handles) {
          const store = h.s.store
          const count = capped(h, n.atomic)
          h.revisions = []
          for (let i = 0; i < count; i++) h.revisions.push(await h.s.set('cas', key(i), value(i)))
          await h.s.load('read', pairs(100))
          const w = Math.min(2_000, count / 5)
          await warm(w, (i) => h.s.set('warm', key(i), value(i)))
          if (store !== undefined) {
            await warm(w, (i) => store.set('warm-absent', key(i), value(i), { ifAbsent: true }))
            await warm(w, (i) => store.increment('warm-counters', key(i)))
            await warm(w / 10, () => store.getMany('read', readKeys))
          }
        }
        const conditional = (h) => h.s.store ?? { set: (g, k, v) => h.s.set(g, k, v), increment: (g, k) => h.s.set(g, k, '1') }
        const variants = handles.flatMap((h) => {
          const c = conditional(h)
          return [
            { h, op: (i) => h.s.set('plain', key(i), value(i)) },
            { h, op: (i) => c.set('absent', key(i), value(i), { ifAbsent: true }).then(wrote) },
            { h, op: (i) => c.set('cas', key(i), 'changed', { ifRevision: h.revisions[i] }).then(wrote) },
            { h, op: (i) => c.increment('counters', key(i)) },
          ]
        })
        const times = await interleaved(variants, n.atomic, (v, i) => v.op(i))
        const sequential = async (h) => {
          for (const k of readKeys) await h.s.get('read', k)
        }
        const reads = handles.flatMap((h) => [
          { h, op: () => sequential(h) },
          { h, op: () => (h.s.store === undefined ? sequential(h) : h.s.store.getMany('read', readKeys)) },
        ])
        const readTimes = await interleaved(reads, n.atomicReads, (v) => v.op())
        const out = byName(handles, {
          atomicPlain: handles.map((_, i) => times[i * 4]),
          setIfAbsent: handles.map((_, i) => times[i * 4 + 1]),
          setIfRevision: handles.map((_, i) => times[i * 4 + 2]),
          increment: handles.map((_, i) => times[i * 4 + 3]),
          get100: handles.map((_, i) => readTimes[i * 2]),
          getMany100: handles.map((_, i) => readTimes[i * 2 + 1]),
        })
        // Round trips per operation on PostgreSQL, with nothing else queued (not timed).
        const pgHandle = handles.find((h) => h.system.name === 'groupstore-pg')
        if (pgHandle !== undefined) {
          const store = pgHandle.s.store
          const per = async (label, op) => {
            out.pgRoundTrips ??= {}
            out.pgRoundTrips[label] = (await countTrips(async () => {
              for (let i = 0; i < 20; i++) await op(i)
            })) / 20
          }
          await per('plain set', (i) => store.set('trips-plain', key(i), 'v'))
          await per('set ifAbsent', (i) => store.set('trips-absent', key(i), 'v', { ifAbsent: true }))
          const revs = []
          for (let i = 0; i < 20; i++) revs.push(await store.set('trips-cas', key(i), 'v'))
          await per('set ifRevision', (i) => store.set('trips-cas', key(i), 'w', { ifRevision: revs[i] }))
          await per('increment', (i) => store.increment('trips-counters', key(i % 3)))
          await per('getMany of 100', () => store.getMany('read', readKeys))
          await per('get', (i) => store.get('read', key(i)))
        }
        return out
      })
    },
  },
  {
    name: 'durable',
    async run(systems, n) {
      const tmp = tempDir('durable')
      try {
        // groupstore twice: with its change log (the default) and with changeLog: false.
        const variants = systems.flatMap((system) =>
          system.name === 'groupstore'
            ? [
                { system, label: 'groupstore', options: {} },
                { system, label: 'groupstore-nolog', options: { changeLog: false } },
              ]
            : [{ system, label: system.name, options: {} }],
        )
        const handles = []
        try {
          collectGarbage()
          for (const v of variants) {
            const s = await v.system.open({ file: join(tmp.dir, `${v.label}.db`), durable: true, store: v.options })
            handles.push({ ...v, s })
          }
          for (const { s } of handles) await warm(50, (i) => s.set('warm', key(i), value(i)))
          const blocking = handles.map(() => [])
          const seq = await interleaved(handles, n.durableSeq, async (h, i) => {
            blocking[handles.indexOf(h)].push(await blockingNs(() => h.s.set('seq', key(i), value(i))))
          })
          const concurrent = []
          for (const h of handles) {
            const start = nowNs()
            await Promise.all(Array.from({ length: n.durableConcurrent }, (_, i) => h.s.set('many', key(i), value(i))))
            concurrent.push((nowNs() - start) / n.durableConcurrent)
          }
          const order = scattered(n.durableConcurrent)
          const readers = handles.filter((h) => h.label !== 'groupstore-nolog')
          for (const { s } of readers) await warm(1000, (i) => s.get('many', key(order[i % order.length])))
          const gets = await interleaved(readers, n.durableGets, ({ s }, i) => s.get('many', key(order[i % order.length])))
          const out = { durableSet: {}, durableConcurrent: {}, durableGet: {}, durableSetNoLog: {}, durableConcurrentNoLog: {}, blockingP50: {}, blockingP99: {} }
          handles.forEach((h, i) => {
            const name = h.system.name
            const nolog = h.label === 'groupstore-nolog'
            if (nolog) {
              out.durableSetNoLog[name] = seq[i]
              out.durableConcurrentNoLog[name] = concurrent[i]
            } else {
              out.durableSet[name] = seq[i]
              out.durableConcurrent[name] = concurrent[i]
              // raw's plain write is also the floor of the rows without a log
              if (name === 'raw') {
                out.durableSetNoLog.raw = seq[i]
                out.durableConcurrentNoLog.raw = concurrent[i]
              }
            }
            out.blockingP50[h.label] = percentile(blocking[i], 50)
            out.blockingP99[h.label] = percentile(blocking[i], 99)
          })
          readers.forEach((h, i) => {
            out.durableGet[h.system.name] = gets[i]
          })
          return out
        } finally {
          for (const h of handles) await h.s.close()
        }
      } finally {
        tmp.remove()
      }
    },
  },
  {
    name: 'stalls',
    only: ['groupstore'],
    async run(systems, n) {
      const tmp = tempDir('stalls')
      try {
        return await withSystems(systems, (system) => ({ file: join(tmp.dir, `${system.name}.db`), durable: true }), async (handles) => {
          const out = { stallSet: {}, stallMaxGap: {}, stallReadMax: {} }
          for (const h of handles) {
            const r = await bursts(h.s, n.durableConcurrent)
            for (const [id, ns] of Object.entries(r)) out[id][h.system.name] = ns
          }
          return out
        })
      } finally {
        tmp.remove()
      }
    },
  },
]

/**
 * Heap growth while `entries()` walks a group of `count` keys in a file
 * filled beforehand: the largest heapUsed seen during the walk minus the
 * heap after a full collection before it. Run once, not repeated.
 */
export async function entriesMemory(count) {
  const tmp = tempDir('memory')
  const file = join(tmp.dir, 'memory.db')
  try {
    const db = new Database(file)
    db.pragma('journal_mode = WAL')
    db.exec(GO_STORE_SCHEMA)
    const insert = db.prepare('INSERT INTO kv VALUES (?, ?, ?, NULL)')
    db.transaction(() => {
      for (let i = 0; i < count; i++) insert.run('big', key(i), value(i).padEnd(40, '.'))
    })()
    db.close()
    const store = await Store.open(file)
    try {
      collectGarbage()
      const base = process.memoryUsage().heapUsed
      let peak = base
      let seen = 0
      const start = nowNs()
      for await (const _ of store.entries('big')) {
        if (++seen % 1000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed)
      }
      const ns = nowNs() - start
      if (seen !== count) throw new Error(`entries yielded ${seen} of ${count}`)
      return { keys: count, heapGrowthMiB: (peak - base) / 2 ** 20, nsPerEntry: ns / count, gcExposed: typeof globalThis.gc === 'function' }
    } finally {
      await store.close()
    }
  } finally {
    tmp.remove()
  }
}
