/**
 * Standard streams for the command line: strict UTF-8 input, output that
 * honours backpressure, and a quiet end when the reader goes away.
 *
 * @module
 */
import { fstatSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { Readable, Writable } from 'node:stream'
import { usageError } from './errors.js'

/** Decodes UTF-8 exactly: a byte-order mark is kept, invalid bytes are an error. */
function strictDecoder() {
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
}

/**
 * The whole of a stream as a string, byte for byte (NUL bytes and a leading
 * byte-order mark included). Bytes that are not UTF-8 are a usage error:
 * values and templates are text.
 */
export async function readAll(stream: Readable, what: string): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  try {
    return strictDecoder().decode(Buffer.concat(chunks))
  } catch {
    throw usageError(`${what} is not valid UTF-8 text (values are strings: encode binary data, for example as base64)`)
  }
}

/**
 * Stdin's file status (undefined when there is none to look at: reading it
 * tells), refusing a folder (`< folder` in a shell), which would otherwise
 * read as empty text: a usage error, `<cannot>: EISDIR`.
 */
function stdinStat(cannot: string): Stats | undefined {
  let stat: Stats | undefined
  try {
    stat = fstatSync(0)
  } catch {
    return undefined
  }
  if (stat.isDirectory()) throw usageError(`${cannot}: EISDIR`)
  return stat
}

/** The whole of stdin as a string (see {@link readAll}); `what` names it in errors, such as `the value on stdin`. */
export function readStdin(what: string): Promise<string> {
  stdinStat(`cannot read ${what}`)
  return readAll(process.stdin, what)
}

/** Opens `file` for reading, with its status; a file that cannot be opened, or a folder, is a usage error: `<cannot>: CODE`. */
async function openFile(file: string, cannot: string): Promise<{ handle: FileHandle; stat: Stats }> {
  let handle: FileHandle
  try {
    handle = await open(file, 'r')
  } catch (err) {
    throw usageError(`${cannot}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const stat = await handle.stat()
  if (stat.isDirectory()) {
    await handle.close()
    throw usageError(`${cannot}: EISDIR`)
  }
  return { handle, stat }
}

/** A file's text, or stdin's for `-` or no file. */
export async function readTextSource(file: string | undefined, what: string): Promise<string> {
  if (file === undefined || file === '-') return readStdin(`${what} on stdin`)
  const { handle } = await openFile(file, `cannot read ${what} '${file}'`)
  try {
    return await readAll(handle.createReadStream({ autoClose: false }), `${what} '${file}'`)
  } finally {
    await handle.close()
  }
}

/** One line of a text stream, numbered from 1, with the bytes read so far. */
export interface Line {
  text: string
  number: number
  bytesRead: number
}

/**
 * The lines of a stream (`\n` or `\r\n` ends a line), each decoded as
 * strict UTF-8; invalid bytes are a usage error naming their line. A leading
 * byte-order mark is dropped. Lines are cut on bytes (a UTF-8 sequence never
 * holds the byte `\n`), so a long line costs one copy.
 */
export async function* readLines(stream: Readable, what: string): AsyncGenerator<Line> {
  const decoder = strictDecoder()
  let parts: Buffer[] = []
  let number = 0
  let bytesRead = 0
  const line = (bytes: Buffer): Line => {
    number++
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === 0x0d) end--
    let start = 0
    if (number === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3
    try {
      return { text: decoder.decode(bytes.subarray(start, end)), number, bytesRead }
    } catch {
      throw usageError(`${what}: line ${number} is not valid UTF-8`)
    }
  }
  for await (const data of stream) {
    const chunk = data as Buffer
    bytesRead += chunk.length
    let start = 0
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, end)
      start = end + 1
      if (parts.length === 0) yield line(piece)
      else {
        parts.push(piece)
        const whole = Buffer.concat(parts)
        parts = []
        yield line(whole)
      }
    }
    if (start < chunk.length) parts.push(chunk.subarray(start))
  }
  if (parts.length > 0) yield line(Buffer.concat(parts))
}

/**
 * A file stream (or stdin for `-`/none) and its size in bytes when known.
 * `command` starts the message of a usage error for an input that cannot be read.
 */
export async function openInput(file: string | undefined, command: string): Promise<{ stream: Readable; size: number | undefined; name: string }> {
  if (file === undefined || file === '-') {
    const stat = stdinStat(`${command}: cannot read stdin`)
    // Not a file (a pipe, a terminal): the size stays unknown.
    return { stream: process.stdin, size: stat?.isFile() === true ? stat.size : undefined, name: 'stdin' }
  }
  const { handle, stat } = await openFile(file, `${command}: cannot read '${file}'`)
  return { stream: handle.createReadStream(), size: stat.size, name: `'${file}'` }
}

/** Resolves once `stream` has taken `text`, waiting for `drain` when its buffer is full. */
export function write(stream: Writable, text: string): Promise<void> | undefined {
  if (stream.write(text)) return undefined
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.off('drain', done)
      stream.off('error', done)
      stream.off('close', closed)
      if (err !== undefined) reject(err)
      else resolve()
    }
    const closed = (): void => done()
    stream.once('drain', done)
    stream.once('error', done)
    stream.once('close', closed)
  })
}

/** Writes a raw value; on a terminal a missing final newline is added so the prompt starts on its own line. */
export function writeRaw(text: string): Promise<void> | undefined {
  const tty = process.stdout.isTTY === true
  return write(process.stdout, tty && !text.endsWith('\n') ? `${text}\n` : text)
}
