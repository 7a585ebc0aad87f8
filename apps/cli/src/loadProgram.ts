/**
 * Loading the bundled program (dist/program.cjs, build.mjs) with the compiled code V8 kept of it at build time.
 *
 * Parsing and compiling the program's JavaScript was a third of a one-id run's start on Node 20 (bench/RESULTS.md,
 * section a), which has no compile cache of its own. The build runs the program once and saves what V8 compiled
 * (`vm.Script#createCachedData`) beside it, in a file named by the V8 version that made it; a start on that same V8
 * hands it back (`cachedData`) and skips the compile. On any other Node, or without the file, the program is loaded
 * by `require` as any CommonJS file (from Node 22.1 Node's own compile cache then does the same job, bin/vt-harvest.js
 * enables it). V8 refuses data made by another version or with other flags, but checks no more of the source than
 * its length and nothing of the data itself (a changed byte can stop the process with a fatal error): the file
 * starts with a SHA-256 of the program and the data, and data that does not match it is not used.
 *
 * @since 0.3.0
 */
import type * as Crypto from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as vm from "node:vm"

/**
 * The file beside `program` that holds V8's compiled code for it, named by the running V8's version and the machine
 * (code for another is of no use).
 *
 * @since 0.3.0
 * @category loading
 */
export const cacheFile = (program: string): string =>
  `${program}.v8-${process.versions.v8.replace(/[^\w.-]/g, "_")}-${process.arch}.cache`

const digestLength = 32

// node:crypto is loaded only to load the program: the entry that imports this module answers `--help` without it.
const nodeRequire = createRequire(import.meta.url)

/** What binds V8's data to the program it was made from: the SHA-256 of the program's bytes, then the data's. */
const digest = (program: Uint8Array, data: Uint8Array): Buffer =>
  (nodeRequire("node:crypto") as typeof Crypto).createHash("sha256").update(program).update(data).digest()

/**
 * What {@link cacheFile} holds: the digest of `program` (its bytes) and `data` (what V8 compiled of it), then `data`.
 *
 * @since 0.3.0
 * @category loading
 */
export const cacheContent = (program: Uint8Array, data: Uint8Array): Buffer =>
  Buffer.concat([digest(program, data), data])

/**
 * The bytes of `file` if it is a regular file, else undefined: a FIFO or a device in its place is not read (opened
 * without waiting for a writer).
 */
const readRegularFile = (file: string): Buffer | undefined => {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))
  } catch {
    return undefined
  }
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : undefined
  } catch {
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * A CommonJS file's source as one function expression with CommonJS's parameters, the same wrapper Node puts around
 * it, on its first line so that line numbers (and the source map) still match.
 */
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) { ${source}\n})`

/**
 * Compiles `program` (a CommonJS file) as a script, with V8's data from {@link cacheFile} if there is a file for this
 * V8 and it is the data of this program (`cachedDataRejected` then says whether V8 took it), or from its source alone
 * if `always` (the build) and there is none; otherwise undefined, and Node's own loader is the better choice.
 *
 * @since 0.3.0
 * @category loading
 */
export const compile = (program: string, always = false): vm.Script | undefined => {
  const source = fs.readFileSync(program)
  const stored = readRegularFile(cacheFile(program))
  const data = stored?.subarray(digestLength)
  const cachedData = stored !== undefined && data !== undefined && data.length > 0 &&
      digest(source, data).equals(stored.subarray(0, digestLength))
    ? data
    : undefined
  if (cachedData === undefined && !always) return undefined
  return new vm.Script(wrap(source.toString("utf8")), { filename: program, cachedData })
}

/**
 * Runs `program` (a CommonJS file) in this process: compiled by {@link compile} when there is V8 code for it, loaded
 * by `require` otherwise. `script: true` (the build) always runs it as a script, and returns that script so that what
 * V8 compiled while it ran can be saved.
 *
 * @since 0.3.0
 * @category loading
 */
export const run = (program: string, options?: { readonly script?: boolean }): vm.Script | undefined => {
  const require = createRequire(program)
  const script = compile(program, options?.script === true)
  if (script === undefined) {
    require(program)
    return undefined
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, require, module, program, path.dirname(program))
  return script
}
