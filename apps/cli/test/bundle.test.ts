import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bin, hashes, type Result, tempDir } from "./helpers.js"

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist")
const key = "bundle-test-key-4b1d"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())

/** Runs a copy of the bundle with node, from a directory with no node_modules anywhere above it. */
const runNode = (script: string, args: ReadonlyArray<string>, cwd: string): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
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

/** dist/vt-harvest.mjs and its chunks, copied alone into a temporary directory outside the repository. */
const copyBundle = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-bundle-"))
  let up = dir
  while (path.dirname(up) !== up) {
    up = path.dirname(up)
    if (fs.existsSync(path.join(up, "node_modules"))) throw new Error(`${up} has a node_modules: no isolation`)
  }
  fs.copyFileSync(path.join(dist, "vt-harvest.mjs"), path.join(dir, "vt-harvest.mjs"))
  if (fs.existsSync(path.join(dist, "chunks"))) {
    fs.cpSync(path.join(dist, "chunks"), path.join(dir, "chunks"), { recursive: true })
  }
  return dir
}

describe("the bundled CLI", () => {
  it("is what the vt-harvest bin runs", () => {
    expect(fs.readFileSync(bin, "utf8")).toMatch(/^await import\("\.\.\/dist\/vt-harvest\.mjs"\)$/m)
    expect(fs.existsSync(path.join(dist, "vt-harvest.mjs"))).toBe(true)
  })

  it("answers --help and --version without loading the program: a copy without the program's chunks", async () => {
    const dir = copyBundle()
    // What the entry imports statically stays; every chunk only the program needs goes.
    const entry = fs.readFileSync(path.join(dir, "vt-harvest.mjs"), "utf8")
    const kept = new Set([...entry.matchAll(/from"\.\/chunks\/([\w.-]+\.mjs)"/g)].map((m) => m[1]))
    expect(kept.size).toBeGreaterThan(0)
    for (const name of fs.readdirSync(path.join(dir, "chunks"))) {
      if (!kept.has(name)) fs.rmSync(path.join(dir, "chunks", name))
    }
    const script = path.join(dir, "vt-harvest.mjs")
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
    const script = path.join(dir, "vt-harvest.mjs")

    const help = await runNode(script, ["--help"], dir)
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("vt-harvest")
    expect(help.stdout).toContain("files")

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
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(work, { recursive: true, force: true })
  })
})
