// Prints the functions with the most self time in a .cpuprofile (the newest
// in the folder given), as `node --cpu-prof` writes them.
//   node bench/lib/top-profile.js <folder> [rows]
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.argv[2]
if (dir === undefined) throw new TypeError('top-profile: give the folder of the .cpuprofile files')
const rows = Number(process.argv[3] ?? 25)
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .map((f) => join(dir, f))
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
if (files.length === 0) throw new Error(`top-profile: no .cpuprofile in ${dir}`)
const profile = JSON.parse(readFileSync(files[0], 'utf8'))
const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const byNode = new Map()
profile.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...byNode.values()].reduce((a, b) => a + b, 0)
const byFunction = new Map()
for (const [id, t] of byNode) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame
  const name = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`
  byFunction.set(name, (byFunction.get(name) ?? 0) + t)
}
for (const [name, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
  console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`)
}
