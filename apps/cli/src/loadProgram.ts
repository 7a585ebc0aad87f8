/**
 * Loading the bundled program (dist/program.cjs, build.mjs) with the compiled code V8 kept of it at build time.
 *
 * Parsing and compiling the program's JavaScript was a third of a one-id run's start on Node 20 (bench/RESULTS.md,
 * section a), which has no compile cache of its own. The build runs the program once and saves what V8 compiled
 * (`vm.Script#createCachedData`) beside it, in a file named by the V8 version that made it; a start on that same V8
 * hands it back (`cachedData`) and skips the compile. On any other Node, or without the file, the program is loaded
 * by `require` as any CommonJS file (from Node 22.1 Node's own compile cache then does the same job, bin/vt-harvest.js
 * enables it). V8 itself refuses data that does not fit the source or its flags, and then simply compiles.
 *
 * @since 0.3.0
 */
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

/**
 * A CommonJS file's source as one function expression with CommonJS's parameters, the same wrapper Node puts around
 * it, on its first line so that line numbers (and the source map) still match.
 */
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) { ${source}\n})`

/**
 * Compiles `program` (a CommonJS file) as a script, with V8's compiled code from {@link cacheFile} if there is one for
 * this V8 (`cachedDataRejected` then says whether V8 took it), or from its source alone if `always` (the build) and
 * there is none; otherwise undefined, and Node's own loader is the better choice.
 *
 * @since 0.3.0
 * @category loading
 */
export const compile = (program: string, always = false): vm.Script | undefined => {
  let cachedData: Buffer | undefined
  try {
    cachedData = fs.readFileSync(cacheFile(program))
  } catch {
    if (!always) return undefined
  }
  return new vm.Script(wrap(fs.readFileSync(program, "utf8")), { filename: program, cachedData })
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
