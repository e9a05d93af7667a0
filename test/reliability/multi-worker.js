// A child of the many-processes test (multi-run.js), started with fork():
//
//   writer <file> <id> <keys> <quotaAttempts> <groupAttempts> <maxKeys> <maxGroups> <durability>
//     writes <keys> keys of its own, then, interleaved with them, tries to
//     push the shared scopes past their quotas;
//   reader <file> <maxKeys> <maxGroups>
//     reads what the writers write until the parent sends 'stop', checking
//     every value it sees and that no quota is ever exceeded.
//
// Each reports { role, ..., errors } with process.send and exits. An error
// here is any rejection a caller would see, other than QuotaExceededError
// for a write that tried to exceed a quota.
import { QuotaExceededError, Store } from 'groupstore'
import { random, valueFor } from './crash-shared.js'

const [role, file, ...rest] = process.argv.slice(2)
const errors = []
const note = (where, err) => {
  if (errors.length < 20) errors.push(`${where}: ${err?.name}: ${err?.message}`)
}

if (role === 'writer') {
  const [id, keys, quotaAttempts, groupAttempts, maxKeys, maxGroups] = rest.slice(0, 6).map(Number)
  const durability = rest[6]
  const rng = random(id + 1)
  // The check replays the whole change log, so it keeps every entry (the default caps it at 10,000).
  const store = await Store.open(file, { durability, purgeInterval: 0, changeRetention: { maxAge: 0, maxCount: 2 ** 31 } })
  const quota = store.scope('quota', { quota: { maxKeys } })
  const groups = store.scope('quota-groups', { quota: { maxGroups } })
  const report = { role, id, written: 0, quotaAccepted: 0, quotaRefused: 0, groupAccepted: [], groupRefused: 0, slowestWriteMs: 0, errors }
  // The plan: own keys, with quota attempts spread among them.
  const plan = []
  for (let i = 0; i < keys; i++) plan.push(['own', i])
  for (let i = 0; i < quotaAttempts; i++) plan.splice(Math.floor(rng() * plan.length), 0, ['quota', i])
  for (let i = 0; i < groupAttempts; i++) plan.splice(Math.floor(rng() * plan.length), 0, ['group', i])
  const run = ([kind, i]) => {
    if (kind === 'own') {
      const g = `w${id}`
      const k = `k${i}`
      return store.set(g, k, valueFor(g, k)).then(() => report.written++, (err) => note(`set ${g}/${k}`, err))
    }
    if (kind === 'quota') {
      const k = `w${id}-q${i}`
      return quota.set('pool', k, valueFor('quota:pool', k)).then(
        () => report.quotaAccepted++,
        (err) => (err instanceof QuotaExceededError && err.limit === 'maxKeys' ? report.quotaRefused++ : note(`quota set ${k}`, err)),
      )
    }
    const g = `w${id}-g${i}`
    return groups.set(g, 'k', valueFor(`quota-groups:${g}`, 'k')).then(
      () => report.groupAccepted.push(g),
      (err) => (err instanceof QuotaExceededError && err.limit === 'maxGroups' ? report.groupRefused++ : note(`group set ${g}`, err)),
    )
  }
  // Issued in windows of 1 to 64 at once, so group commit batches them.
  for (let at = 0; at < plan.length; ) {
    const size = 1 + Math.floor(rng() * 64)
    const started = performance.now()
    await Promise.all(plan.slice(at, at + size).map(run))
    report.slowestWriteMs = Math.max(report.slowestWriteMs, Math.round(performance.now() - started))
    at += size
  }
  await store.close()
  process.send(report, () => process.exit(0))
} else if (role === 'reader') {
  const [maxKeys, maxGroups] = rest.map(Number)
  const rng = random(99)
  const store = await Store.open(file, { purgeInterval: 0 })
  const quota = store.scope('quota')
  const groups = store.scope('quota-groups')
  const report = { role, reads: 0, valuesSeen: 0, maxQuotaKeysSeen: 0, maxQuotaGroupsSeen: 0, errors }
  let stop = false
  process.on('message', (m) => {
    if (m === 'stop') stop = true
  })
  const check = (cond, what) => {
    if (!cond) note('check', new Error(what))
  }
  while (!stop) {
    try {
      const w = Math.floor(rng() * 4)
      const g = `w${w}`
      const k = `k${Math.floor(rng() * 5000)}`
      const v = await store.get(g, k)
      check(v === undefined || v === valueFor(g, k), `get ${g}/${k} = ${JSON.stringify(v)}`)
      if (v !== undefined) report.valuesSeen++
      const n = await quota.countAll()
      check(n <= maxKeys, `scope quota holds ${n} keys, maxKeys ${maxKeys}`)
      report.maxQuotaKeysSeen = Math.max(report.maxQuotaKeysSeen, n)
      const gs = await groups.groups()
      check(gs.length <= maxGroups, `scope quota-groups holds ${gs.length} groups, maxGroups ${maxGroups}`)
      report.maxQuotaGroupsSeen = Math.max(report.maxQuotaGroupsSeen, gs.length)
      const page = await store.page(g, { limit: 50, after: `k${Math.floor(rng() * 5000)}` })
      for (const [key, value] of page.entries) check(value === valueFor(g, key), `page ${g}/${key}`)
      report.reads += 4
    } catch (err) {
      note('read', err)
    }
    // Let the stop message in.
    await new Promise((resolve) => setImmediate(resolve))
  }
  await store.close()
  process.send(report, () => process.exit(0))
} else {
  throw new TypeError(`unknown role ${role}`)
}
