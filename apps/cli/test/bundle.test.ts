import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Program from "../src/loadProgram.js"
import { bin, hashes, type Result, tempDir } from "./helpers.js"

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist")
const key = "bundle-test-key-4b1d"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())

/** Runs a copy of the bundle with node, from a directory with no node_modules anywhere above it. */
const runNode = (
  script: string,
  args: ReadonlyArray<string>,
  cwd: string,
  nodeArgs: ReadonlyArray<string> = []
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: cwd, VT_API_KEY: key },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

/** What the package ships of dist/ (package.json `files`): the entry, the program and V8's code of it. */
const shipped = (): Array<string> =>
  fs.readdirSync(dist).filter((name) => /^([\w-]+\.cjs|program\.cjs\.v8-.*\.cache)$/.test(name))

/** The bundle (the files the package ships), copied alone into a temporary directory outside the repository. */
const copyBundle = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-bundle-"))
  let up = dir
  while (path.dirname(up) !== up) {
    up = path.dirname(up)
    if (fs.existsSync(path.join(up, "node_modules"))) throw new Error(`${up} has a node_modules: no isolation`)
  }
  for (const name of shipped()) fs.copyFileSync(path.join(dist, name), path.join(dir, name))
  return dir
}

/** Runs `script` (a copy of the entry) on 3 known ids from the emulator: every report saved, byte for byte. */
const expectHarvest = async (script: string): Promise<void> => {
  const work = tempDir("vt-harvest-bundle-run-")
  const ids = hashes(3, true, "bundle")
  fs.writeFileSync(path.join(work, "in.txt"), ids.join("\n") + "\n")
  const run = await runNode(
    script,
    ["files", "in.txt", "-o", "out", "--log-dir", "log", "--base-url", server.url, "--per-minute", "60000"],
    work
  )
  expect(run.stderr).toContain("summary: saved 3, not found 0, skipped 0, invalid 0, failed 0")
  expect(run.code).toBe(0)
  for (const id of ids) {
    expect(Buffer.compare(fs.readFileSync(path.join(work, "out", `${id}.json`)), VtEmulator.fileDocument(id))).toBe(
      0
    )
  }
  fs.rmSync(work, { recursive: true, force: true })
}

describe("the bundled CLI", () => {
  it("is what the vt-harvest bin runs", () => {
    expect(fs.readFileSync(bin, "utf8")).toMatch(/^require\("\.\.\/dist\/vt-harvest\.cjs"\)$/m)
    // The bin is CommonJS although the package is "type": "module".
    expect(JSON.parse(fs.readFileSync(path.join(path.dirname(bin), "package.json"), "utf8"))).toEqual({
      type: "commonjs"
    })
    expect(fs.existsSync(path.join(dist, "vt-harvest.cjs"))).toBe(true)
  })

  it("answers --help and --version without loading the program: a copy without the program", async () => {
    const dir = copyBundle()
    expect(fs.readdirSync(dir)).toEqual(expect.arrayContaining(["vt-harvest.cjs", "program.cjs"]))
    for (const name of fs.readdirSync(dir)) if (name !== "vt-harvest.cjs") fs.rmSync(path.join(dir, name))
    const script = path.join(dir, "vt-harvest.cjs")
    const help = await runNode(script, ["files", "--help"], dir)
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^USAGE\n {2}vt-harvest files \[options\] <input>/)
    const version = await runNode(script, ["--version"], dir)
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n\n$/)
    // A command line that needs the program fails to load it here.
    expect((await runNode(script, ["quota"], dir)).code).not.toBe(0)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("needs no package at run time: a copy outside the repository prints its help and harvests", async () => {
    const dir = copyBundle()
    const script = path.join(dir, "vt-harvest.cjs")

    const help = await runNode(script, ["--help"], dir)
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("vt-harvest")
    expect(help.stdout).toContain("files")

    await expectHarvest(script)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("reads the AWS SDK, PostgreSQL's client and undici's root only when a run needs them", async () => {
    const dir = copyBundle()
    for (const name of ["aws-sdk.cjs", "pg.cjs", "undici.cjs"]) fs.rmSync(path.join(dir, name))
    await expectHarvest(path.join(dir, "vt-harvest.cjs"))
    // A run that needs one of them says it cannot load it.
    const work = tempDir("vt-harvest-bundle-run-")
    fs.writeFileSync(path.join(work, "in.txt"), `${hashes(1, true, "bundle")[0]}\n`)
    const s3 = await runNode(
      path.join(dir, "vt-harvest.cjs"),
      ["files", "in.txt", "-o", "s3://bucket/prefix", "--base-url", server.url],
      work
    )
    expect(s3.code).not.toBe(0)
    expect(s3.stderr).toContain("aws-sdk.cjs")
    fs.rmSync(work, { recursive: true, force: true })
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("loads undici's HTTP/2 client, and node:http2 with it, only for a connection that negotiates h2: never", async () => {
    const work = tempDir("vt-harvest-bundle-run-")
    const ids = hashes(2, true, "bundle")
    fs.writeFileSync(path.join(work, "in.txt"), ids.join("\n") + "\n")
    // Node's list of the modules it loaded, written as the process ends.
    fs.writeFileSync(
      path.join(work, "modules.cjs"),
      "process.on('exit', () => require('node:fs').writeFileSync('modules.json', JSON.stringify(process.moduleLoadList)))"
    )
    const run = await runNode(
      path.join(dist, "vt-harvest.cjs"),
      ["files", "in.txt", "-o", "out", "--log-dir", "log", "--base-url", server.url, "--per-minute", "60000"],
      work,
      ["--require", "./modules.cjs"]
    )
    expect(run.stderr).toContain("summary: saved 2, not found 0")
    const loaded: Array<string> = JSON.parse(fs.readFileSync(path.join(work, "modules.json"), "utf8"))
    expect(loaded).toContain("NativeModule net")
    expect(loaded.filter((name) => name.includes("http2"))).toEqual([])
    fs.rmSync(work, { recursive: true, force: true })
  })

  it("loads the program with the code V8 compiled of it at build time, which this Node takes", () => {
    const script = Program.compile(path.join(dist, "program.cjs"))
    expect(script).toBeDefined()
    expect(script?.cachedDataRejected).toBe(false)
  })

  it("ships no path of the directory it was built in: the program's code carries the package's name for it", () => {
    const cache = fs.readFileSync(Program.cacheFile(path.join(dist, "program.cjs")))
    expect(cache.includes(Buffer.from(path.resolve(dist, "..", "..", "..")))).toBe(false)
    expect(cache.includes(Buffer.from(Program.scriptName))).toBe(true)
    const script = Program.compile(path.join(dist, "program.cjs"))
    expect(script?.cachedDataRejected).toBe(false)
  })

  it("compiles the program with V8's WebAssembly tiering budget raised, as the build did: without it V8 refuses the code", () => {
    // In a process of its own, which sets no flag: the same compile as the loader's, without the flag.
    const check = spawnSync(process.execPath, [
      "-e",
      [
        "const fs = require('node:fs'), vm = require('node:vm')",
        "const [program, cache] = process.argv.slice(1)",
        "const source = `(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(program, 'utf8')}\\n})`",
        `const script = new vm.Script(source, { filename: ${
          JSON.stringify(Program.scriptName)
        }, cachedData: fs.readFileSync(cache).subarray(32) })`,
        "process.stdout.write(String(script.cachedDataRejected))"
      ].join("\n"),
      path.join(dist, "program.cjs"),
      Program.cacheFile(path.join(dist, "program.cjs"))
    ], { encoding: "utf8" })
    expect(check.stderr).toBe("")
    expect(check.stdout).toBe("true")
    expect(Program.compile(path.join(dist, "program.cjs"))?.cachedDataRejected).toBe(false)
  })

  it("raises that budget only on the V8 versions known to have the flag, and not over the user's own flags", () => {
    const flag = "--wasm-tiering-budget=100000000"
    expect(Program.wasmTieringFlag("11.3.244.8-node.38", [], undefined)).toBe(flag)
    expect(Program.wasmTieringFlag("12.4.254.21-node.33", ["--max-old-space-size=512"], "--trace-warnings")).toBe(flag)
    expect(Program.wasmTieringFlag("13.6.233.10-node.18", [], "")).toBe(flag)
    // Unknown to us: an unknown flag would make V8 print an error.
    expect(Program.wasmTieringFlag("10.2.154.26-node.26", [], undefined)).toBeUndefined()
    expect(Program.wasmTieringFlag("14.1.0.0", [], undefined)).toBeUndefined()
    // The user's own choice of how to compile WebAssembly stands.
    expect(Program.wasmTieringFlag("11.3.244.8-node.38", ["--liftoff-only"], undefined)).toBeUndefined()
    expect(Program.wasmTieringFlag("11.3.244.8-node.38", [], "--max-old-space-size=512  --wasm_tiering_budget=5"))
      .toBeUndefined()
    expect(Program.wasmTieringFlag("11.3.244.8-node.38", [], "--no-wasm-dynamic-tiering")).toBeUndefined()
  })

  it("harvests without that code, or with code that is not the build's (garbage, one byte changed, a FIFO)", async () => {
    const dir = copyBundle()
    const program = path.join(dir, "program.cjs")
    const [cache] = fs.readdirSync(dir).filter((name) => name.endsWith(".cache"))
    const file = path.join(dir, cache!)
    const good = fs.readFileSync(file)
    // One byte changed in the middle: V8 checks only its version, its flags and the source's length, and runs
    // such code (a fatal error, exit 133, with this byte).
    const flipped = Buffer.from(good)
    flipped[1_000_000] ^= 0xaa
    for (const bad of [Buffer.alloc(4096, 7), flipped]) {
      fs.writeFileSync(file, bad)
      expect(Program.compile(program)).toBeUndefined()
      await expectHarvest(path.join(dir, "vt-harvest.cjs"))
    }
    // Not a file to read (reading a FIFO would wait for a writer forever).
    fs.rmSync(file)
    spawnSync("mkfifo", [file])
    expect(Program.compile(program)).toBeUndefined()
    await expectHarvest(path.join(dir, "vt-harvest.cjs"))
    fs.rmSync(file)
    expect(Program.compile(program)).toBeUndefined()
    await expectHarvest(path.join(dir, "vt-harvest.cjs"))
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("runs the program as it is on disk: an edit that keeps its length is not hidden by the build's code", async () => {
    const dir = copyBundle()
    const program = path.join(dir, "program.cjs")
    const text = fs.readFileSync(program, "utf8")
    expect(text).toContain("`summary: ${")
    fs.writeFileSync(program, text.replace("`summary: ${", "`SUMMARY! ${"))
    expect(Program.compile(program)).toBeUndefined()
    const work = tempDir("vt-harvest-bundle-run-")
    fs.writeFileSync(path.join(work, "in.txt"), `${hashes(1, true, "bundle")[0]}\n`)
    const run = await runNode(
      path.join(dir, "vt-harvest.cjs"),
      ["files", "in.txt", "-o", "out", "--base-url", server.url, "--no-progress"],
      work
    )
    expect(run.stderr).toContain("SUMMARY! saved 1")
    fs.rmSync(work, { recursive: true, force: true })
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
