// Starting test worker processes together.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/** Starts `script` once per task, releases them together once all are ready, answers their JSON outcomes. */
export async function runTogether(script, tasks) {
  const children = tasks.map((task) => {
    const child = spawn(process.execPath, [script, JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'inherit'] })
    const lines = createInterface({ input: child.stdout })
    const output = []
    const ready = new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        if (line === 'ready') resolve()
        else output.push(line)
      })
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`a worker exited with ${code} before it was ready`)))
    })
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    return { child, ready, exited, output }
  })
  try {
    await Promise.all(children.map((c) => c.ready))
  } catch (err) {
    // The others would wait for their start signal for ever.
    for (const c of children) c.child.kill()
    throw err
  }
  for (const c of children) c.child.stdin.end('go\n')
  const outcomes = []
  for (const c of children) {
    assert.equal(await c.exited, 0, 'a worker process failed')
    outcomes.push(JSON.parse(c.output.at(-1)))
  }
  return outcomes
}
