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
import type * as V8 from "node:v8"
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
 * The V8 flag that keeps a short run from ending in a wait for V8's optimizing compiler, or undefined where it is not
 * to be set.
 *
 * undici parses HTTP with a WebAssembly module (llhttp), and V8 starts compiling its main function with its
 * optimizing compiler after a couple of answers (V8 11's `--wasm-tiering-budget` is 1,800,000). That function is
 * large: the compile takes about 70 ms on a background thread, and a process that ends meanwhile waits for it (Node
 * joins V8's threads at exit, `process.exit` included): a third of a one-id run (bench/RESULTS.md, section a). With a
 * budget of 100,000,000 a one-id run never asks for that compile (16,000,000 was not enough) and a long run still gets
 * the optimized parser after its first reports (10,000 reports cost no more CPU than without the flag).
 *
 * Only on the V8 versions known to have the flag (an unknown flag makes V8 print an error), and not when the command
 * line or NODE_OPTIONS already says how to compile WebAssembly.
 *
 * @since 0.3.0
 * @category loading
 */
export const wasmTieringFlag = (
  v8Version: string,
  execArgv: ReadonlyArray<string>,
  nodeOptions: string | undefined
): string | undefined => {
  const major = Number(v8Version.split(".")[0])
  if (!(major >= 11 && major <= 13)) return undefined
  const given = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)]
  const wasmFlag = /^--(no-)?(wasm|liftoff)/
  return given.some((flag) => wasmFlag.test(flag.replace(/_/g, "-"))) ? undefined : "--wasm-tiering-budget=100000000"
}

// Set before the program is compiled, in the build's run as in every other: V8 keeps the flags its data was made
// with in the data, and refuses data made with other flags.
const setWasmTiering = (): void => {
  const flag = wasmTieringFlag(process.versions.v8, process.execArgv, process.env.NODE_OPTIONS)
  if (flag !== undefined) (nodeRequire("node:v8") as typeof V8).setFlagsFromString(flag)
}

/**
 * A CommonJS file's source as one function expression with CommonJS's parameters, the same wrapper Node puts around
 * it, on its first line so that line numbers (and the source map) still match.
 */
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) { ${source}\n})`

/**
 * Compiles `program` (a CommonJS file) as a script, with V8's data from {@link cacheFile} if there is a file for this
 * V8 and it is the data of this program (`cachedDataRejected` then says whether V8 took it), or from its source alone
 * if `always` (the build) and there is none; otherwise undefined, and Node's own loader is the better choice. Sets
 * {@link wasmTieringFlag} first.
 *
 * @since 0.3.0
 * @category loading
 */
export const compile = (program: string, always = false): vm.Script | undefined => {
  setWasmTiering()
  const source = fs.readFileSync(program)
  const stored = readRegularFile(cacheFile(program))
  const data = stored?.subarray(digestLength)
  const cachedData = stored !== undefined && data !== undefined && data.length > 0 &&
      digest(source, data).equals(stored.subarray(0, digestLength))
    ? data
    : undefined
  if (cachedData === undefined && !always) return undefined
  return new vm.Script(wrap(source.toString("utf8")), { filename: scriptName, cachedData })
}

/**
 * The name the program's code carries in stack traces. V8 keeps the name the code was compiled under in its cached
 * data, and shows it wherever the program is installed: the path of the build's directory would be shipped in every
 * copy, and shown in place of the user's. One name, the same at build time and run time, in the package's own terms.
 *
 * @since 0.3.0
 * @category loading
 */
export const scriptName = "@vt-harvest/cli/dist/program.cjs"

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
