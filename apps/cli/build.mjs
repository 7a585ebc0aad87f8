// Bundles the CLI: dist/vt-harvest.cjs, which bin/vt-harvest.js requires, and dist/program.cjs, which it loads.
//
// Run after `tsc -b` (the build script is `tsc -b && node build.mjs`): tsc type-checks and emits dist/*.js, this
// step only bundles. Loading one pre-linked file instead of a few hundred ES modules is what makes
// `vt-harvest --help` start in about a quarter of the time (bench/RESULTS.md). Only this application is bundled,
// with everything it imports (effect, @effect/*, @vt-harvest/*, undici…): the packages themselves stay unbundled,
// and the bundle needs nothing at run time but Node's built-in modules.
//
// The entry (src/main.ts, 75 KiB) answers `--help` and `--version` from the model of the commands, which this script
// reads from the type-checked output (dist/Cli.js, `Cli.helpModel`) and writes into the entry: those answers then
// load neither Effect nor the program. For every other command line the entry loads the program (src/bin.ts and all
// it imports), bundled as one CommonJS file so that V8 can keep its compiled code: this script runs the program once
// (a small harvest from the emulator) and saves what V8 compiled beside it, dist/program.cjs.v8-<version>-<arch>.cache
// (src/loadProgram.ts). What the CLI needs only on demand (the S3 sink and the AWS SDK, PostgreSQL) is in the
// same file, evaluated only by the runs that need it, and compiled by them.
//
// `node build.mjs --analyze` also prints the biggest inputs of each output file.
import * as esbuild from "esbuild"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { builtinModules } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const dist = path.join(here, "dist")
const entry = "vt-harvest"
const builtins = new Set(builtinModules)

// @effect/cli parses INI, TOML and YAML files for `Options.fileParse` and friends, which vt-harvest does not use:
// their parsers (about 200 KiB, an eighth of the start-up parse) are replaced by a module that says so if called.
const unusedParsers = {
  name: "unused-config-file-parsers",
  setup(build) {
    build.onResolve(
      { filter: /^(ini|toml|yaml)$/ },
      (args) => args.importer.includes("@effect/cli") ? { path: args.path, namespace: "unused-parser" } : undefined
    )
    build.onLoad({ filter: /.*/, namespace: "unused-parser" }, (args) => ({
      contents: `const unused = () => { throw new Error("${args.path} files are not supported by vt-harvest") }
export const parse = unused, stringify = unused, decode = unused, encode = unused`,
      loader: "js"
    }))
  }
}

// pg loads its optional native binding (`pg-native`, a C++ addon) only when asked for `pg.native`, inside a
// try/catch; vt-harvest uses the JavaScript client: the binding is a module that fails to load, as if absent.
const noNativePg = {
  name: "no-native-pg",
  setup(build) {
    build.onResolve({ filter: /^pg-native$/ }, (args) => ({ path: args.path, namespace: "no-native-pg" }))
    build.onLoad({ filter: /.*/, namespace: "no-native-pg" }, () => ({
      contents: "throw new Error(\"pg-native is not part of vt-harvest\")",
      loader: "js"
    }))
  }
}

// undici's client loads its HTTP/2 half (and with it node:http2, the biggest of Node's modules a run would load: about
// 3 ms of a one-id run) when it is loaded, for connections that negotiate h2, which vt-harvest never allows: that
// half is loaded when a connection first asks for it instead. The build stops if undici's source no longer has the
// line this rewrites.
const lazyHttp2 = {
  name: "lazy-http2",
  setup(build) {
    const eager = "const connectH2 = require('./client-h2.js')"
    build.onLoad({ filter: /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/ }, (args) => {
      const source = fs.readFileSync(args.path, "utf8")
      if (source.split(eager).length !== 2) {
        throw new Error(`${args.path}: no longer holds \`${eager}\` (lazy-http2 in build.mjs)`)
      }
      return {
        contents: source.replace(eager, "const connectH2 = (...args) => require('./client-h2.js')(...args)"),
        loader: "js"
      }
    })
  }
}

const version = JSON.parse(fs.readFileSync(path.join(here, "package.json"), "utf8")).version
const { helpModel } = await import(pathToFileURL(path.join(dist, "Cli.js")).href)

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  // Identifiers keep their names, so that stack traces and `Cause.pretty` stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning"
}

// The entry, as CommonJS, which bin/vt-harvest.js requires: an ES module would cost Node its module loader at every
// start (4–5 ms, an eighth of `--help`). `VT_HARVEST_PROGRAM` names the program's file; the branch that imports the
// unbundled program (./bin.js, for tsc's output) is dead code here and is dropped.
const entryResult = await esbuild.build({
  ...common,
  entryPoints: { [entry]: path.join(here, "src", "main.ts") },
  outdir: dist,
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  banner: { js: "const importMetaUrl = require(\"node:url\").pathToFileURL(__filename).href;" },
  define: {
    "import.meta.url": "importMetaUrl",
    VT_HARVEST_VERSION: JSON.stringify(version),
    VT_HARVEST_HELP: JSON.stringify(helpModel(version)),
    VT_HARVEST_PROGRAM: JSON.stringify("./program.cjs")
  },
  plugins: [{
    name: "unbundled-program",
    setup(build) {
      build.onResolve({ filter: /^\.\/bin\.js$/ }, () => ({ path: "./bin.js", external: true }))
    }
  }]
})

// Packages the program loads only on demand that share nothing with the rest of it (no Effect): each is a CommonJS
// file of its own beside the program, read and compiled only by the runs that use it. Kept out of the program, they
// are also out of what every run holds in memory (the program's source, 1.1 MiB less).
const onDemand = {
  "@aws-sdk/client-s3": "aws-sdk.cjs", // `--out s3://…`
  pg: "pg.cjs", // `--out postgres://…`, `--quota-store`
  undici: "undici.cjs" // a proxy (`--proxy`, HTTPS_PROXY…): undici's root; without one its agent alone, in the program
}
// Where the program imports each from: its own file is bundled from there, so that it is the version the importer
// depends on.
const importedFrom = new Map()
const onDemandFiles = {
  name: "on-demand-files",
  setup(build) {
    build.onResolve({ filter: /^(@aws-sdk\/client-s3|pg|undici)$/ }, (args) => {
      importedFrom.set(args.path, args.resolveDir)
      // `import()` of an external file would stay `import()`, which a script run by node:vm cannot do: it becomes
      // `require()` of a module whose exports are the file's.
      return args.kind === "dynamic-import"
        ? { path: args.path, namespace: "on-demand" }
        : { path: `./${onDemand[args.path]}`, external: true }
    })
    build.onLoad({ filter: /.*/, namespace: "on-demand" }, (args) => ({
      contents: `module.exports = require("./${onDemand[args.path]}")`,
      loader: "js"
    }))
    build.onResolve(
      { filter: /^\.\/[\w-]+\.cjs$/, namespace: "on-demand" },
      (args) => ({ path: args.path, external: true })
    )
  }
}

// The program, as CommonJS: bundled CommonJS dependencies (undici and others) find require() and __dirname as usual.
const programResult = await esbuild.build({
  ...common,
  entryPoints: [path.join(here, "src", "bin.ts")],
  outfile: path.join(dist, "program.cjs"),
  format: "cjs",
  define: { VT_HARVEST_VERSION: JSON.stringify(version) },
  plugins: [unusedParsers, noNativePg, onDemandFiles, lazyHttp2]
})
const onDemandResults = await Promise.all(
  Object.entries(onDemand).map(([name, file]) =>
    esbuild.build({
      ...common,
      stdin: {
        contents: `module.exports = require(${JSON.stringify(name)})`,
        resolveDir: importedFrom.get(name) ?? here,
        sourcefile: file
      },
      outfile: path.join(dist, file),
      format: "cjs",
      plugins: [noNativePg, lazyHttp2]
    })
  )
)
// bin.ts starts with `#!` for the unbundled bin; the program is not run as a file of its own: a comment of the same
// length keeps every position (and so the source map).
const programFile = path.join(dist, "program.cjs")
const program = fs.readFileSync(programFile, "utf8")
if (program.startsWith("#!")) fs.writeFileSync(programFile, `//${program.slice(2)}`)

// What earlier builds wrote and this one does not: chunks of the split bundle, the entry as an ES module, caches of
// other builds.
fs.rmSync(path.join(dist, "chunks"), { recursive: true, force: true })
for (const name of [`${entry}.mjs`, `${entry}.mjs.map`]) fs.rmSync(path.join(dist, name), { force: true })
for (const name of fs.readdirSync(dist)) {
  if (/^program\.cjs\.v8-.*\.cache$/.test(name)) fs.rmSync(path.join(dist, name))
}

const outputs = [entryResult, programResult, ...onDemandResults].flatMap((result) =>
  Object.entries(result.metafile.outputs).filter(([file]) => /\.(mjs|cjs)$/.test(file))
)
const external = outputs
  .flatMap(([, output]) => output.imports)
  .filter((entry) =>
    entry.external && entry.path !== "./bin.js" && !Object.values(onDemand).includes(entry.path.slice(2)) &&
    !entry.path.startsWith("node:") &&
    !builtins.has(entry.path.split("/")[0])
  )
  .map((entry) => entry.path)
if (external.length > 0) {
  process.stderr.write(`build.mjs: the bundle imports packages at run time: ${[...new Set(external)].join(", ")}\n`)
  process.exit(1)
}
const entryText = fs.readFileSync(path.join(dist, `${entry}.cjs`), "utf8")
if (entryText.includes("./bin.js") || /\bimport\(/.test(entryText)) {
  process.stderr.write("build.mjs: the entry still imports the unbundled program\n")
  process.exit(1)
}
// A script run by node:vm has no `import()`: every on-demand load of the program must be a `require`.
if (/\bimport\(/.test(fs.readFileSync(programFile, "utf8"))) {
  process.stderr.write("build.mjs: the program still holds an import(), which fails when it runs as a script\n")
  process.exit(1)
}
for (const [file, output] of outputs) {
  process.stdout.write(
    `${path.relative(here, path.resolve(process.cwd(), file))}: ${(output.bytes / 1024).toFixed(0)} KiB\n`
  )
}

// V8's compiled code of the program, from one run of it: 6 ids (5 reports, 1 not found) from the emulator, in a
// directory of its own, with nothing of the builder's environment but PATH.
const { VtEmulator } = await import("@vt-harvest/vt-emulator")
const key = "build-cache-key"
const server = await VtEmulator.start({ apiKeys: [key] })
const work = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-build-"))
let failure
try {
  const ids = []
  for (let i = 0; ids.length < 6; i++) {
    const id = createHash("sha256").update(`build-${i}`).digest("hex")
    if (VtEmulator.isKnown(id) === ids.length < 5) ids.push(id)
  }
  fs.writeFileSync(path.join(work, "ids.txt"), `${ids.join("\n")}\n`)
  const loader = pathToFileURL(path.join(dist, "loadProgram.js")).href
  const generator = path.join(work, "generate.mjs")
  fs.writeFileSync(
    generator,
    [
      "import * as fs from \"node:fs\"",
      `import * as Program from ${JSON.stringify(loader)}`,
      `const program = ${JSON.stringify(programFile)}`,
      "const script = Program.run(program, { script: true })",
      "process.on(\"exit\", () => {",
      "  const data = script.createCachedData()",
      "  fs.writeFileSync(Program.cacheFile(program), Program.cacheContent(fs.readFileSync(program), data))",
      "})"
    ].join("\n")
  )
  const args = [
    generator,
    "files",
    "ids.txt",
    "-o",
    "out",
    "--log-dir",
    "log",
    "--base-url",
    server.url,
    "--tier",
    "premium",
    "--concurrency",
    "2",
    "--no-progress"
  ]
  // Not spawnSync: the emulator answers from this process. A run that has not ended in a minute is stopped.
  const child = await new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, {
      cwd: work,
      env: { PATH: process.env.PATH ?? "", HOME: work, VT_API_KEY: key },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 60_000
    })
    let stderr = ""
    proc.stderr.on("data", (chunk) => (stderr += chunk))
    proc.on("error", reject)
    proc.on("close", (status, signal) => resolve({ status: status ?? signal, stderr }))
  })
  const saved = fs.existsSync(path.join(work, "out"))
    ? fs.readdirSync(path.join(work, "out")).filter((name) => name.endsWith(".json"))
    : []
  if (child.status !== 0 || saved.length !== 5) {
    failure = `the run that compiles the program failed (exit ${child.status}, ${saved.length} saved):\n${child.stderr}`
  }
} catch (error) {
  failure = `the run that compiles the program did not start: ${error}`
} finally {
  await server.close()
  fs.rmSync(work, { recursive: true, force: true })
}
if (failure !== undefined) {
  process.stderr.write(`build.mjs: ${failure}\n`)
  process.exit(1)
}
const caches = fs.readdirSync(dist).filter((name) => /^program\.cjs\.v8-.*\.cache$/.test(name))
for (const name of caches) {
  process.stdout.write(`dist/${name}: ${(fs.statSync(path.join(dist, name)).size / 1024).toFixed(0)} KiB\n`)
}
if (caches.length !== 1) {
  process.stderr.write("build.mjs: no compiled code of the program was saved\n")
  process.exit(1)
}
if (process.argv.includes("--analyze")) {
  for (const result of [entryResult, programResult, ...onDemandResults]) {
    process.stdout.write(await esbuild.analyzeMetafile(result.metafile, { verbose: false }))
  }
}
