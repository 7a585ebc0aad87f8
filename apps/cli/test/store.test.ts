// The store on disk at its edges, on the built CLI: nothing written or deleted through a symbolic link out of --out
// (`_not_found`, `_analyses`), and the start-up clean-up removes only abandoned temporaries of the tool, never a live
// process's nor a file that merely looks like one.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { emulatorSuite, hashes, readJsonFiles, runCli } from "./helpers.js"

const key = "store-test-key-Lq58dN2wF6"
const suite = emulatorSuite(key, "store")
const scratch = suite.scratch

const common = ["--log-dir", "log", "--tier", "premium", "--no-progress"]

describe("nothing through a symbolic link out of --out", () => {
  it("a _not_found that links elsewhere: refused before any request, nothing written or deleted there", async () => {
    const dir = scratch()
    const outside = path.join(dir, "outside")
    fs.mkdirSync(outside)
    const unknown = hashes(2, false, "links")
    // A not-found record that a saved report would delete, were the link followed.
    fs.writeFileSync(path.join(outside, `${unknown[0]}.json`), "kept")
    fs.mkdirSync(path.join(dir, "out"))
    fs.symlinkSync(outside, path.join(dir, "out", "_not_found"))
    fs.writeFileSync(path.join(dir, "list.txt"), [...unknown, ...hashes(1, true, "links")].join("\n"))
    const result = await runCli(["files", "list.txt", "-o", "out", "--base-url", suite.server.url, ...common], {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("symbolic link")
    expect(fs.readdirSync(outside)).toEqual([`${unknown[0]}.json`])
    expect(fs.readFileSync(path.join(outside, `${unknown[0]}.json`), "utf8")).toBe("kept")
    expect(suite.server.requests.filter((r) => r.path.includes("/files/"))).toHaveLength(0)
  }, 30_000)

  it("an _analyses that links elsewhere: analysis refuses it, nothing written there", async () => {
    const dir = scratch()
    const outside = path.join(dir, "outside")
    fs.mkdirSync(outside)
    fs.mkdirSync(path.join(dir, "out"))
    fs.symlinkSync(outside, path.join(dir, "out", "_analyses"))
    const result = await runCli(
      ["analysis", `u-${"b".repeat(64)}-1700000000`, "-o", "out", "--base-url", suite.server.url, ...common],
      { cwd: dir, env: { VT_API_KEY: key } }
    )
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("symbolic link")
    expect(fs.readdirSync(outside)).toEqual([])
  }, 30_000)
})

describe("a directory where a record is written", () => {
  it("stops the run before the request whose answer it could not keep, run after run", async () => {
    const dir = scratch()
    const [known] = hashes(1, true, "blocked")
    const [unknown] = hashes(1, false, "blocked")
    fs.mkdirSync(path.join(dir, "out", "_not_found"), { recursive: true })
    for (const [id, file] of [[known, `${known}.json`], [unknown, path.join("_not_found", `${unknown}.json`)]]) {
      fs.mkdirSync(path.join(dir, "out", file))
      fs.writeFileSync(path.join(dir, "list.txt"), `${id}\n`)
      suite.server.clearLog()
      for (let run = 0; run < 2; run++) {
        const result = await runCli(["files", "list.txt", "-o", "out", "--base-url", suite.server.url, ...common], {
          cwd: dir,
          env: { VT_API_KEY: key }
        })
        expect(result.code, result.stderr).toBe(1)
        expect(result.stderr).toContain(`${path.join(dir, "out", file)} is a directory where a record is written`)
        // Before, each run fetched the report, then failed to rename it onto the directory.
        expect(suite.server.requests.filter((r) => r.path.includes("/files/"))).toHaveLength(0)
      }
      fs.rmdirSync(path.join(dir, "out", file))
    }
  }, 30_000)
})

describe("a saved report that cannot be read", () => {
  it(
    "larger than any record: a run that must read it (--relationships) fetches it again, the run goes on",
    async () => {
      const dir = scratch()
      const [id] = hashes(1, true, "oversized")
      fs.mkdirSync(path.join(dir, "out"), { recursive: true })
      const report = path.join(dir, "out", `${id}.json`)
      // Sparse: 80 MiB on paper, more than a record holds (64 MiB); reading it whole was refused by stopping the run.
      fs.closeSync(fs.openSync(report, "w"))
      fs.truncateSync(report, 80 * 1024 * 1024)
      fs.writeFileSync(path.join(dir, "list.txt"), `${id}\n`)
      const result = await runCli(
        [
          "files",
          "list.txt",
          "-o",
          "out",
          "--base-url",
          suite.server.url,
          "--relationships",
          "contacted_domains",
          ...common
        ],
        { cwd: dir, env: { VT_API_KEY: key } }
      )
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toContain("summary: saved 1")
      expect(fs.statSync(report).size).toBeLessThan(1024 * 1024)
      expect(JSON.parse(fs.readFileSync(report, "utf8")).data.id).toBe(id)
    },
    30_000
  )
})

describe("temporaries", () => {
  it("start-up clean-up: an abandoned temporary goes; a live process's, and look-alikes, stay", async () => {
    const dir = scratch()
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    // A process that is alive while the run starts, and one that is gone.
    const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" })
    const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
    await new Promise((resolve) => gone.on("exit", resolve))
    try {
      const liveTemp = `.vt-harvest-tmp-${live.pid}-0123456789abcdef`
      const deadTemp = `.vt-harvest-tmp-${gone.pid}-fedcba9876543210`
      const lookalikes = [".vt-harvest-tmp-notapid-0123456789abcdef", ".my-notes.tmp", "draft.tmp"]
      for (const name of [liveTemp, deadTemp, ...lookalikes]) fs.writeFileSync(path.join(out, name), "partial")
      const ids = hashes(2, true, "temps")
      fs.writeFileSync(path.join(dir, "list.txt"), ids.join("\n"))
      const result = await runCli(["files", "list.txt", "-o", "out", "--base-url", suite.server.url, ...common], {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      expect(result.code).toBe(0)
      expect(readJsonFiles(out)).toEqual(ids.map((id) => `${id}.json`).sort())
      const left = fs.readdirSync(out).filter((name) => !name.endsWith(".json") && name !== "_not_found").sort()
      expect(left).toEqual([liveTemp, ...lookalikes].sort())
    } finally {
      live.kill()
    }
  }, 30_000)
})
