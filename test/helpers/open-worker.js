// A separate OS process for the concurrent-creation test: waits until the
// Unix ms time argv[3] and a few random ms more, so that the workers open
// within moments of each other, one often while another is creating the
// file; then opens (creating) the file argv[2], writes one key and closes. Exits 1 with
// the error's message on stdout if any step fails.
import { Store } from 'groupstore'

const [file, at] = [process.argv[2], Number(process.argv[3]) + Math.random() * 8]
while (Date.now() < at) {
  // Spin: a timer would let the workers drift apart by milliseconds.
}
try {
  const store = await Store.open(file, { purgeInterval: 0, durability: 'normal' })
  await store.set('g', `k${process.pid}`, 'v')
  await store.close()
} catch (err) {
  process.stdout.write(`${err.message}\n`)
  process.exit(1)
}
