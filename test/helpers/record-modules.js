// Preloaded with `node --import`: records every module the process loads and
// writes their URLs, one a line, to the file named by GROUPSTORE_TEST_MODULES
// when the process exits. ES modules are seen by a loader hook (which runs on
// its own thread and posts each URL back); CommonJS modules, which every
// third-party dependency here is, from require's cache.
import { writeFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'
import { pathToFileURL } from 'node:url'
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads'

const out = process.env.GROUPSTORE_TEST_MODULES
if (out === undefined) throw new Error('record-modules: set GROUPSTORE_TEST_MODULES to the file to write')

const { port1, port2 } = new MessageChannel()
port1.unref()
register('./record-modules-hook.js', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] })
const require = createRequire(import.meta.url)

process.on('exit', () => {
  const urls = new Set()
  for (let m = receiveMessageOnPort(port1); m !== undefined; m = receiveMessageOnPort(port1)) urls.add(m.message)
  for (const file of Object.keys(require.cache)) urls.add(pathToFileURL(file).href)
  writeFileSync(out, [...urls].join('\n'))
})
