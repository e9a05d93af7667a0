// The workloads of the benchmark. Each opens a fresh instance of a system,
// fills it (untimed), warms up, then times its operations; it answers
// nanoseconds per operation for each measurement it makes. The runner
// repeats every workload, rotating the order of the systems, and keeps the
// median.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Store } from 'groupstore'
import { blockingNs, collectGarbage, nowNs, percentile } from './stats.js'
import { tempDir } from './systems.js'

const key = (i) => `key-${String(i).padStart(7, '0')}`
const value = (i) => `value-${i}`

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

/** Times `count` sequential awaited calls of `op(i)`; answers ns per call. */
async function timeEach(count, op) {
  const start = nowNs()
  for (let i = 0; i < count; i++) await op(i)
  return (nowNs() - start) / count
}

/** Runs `op(i)` `count` times untimed, to warm the JIT and the caches. */
async function warm(count, op) {
  for (let i = 0; i < count; i++) await op(i)
}

async function withSystem(system, options, fn) {
  collectGarbage()
  const s = await system.open(options)
  try {
    return await fn(s)
  } finally {
    await s.close()
  }
}

/**
 * Measurement ids, with what one operation is. `target` (optional) names the
 * issue's target the measurement feeds.
 */
export const MEASUREMENTS = {
  set: { label: 'set, 100k distinct keys', op: 'set' },
  get: { label: 'get, scattered order', op: 'get' },
  getAll: { label: 'getAll, 10k-key group', op: 'call' },
  count: { label: 'count, 10k-key group', op: 'call' },
  entries: { label: 'entries, 100k-key group', op: 'entry' },
  setTtl: { label: 'set with a TTL', op: 'set' },
  scopedPlain: { label: 'set (plain, same store as the scoped runs)', op: 'set' },
  scoped100: { label: 'scoped set + maxKeys, namespace of 100', op: 'set' },
  scoped100k: { label: 'scoped set + maxKeys, namespace of 100k', op: 'set' },
  watchPlain: { label: 'set (plain, same store as the watched run)', op: 'set' },
  watched: { label: "set + watch('*','*') + onChange", op: 'set' },
  durableSet: { label: 'file, durable: sequential set', op: 'set' },
  durableConcurrent: { label: 'file, durable: 10k concurrent sets', op: 'set' },
  durableGet: { label: 'file, durable: get', op: 'get' },
}

/** Sizes of a full run; a quick run divides most of them. */
export function sizes(quick) {
  return quick
    ? { keys: 10_000, group: 10_000, getAllCalls: 10, countCalls: 300, entries: 20_000, scoped: 5_000, scopedLarge: 100_000, watched: 10_000, durableSeq: 200, durableConcurrent: 2_000, durableGets: 10_000, memoryKeys: 100_000 }
    : { keys: 100_000, group: 10_000, getAllCalls: 40, countCalls: 2_000, entries: 100_000, scoped: 20_000, scopedLarge: 100_000, watched: 50_000, durableSeq: 1_000, durableConcurrent: 10_000, durableGets: 50_000, memoryKeys: 1_000_000 }
}

export const WORKLOADS = [
  {
    name: 'set-get',
    async run(system, n) {
      return withSystem(system, {}, async (s) => {
        const w = Math.min(5_000, n.keys / 10)
        await warm(w, (i) => s.set('warm', key(i), value(i)))
        await warm(w, (i) => s.get('warm', key(i)))
        const set = await timeEach(n.keys, (i) => s.set('bench', key(i), value(i)))
        const order = scattered(n.keys)
        const get = await timeEach(n.keys, (i) => s.get('bench', key(order[i])))
        return { set, get }
      })
    },
  },
  {
    name: 'ttl',
    needs: ['setTtl'],
    async run(system, n) {
      return withSystem(system, {}, async (s) => {
        await warm(Math.min(5_000, n.keys / 10), (i) => s.setTtl('warm', key(i), value(i), 3_600_000))
        return { setTtl: await timeEach(n.keys, (i) => s.setTtl('bench', key(i), value(i), 3_600_000)) }
      })
    },
  },
  {
    name: 'group-reads',
    needs: ['getAll'],
    async run(system, n) {
      return withSystem(system, {}, async (s) => {
        for (const g of ['a', 'big', 'z']) await s.load(g, pairs(n.group))
        const out = {}
        await warm(3, () => s.getAll('big'))
        const all = await s.getAll('big')
        if (Object.keys(all).length !== n.group) throw new Error(`${system.name}: getAll answered ${Object.keys(all).length} keys`)
        out.getAll = await timeEach(n.getAllCalls, () => s.getAll('big'))
        if (s.count !== undefined) {
          if ((await s.count('big')) !== n.group) throw new Error(`${system.name}: count is wrong`)
          await warm(n.countCalls / 10, () => s.count('big'))
          out.count = await timeEach(n.countCalls, () => s.count('big'))
        }
        return out
      })
    },
  },
  {
    name: 'entries',
    needs: ['entries'],
    async run(system, n) {
      return withSystem(system, {}, async (s) => {
        await s.load('big', pairs(n.entries))
        await s.load('warm', pairs(1000))
        for await (const _ of s.entries('warm'));
        let seen = 0
        const start = nowNs()
        for await (const _ of s.entries('big')) seen++
        const ns = nowNs() - start
        if (seen !== n.entries) throw new Error(`${system.name}: entries yielded ${seen}`)
        return { entries: ns / seen }
      })
    },
  },
  {
    name: 'scoped',
    needs: ['scopedSet'],
    async run(system, n) {
      return withSystem(system, {}, async (s) => {
        await s.load('small:g', pairs(100))
        for (let g = 0; g < 10; g++) await s.load(`large:g${g}`, pairs(n.scopedLarge / 10))
        const w = Math.min(2_000, n.scoped / 5)
        await warm(w, (i) => s.set('warm', key(i), value(i)))
        await warm(w, (i) => s.scopedSet('warm', 'g', key(i), value(i)))
        // Interleaved in slices so that drift in the machine's load hits all three alike.
        const slices = 5
        const per = n.scoped / slices
        let plain = 0
        let small = 0
        let large = 0
        for (let k = 0; k < slices; k++) {
          const from = 1_000_000 + k * per
          plain += await timeEach(per, (i) => s.set('plain', key(from + i), value(i)))
          small += await timeEach(per, (i) => s.scopedSet('small', 'g', key(from + i), value(i)))
          large += await timeEach(per, (i) => s.scopedSet('large', 'g0', key(from + i), value(i)))
        }
        return { scopedPlain: plain / slices, scoped100: small / slices, scoped100k: large / slices }
      })
    },
  },
  {
    name: 'watched',
    only: ['raw', 'groupstore'],
    async run(system, n) {
      return withSystem(system, {}, async (s) => {
        const w = Math.min(2_000, n.watched / 10)
        await warm(w, (i) => s.set('warm', key(i), value(i)))
        const plain = await timeEach(n.watched, (i) => s.set('plain', key(i), value(i)))
        let events = 0
        let calls = 0
        let stop = () => {}
        let consumed = Promise.resolve()
        if (system.name === 'groupstore') {
          const watcher = s.store.watch('*', '*')
          consumed = (async () => {
            for await (const _ of watcher) events++
          })()
          const off = s.store.onChange(() => {
            calls++
          })
          stop = () => {
            off()
            watcher.close()
          }
        }
        // raw: the write and a callback call, the floor of any notification.
        const notify = () => {
          calls++
        }
        const watched =
          system.name === 'groupstore'
            ? await timeEach(n.watched, (i) => s.set('watched', key(i), value(i)))
            : await timeEach(n.watched, async (i) => {
                await s.set('watched', key(i), value(i))
                notify()
              })
        stop()
        await consumed
        if (calls !== n.watched) throw new Error(`${system.name}: ${calls} callbacks for ${n.watched} sets`)
        if (system.name === 'groupstore' && events < n.watched) throw new Error(`watcher saw ${events} of ${n.watched} events`)
        return { watchPlain: plain, watched }
      })
    },
  },
  {
    name: 'durable',
    async run(system, n) {
      const tmp = tempDir(`durable-${system.name}`)
      try {
        return await withSystem(system, { file: join(tmp.dir, 'bench.db'), durable: true }, async (s) => {
          await warm(50, (i) => s.set('warm', key(i), value(i)))
          const blocking = []
          const start = nowNs()
          for (let i = 0; i < n.durableSeq; i++) blocking.push(await blockingNs(() => s.set('seq', key(i), value(i))))
          const durableSet = (nowNs() - start) / n.durableSeq
          const t0 = nowNs()
          await Promise.all(Array.from({ length: n.durableConcurrent }, (_, i) => s.set('many', key(i), value(i))))
          const durableConcurrent = (nowNs() - t0) / n.durableConcurrent
          const order = scattered(n.durableConcurrent)
          await warm(1000, (i) => s.get('many', key(order[i % order.length])))
          const durableGet = await timeEach(n.durableGets, (i) => s.get('many', key(order[i % order.length])))
          return {
            durableSet,
            durableConcurrent,
            durableGet,
            blockingP50: percentile(blocking, 50),
            blockingP99: percentile(blocking, 99),
          }
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
    db.exec('CREATE TABLE kv (grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (grp, key))')
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
