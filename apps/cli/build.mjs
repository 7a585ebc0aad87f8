// Bundles the CLI into dist/vt-harvest.mjs, which bin/vt-harvest.js imports.
//
// Run after `tsc -b` (the build script is `tsc -b && node build.mjs`): tsc type-checks and emits dist/*.js, this
// step only bundles. Loading one pre-linked file instead of a few hundred ES modules is what makes
// `vt-harvest --help` start in about a quarter of the time (bench/RESULTS.md). Only this application is bundled,
// with everything it imports (effect, @effect/*, @vt-harvest/*, undici…): the packages themselves stay unbundled,
// and the bundle needs nothing at run time but Node's built-in modules.
//
// Code splitting keeps dynamic imports lazy: what the CLI loads only on demand (the S3 sink and the AWS SDK, for
// `--out s3://…`) goes to dist/chunks/ and is read only by the runs that need it.
//
// The entry (src/main.ts) answers `--help` and `--version` from the model of the commands, which this script reads
// from the type-checked output (dist/Cli.js, `Cli.helpModel`) and writes into the entry: those answers then load
// neither Effect nor the program, which the entry imports (as a chunk) for every other command line.
//
// `node build.mjs --analyze` also prints the biggest inputs of each output file.
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { builtinModules } from "node:module"
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

const version = JSON.parse(fs.readFileSync(path.join(here, "package.json"), "utf8")).version
const { helpModel } = await import(pathToFileURL(path.join(dist, "Cli.js")).href)

const result = await esbuild.build({
  entryPoints: { [entry]: path.join(here, "src", "main.ts") },
  outdir: dist,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Identifiers keep their names, so that stack traces and `Cause.pretty` stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  legalComments: "linked",
  // Bundled CommonJS dependencies (undici and others) call require() on Node's built-in modules and may read
  // __dirname; an ES module has neither, so every output file defines them first.
  banner: {
    js: [
      "import { createRequire as __vtCreateRequire } from \"node:module\";",
      "import { fileURLToPath as __vtFileURLToPath } from \"node:url\";",
      "import { dirname as __vtDirname } from \"node:path\";",
      "const require = __vtCreateRequire(import.meta.url);",
      "const __filename = __vtFileURLToPath(import.meta.url);",
      "const __dirname = __vtDirname(__filename);"
    ].join("")
  },
  metafile: true,
  // `vt-harvest --version` says the version being built; `--help` is rendered from the commands' model.
  define: {
    VT_HARVEST_VERSION: JSON.stringify(version),
    VT_HARVEST_HELP: JSON.stringify(helpModel(version))
  },
  plugins: [unusedParsers, noNativePg],
  logLevel: "warning"
})

// Chunks of earlier builds are removed once the new files are in place (not before: a CLI started meanwhile keeps
// working), so that dist/chunks does not accumulate stale files.
const written = new Set(Object.keys(result.metafile.outputs).map((file) => path.resolve(process.cwd(), file)))
const chunkDir = path.join(dist, "chunks")
for (const name of fs.existsSync(chunkDir) ? fs.readdirSync(chunkDir) : []) {
  if (!written.has(path.join(chunkDir, name))) fs.rmSync(path.join(chunkDir, name), { force: true })
}

const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith(".mjs"))
const external = outputs
  .flatMap(([, output]) => output.imports)
  .filter((entry) => entry.external && !entry.path.startsWith("node:") && !builtins.has(entry.path.split("/")[0]))
  .map((entry) => entry.path)
if (external.length > 0) {
  process.stderr.write(`build.mjs: the bundle imports packages at run time: ${[...new Set(external)].join(", ")}\n`)
  process.exit(1)
}

for (const [file, output] of outputs) {
  const name = path.relative(here, path.resolve(process.cwd(), file))
  if (name === path.join("dist", `${entry}.mjs`) || process.argv.includes("--analyze")) {
    process.stdout.write(`${name}: ${(output.bytes / 1024).toFixed(0)} KiB\n`)
  }
}
const chunks = outputs.length - 1
if (chunks > 0) process.stdout.write(`dist/chunks: ${chunks} chunk${chunks === 1 ? "" : "s"} loaded on demand\n`)
if (process.argv.includes("--analyze")) {
  process.stdout.write(await esbuild.analyzeMetafile(result.metafile, { verbose: false }))
}
