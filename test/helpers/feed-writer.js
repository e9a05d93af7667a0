// A child process for the change-feed tests: opens the database named in
// argv[2], writes argv[3] keys into group 'child', and exits.
import { Store } from 'groupstore'

const [, , file, count] = process.argv
const store = await Store.open(file)
for (let i = 0; i < Number(count); i++) await store.set('child', `k${i}`, `v${i}`)
await store.close()
