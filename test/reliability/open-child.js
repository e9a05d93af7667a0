// Opens a store in a child process and reports what happened as JSON on
// stdout: used to open files as an unprivileged user (root ignores file
// permissions) in test/broken-files.test.js.
//
// Usage: node open-child.js <location>
import { Store } from 'groupstore'

const describe = (err) => ({ name: err?.name, code: err?.code, message: err?.message, isStoreError: err?.constructor?.name })
const report = {}
try {
  const store = await Store.open(process.argv[2], { purgeInterval: 0 })
  report.opened = true
  report.get = await store.get('g', 'k').catch(describe)
  report.set = await store.set('g', 'written', 'x').then(() => 'ok', describe)
  await store.close()
} catch (err) {
  report.opened = false
  report.error = describe(err)
}
process.stdout.write(JSON.stringify(report))
