// Model-based fuzzing: random sequences of every operation, through the
// store, two scopes (one with quotas) and transactions that commit or throw,
// with awkward strings, arbitrary TTLs and a controlled clock, compared
// result by result with the in-memory model of test/reliability/model.js.
//
// The budget is fixed (seed and number of runs) so `npm test` stays fast and
// repeatable; for a longer search:
//   GROUPSTORE_FUZZ_RUNS=5000 GROUPSTORE_FUZZ_SEED=$RANDOM node --test test/fuzz.test.js
// A failing case is shrunk by fast-check and kept below as a named regression.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Store } from 'groupstore'
import { Model, View } from './reliability/model.js'

const T0 = 1_767_225_600_000 // 2026-01-01
const SCOPES = {
  store: { prefix: '', quota: undefined },
  t1: { prefix: 't1:', quota: { maxKeys: 4, maxGroups: 2 } },
  t2: { prefix: 't2:', quota: undefined },
}

// Strings: few enough to collide, awkward enough to break things.
const ATOMS = [
  '', '', 'a', 'a', 'b', 'ab', 'a%', '%', '_', 'a_', '\\', '*', '\0', 'a\0b', '__proto__', 'constructor',
  'toString', 'é', 'e\u0301', '😀', '\uFFFF', '\uE000', 'ｚ', 't1:', 't1', ':', "'", '"; DROP TABLE kv; --',
  '\uD800', '\uDC00', 'x\uD83D', '\uDE00y',
]
const text = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ATOMS) },
  { weight: 3, arbitrary: fc.array(fc.constantFrom(...ATOMS), { maxLength: 3 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
)
const notText = fc.constantFrom(undefined, null, 1, true, {}, ['a'], Symbol('s'))
const str = fc.oneof({ weight: 30, arbitrary: text }, { weight: 1, arbitrary: notText })
const optStr = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 6, arbitrary: text }, { weight: 1, arbitrary: notText })
const ttl = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 5_000 }) },
  { weight: 1, arbitrary: fc.double({ min: 0.001, max: 50, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, -0.5, NaN, Infinity, -Infinity, 1e300, 8.64e15, 2 ** 53, '10', null, true) },
)
const setOptions = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 5, arbitrary: ttl.map((t) => ({ ttl: t })) },
  { weight: 1, arbitrary: fc.constantFrom({}, { ttl: undefined }, { ttl: 5, extra: 1 }, { TTL: 5 }, 'ttl', null) },
)
const limit = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 10_000, 10_001, NaN, '2') },
)
const pageOptions = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: fc.record({ after: optStr, limit, prefix: optStr }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.constantFrom({ first: 1 }, null, 'x') },
)

const op = (name, ...args) => fc.tuple(...args).map((a) => ({ name, args: a }))
/** Operations that every store, scope and transaction has. */
const dataOp = fc.oneof(
  { weight: 8, arbitrary: op('set', str, str, str, setOptions) },
  { weight: 4, arbitrary: op('get', str, str) },
  { weight: 2, arbitrary: op('has', str, str) },
  { weight: 2, arbitrary: op('ttl', str, str) },
  { weight: 3, arbitrary: op('delete', str, str) },
  { weight: 1, arbitrary: op('deleteGroup', str) },
  { weight: 1, arbitrary: op('deletePrefix', str) },
  { weight: 2, arbitrary: op('count', str) },
  { weight: 2, arbitrary: op('countAll', optStr) },
  { weight: 2, arbitrary: op('groups', optStr) },
  { weight: 2, arbitrary: op('getAll', str) },
  { weight: 2, arbitrary: op('page', str, pageOptions) },
  { weight: 1, arbitrary: op('entries', str, fc.oneof(fc.constant(undefined), fc.record({ prefix: optStr }, { requiredKeys: [] }))) },
)
const target = fc.constantFrom('store', 'store', 't1', 't1', 't2')
const step = fc.oneof(
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('op'), target, op: dataOp }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('op'), target: fc.constant('store'), op: fc.constant({ name: 'purgeExpired', args: [] }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance'), ms: fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.constantFrom(1, 86_400_000)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('toExpiry') }) },
  // Issued together without waiting: group commit runs them as one batch, in issue order.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('burst'), ops: fc.array(fc.record({ target, op: dataOp }), { minLength: 2, maxLength: 8 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('tx'),
      target: fc.constantFrom('store', 't1', 't2'),
      ops: fc.array(dataOp, { maxLength: 6 }),
      fail: fc.boolean(),
    }),
  },
)

/** What a real call did, in the model's terms. */
async function call(obj, { name, args }) {
  try {
    if (name === 'entries') {
      const out = []
      for await (const entry of obj.entries(...args)) out.push(entry)
      return { value: out }
    }
    return { value: await obj[name](...args) }
  } catch (err) {
    return { error: err }
  }
}

function describeOp(where, { name, args }) {
  const shown = args.map((a) => (typeof a === 'symbol' ? a.toString() : JSON.stringify(a) ?? String(a)))
  return `${where}.${name}(${shown.join(', ')})`
}

/** Asserts that the real outcome is the model's. */
function same(real, expected, what, name) {
  if (expected.errors !== undefined) {
    assert.ok(real.error !== undefined, `${what}: expected ${expected.errors.join(' or ')}, got ${JSON.stringify(real.value)}`)
    const name = real.error.name === 'QuotaExceededError' ? `QuotaExceededError:${real.error.limit}` : real.error.name
    assert.ok(expected.errors.includes(name), `${what}: expected ${expected.errors.join(' or ')}, got ${name}: ${real.error.message}`)
    return
  }
  if (real.error !== undefined) throw new assert.AssertionError({ message: `${what}: unexpected ${real.error.name}: ${real.error.message}` })
  const v = real.value
  if (name === 'set') {
    // The model has no revisions: a set resolves to one, a positive integer.
    assert.ok(Number.isSafeInteger(v) && v > 0, `${what}: set resolved to ${JSON.stringify(v)}, not a revision`)
    return
  }
  if (name === 'getAll') {
    assert.equal(Object.getPrototypeOf(v), null, `${what}: getAll must answer a null-prototype object`)
    assert.deepEqual(Object.entries(v).sort(), Object.entries(expected.value).sort(), what)
    return
  }
  assert.deepEqual(v, expected.value, what)
}

/** Runs one generated sequence against a fresh store and the model. */
async function runSequence(steps, location = ':memory:') {
  const model = new Model(T0)
  const store = await Store.open(location, { purgeInterval: 0, durability: 'normal', now: () => model.now })
  try {
    const real = { store, t1: store.scope('t1', { quota: SCOPES.t1.quota }), t2: store.scope('t2') }
    const view = (m, t) => new View(m, SCOPES[t].prefix, SCOPES[t].quota)
    for (const [i, s] of steps.entries()) {
      if (s.kind === 'advance') {
        model.now += s.ms
      } else if (s.kind === 'toExpiry') {
        // Exactly the millisecond the next key expires: it must read as expired.
        const next = [...model.rows.values()].flatMap((keys) => [...keys.values()]).map((r) => r.expiresAt).filter((e) => e !== null && e > model.now)
        if (next.length > 0) model.now = Math.min(...next)
      } else if (s.kind === 'op') {
        const expected = view(model, s.target).apply(s.op.name, s.op.args)
        same(await call(real[s.target], s.op), expected, `step ${i}: ${describeOp(s.target, s.op)}`, s.op.name)
      } else if (s.kind === 'burst') {
        const outcomes = await Promise.all(s.ops.map((o) => call(real[o.target], o.op)))
        for (const [j, o] of s.ops.entries()) {
          same(outcomes[j], view(model, o.target).apply(o.op.name, o.op.args), `step ${i}: burst op ${j}: ${describeOp(o.target, o.op)}`, o.op.name)
        }
      } else {
        const draft = model.clone()
        const marker = new Error('rolled back on purpose')
        const results = []
        const outcome = await call(real[s.target], {
          name: 'transaction',
          args: [
            async (tx) => {
              for (const o of s.ops) results.push(await call(tx, o))
              if (s.fail) throw marker
              return 'committed'
            },
          ],
        })
        for (const [j, o] of s.ops.entries()) {
          same(results[j], view(draft, s.target).apply(o.name, o.args), `step ${i}: transaction op ${j}: ${describeOp(`tx(${s.target})`, o)}`, o.name)
        }
        if (s.fail) {
          assert.equal(outcome.error, marker, `step ${i}: a throwing transaction rejects with the callback's error`)
        } else {
          assert.equal(outcome.value, 'committed', `step ${i}: transaction: ${outcome.error?.message}`)
          model.rows = draft.rows
        }
      }
    }
    // The whole state, at the end.
    const all = new View(model, '', undefined)
    same(await call(store, { name: 'groups', args: [] }), all.apply('groups', []), 'final groups()')
    for (const g of all.apply('groups', []).value) {
      same(await call(store, { name: 'getAll', args: [g] }), all.apply('getAll', [g]), `final getAll(${JSON.stringify(g)})`, 'getAll')
    }
    same(await call(store, { name: 'countAll', args: [] }), all.apply('countAll', []), 'final countAll()')
    same(await call(store, { name: 'purgeExpired', args: [] }), all.apply('purgeExpired', []), 'final purgeExpired()')
  } finally {
    await store.close()
    if (location !== ':memory:') for (const f of [location, `${location}-wal`, `${location}-shm`]) rmSync(f, { force: true })
  }
}

const RUNS = Number(process.env.GROUPSTORE_FUZZ_RUNS ?? 150)
const SEED = Number(process.env.GROUPSTORE_FUZZ_SEED ?? 20_261_125)

describe('model-based fuzzing', () => {
  it(`matches the model on random operation sequences (seed ${SEED}, ${RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), runSequence), {
      seed: SEED,
      numRuns: RUNS,
    })
  })

  // A file takes other paths: every write goes through a transaction with a
  // savepoint and appends to the change log.
  it(`matches the model on a database file (seed ${SEED}, ${Math.ceil(RUNS / 3)} runs)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'groupstore-fuzz-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    let n = 0
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => runSequence(steps, join(dir, `f${n++}.db`))), {
      seed: SEED,
      numRuns: Math.ceil(RUNS / 3),
    })
  })
})

// Sequences kept as named tests: shrunk cases of the boundaries the model
// checks. A failing case fast-check finds goes here, as it printed it.
describe('model-based fuzzing: regressions', () => {
  const set = (target, g, k, v, options) => ({ kind: 'op', target, op: { name: 'set', args: [g, k, v, options] } })
  const read = (target, name, ...args) => ({ kind: 'op', target, op: { name, args } })

  it('a key reads as expired from its expiry millisecond (shrunk from an off-by-one model)', () =>
    runSequence([set('store', '', '', '', { ttl: 1 }), { kind: 'toExpiry' }, read('store', 'get', '', ''), read('store', 'purgeExpired')]))

  it('groups and keys sort by code point: U+FFFF before an astral character', () =>
    runSequence([
      set('store', '😀', '😀', 'a'),
      set('store', '\uFFFF', '\uFFFF', 'b'),
      set('store', '😀', '\uFFFF', 'c'),
      read('store', 'groups'),
      read('store', 'page', '😀', { limit: 1 }),
      read('store', 'page', '😀', { after: '\uFFFF' }),
    ]))

  it('a quota refusal inside a burst fails alone and the batch goes on', () =>
    runSequence([
      {
        kind: 'burst',
        ops: ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => ({ target: 't1', op: { name: 'set', args: ['g', k, k, undefined] } })),
      },
      read('t1', 'countAll'),
      read('store', 'groups', 't1:'),
    ]))

  it('a lone surrogate inside a transaction is a TypeError and the transaction still commits the rest', () =>
    runSequence([
      {
        kind: 'tx',
        target: 'store',
        ops: [
          { name: 'set', args: ['g', 'k', 'v', undefined] },
          { name: 'set', args: ['g', '\uD800', 'v', undefined] },
          { name: 'get', args: ['g', 'k'] },
        ],
        fail: false,
      },
      read('store', 'getAll', 'g'),
    ]))

  it('an expired key does not count towards a quota, and overwriting a live key never does', () =>
    runSequence([
      set('t1', 'g', 'a', '1', { ttl: 10 }),
      set('t1', 'g', 'b', '2'),
      set('t1', 'h', 'c', '3'),
      set('t1', 'h', 'd', '4'),
      set('t1', 'h', 'e', '5'),
      { kind: 'advance', ms: 10 },
      set('t1', 'h', 'e', '6'),
      set('t1', 'x', 'y', 'z'),
      set('t1', 'h', 'f', '7'),
      read('t1', 'countAll'),
    ]))
})
