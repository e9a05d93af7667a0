// Fills the disk (or the file-size limit) under a store, in a child process,
// and reports as JSON on stdout: the error the failing write gave, whether
// reads kept working (including reads issued in the same batch as failing
// writes), and every write that was acknowledged, for the parent to find
// after reopening the file.
//
// Usage: node disk-full-child.js <file> [<filler to delete after the failure>]
import { unlinkSync } from 'node:fs'
import { Store, StoreError } from 'groupstore'

const [file, filler] = process.argv.slice(2)
const describe = (err) => ({ name: err?.name, code: err?.code, message: err?.message, storeError: err instanceof StoreError })
const big = 'x'.repeat(3000)
const report = { acked: [], concurrentReadsFailed: 0 }
const store = await Store.open(file, { purgeInterval: 0 })
for (let i = 0; i < 20; i++) {
  await store.set('keep', `k${i}`, `v${i}`)
  report.acked.push(['keep', `k${i}`, `v${i}`])
}
for (let i = 0; i < 100_000 && report.error === undefined; i++) {
  // A write, a read and another write issued together: one batch.
  const [w1, read, w2] = await Promise.allSettled([
    store.set('fill', `a${i}`, big),
    store.get('keep', 'k0'),
    store.set('fill', `b${i}`, big),
  ])
  if (read.status !== 'fulfilled' || read.value !== 'v0') report.concurrentReadsFailed++
  for (const [w, key] of [[w1, `a${i}`], [w2, `b${i}`]]) {
    if (w.status === 'fulfilled') report.acked.push(['fill', key, big])
    else report.error ??= describe(w.reason)
  }
}
report.readsAfter = {
  get: await store.get('keep', 'k5').catch(describe),
  count: await store.count('keep').catch(describe),
  getAll: await store.getAll('keep').then((all) => Object.keys(all).length, describe),
  fill: await store.count('fill').catch(describe),
}
report.writeAgain = await store.set('fill', 'again', big).then(() => 'ok', describe)
if (report.writeAgain === 'ok') report.acked.push(['fill', 'again', big])
if (filler !== undefined) {
  unlinkSync(filler)
  report.writeAfterSpaceFreed = await store.set('after', 'k', 'v').then(() => 'ok', describe)
  if (report.writeAfterSpaceFreed === 'ok') report.acked.push(['after', 'k', 'v'])
}
report.close = await store.close().then(() => 'ok', describe)
process.stdout.write(JSON.stringify(report))
