// The process edges on the built CLI: a reader that goes away (stderr or stdout closed: `vt-harvest … 2>&1 | head`),
// SIGHUP (the terminal closed), SIGINT while the start-up quota probe is in flight. Each stops the run as SIGTERM
// does: requests in flight abandoned, the summary printed where it still can be and logged, the log ended by `end`.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cliWords, emulatorSuite, hashes, readJsonFiles, runLog, runShell, sh, startCli } from "./helpers.js"
import * as Hostile from "./hostileServer.js"

const key = "signals-test-key-Pz93kW1nB7"
const suite = emulatorSuite(key, "signals")
const scratch = suite.scratch

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const fileRequests = () => suite.server.requests.filter((r) => r.path.includes("/files/"))
const logOf = (dir: string) =>
  fs.readdirSync(path.join(dir, "log")).map((name) => fs.readFileSync(path.join(dir, "log", name), "utf8")).join("")

const args = (base: string) => [
  "-o",
  "out",
  "--log-dir",
  "log",
  "--base-url",
  base,
  "--tier",
  "premium",
  "--concurrency",
  "1",
  "--no-progress"
]

/**
 * 600 ids with an invalid line after the 450th: the reader reaches it (and warns on stderr) once a few hundred ids are
 * done, well after the reader of stderr went away, and well before the run would end.
 */
const longList = (dir: string) => {
  const ids = hashes(600, true, "signals")
  fs.writeFileSync(path.join(dir, "list.txt"), [...ids.slice(0, 450), "not-a-hash", ...ids.slice(450)].join("\n"))
  return ids
}

const expectEndedLog = (dir: string) => {
  const log = logOf(dir)
  expect(log).toContain("WARNING - stopped by a signal")
  expect(log).toMatch(/INFO - summary: saved \d+, not found 0, /)
  expect(log.trimEnd()).toMatch(/ - end$/)
}

describe("a reader that goes away stops the run as SIGTERM would: exit 141, the log ends with its summary", () => {
  it(
    "`vt-harvest files list 2>&1 | head -1`: exit 141, not every id fetched, the log ends with summary and end",
    async () => {
      const dir = scratch()
      const ids = longList(dir)
      suite.server.update({ latencyMs: 10 })
      const pipeline = `${cliWords} files list.txt ${args(suite.server.url).map(sh).join(" ")} 2>&1 | head -1; ` +
        "echo \"status ${PIPESTATUS[0]}\""
      const result = await runShell(`bash -c ${sh(pipeline)}`, {
        cwd: dir,
        env: { VT_API_KEY: key },
        deadlineMs: 60_000
      })
      expect(result.stdout).toBe("vt-harvest files: list.txt -> out/ (log " + result.stdout.split("(log ")[1])
      expect(result.stdout.trimEnd().split("\n").at(-1)).toBe("status 141")
      expect(result.stderr).toBe("")
      expect(fileRequests().length).toBeLessThan(ids.length)
      expectEndedLog(dir)
    },
    60_000
  )

  it("a reader that goes away after the last request (the summary unread): the run's own status, 0", async () => {
    const dir = scratch()
    fs.writeFileSync(path.join(dir, "list.txt"), hashes(3, true, "read-then-gone").join("\n") + "\n")
    suite.server.update({ latencyMs: 0 })
    // `head -1` reads the first line and goes: the summary lines that follow meet a closed pipe, every time.
    const pipeline = `${cliWords} files list.txt ${args(suite.server.url).map(sh).join(" ")} 2>&1 | head -1; ` +
      "echo \"status ${PIPESTATUS[0]}\""
    for (let run = 0; run < 3; run++) {
      fs.rmSync(path.join(dir, "out"), { recursive: true, force: true })
      const result = await runShell(`bash -c ${sh(pipeline)}`, {
        cwd: dir,
        env: { VT_API_KEY: key },
        deadlineMs: 30_000
      })
      expect(result.stdout.trimEnd().split("\n").at(-1)).toBe("status 0")
      expect(readJsonFiles(path.join(dir, "out"))).toHaveLength(3)
    }
    expect(runLog(dir)).not.toContain("stopped by a signal")
  }, 60_000)

  it(
    "stderr closed mid-run: exit 141, no crash, fewer requests than ids, the log ends with summary and end",
    async () => {
      const dir = scratch()
      const ids = longList(dir)
      suite.server.update({ latencyMs: 10 })
      const { child, done } = startCli(["files", "list.txt", ...args(suite.server.url)], {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      while (fileRequests().length < 1) await sleep(10)
      child.stderr.destroy()
      const result = await done
      expect(result.code).toBe(141)
      expect(fileRequests().length).toBeLessThan(ids.length)
      expect(readJsonFiles(path.join(dir, "out")).length).toBeGreaterThan(0)
      expectEndedLog(dir)
    },
    60_000
  )
})

describe("signals", () => {
  it("SIGTERM mid-run at concurrency 16: every record in the store is in the run log and the summary", async () => {
    const dir = scratch()
    const known = hashes(300, true, "landed")
    const unknown = hashes(100, false, "landed")
    fs.writeFileSync(path.join(dir, "list.txt"), [...known, ...unknown].sort().join("\n"))
    suite.server.update({ latencyMs: 5 })
    const { child, done } = startCli([
      "files",
      "list.txt",
      ...["-o", "out", "--log-dir", "log", "--base-url", suite.server.url, "--tier", "premium", "--no-progress"],
      ...["--concurrency", "16"]
    ], { cwd: dir, env: { VT_API_KEY: key } })
    const stored = () => {
      const count = (sub: string) =>
        fs.existsSync(path.join(dir, sub)) ? fs.readdirSync(path.join(dir, sub)).filter((f) => f.endsWith(".json")) : []
      return { saved: count("out").length, notFound: count("out/_not_found").length }
    }
    while (stored().saved < 60 && child.exitCode === null) await sleep(5)
    child.kill("SIGTERM")
    const result = await done
    expect(result.code).toBe(143)
    const { notFound, saved } = stored()
    expect(saved + notFound).toBeLessThan(400)
    const log = logOf(dir)
    expect([...log.matchAll(/ - saved [0-9a-f]{32,64}\.json$/gm)]).toHaveLength(saved)
    expect([...log.matchAll(/ - not found [0-9a-f]{32,64}$/gm)]).toHaveLength(notFound)
    expect(result.stderr).toContain(`summary: saved ${saved}, not found ${notFound}, `)
  }, 60_000)

  it("SIGHUP stops the run like SIGTERM: summary printed, the log ends with `end`, exit 129", async () => {
    const dir = scratch()
    const ids = longList(dir)
    suite.server.update({ latencyMs: 50 })
    const { child, done } = startCli(["files", "list.txt", ...args(suite.server.url)], {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    while (fileRequests().length < 3) await sleep(10)
    child.kill("SIGHUP")
    const result = await done
    expect(result.code).toBe(129)
    expect(result.stderr).toMatch(/summary: saved \d+, not found 0, skipped 0, invalid 0, failed 0, requests \d+/)
    expect(fileRequests().length).toBeLessThan(ids.length)
    expectEndedLog(dir)
  }, 60_000)

  it("SIGINT while the input is a FIFO nobody writes to, or one whose writer is idle: exit 130 at once", async () => {
    const dir = scratch()
    const fifo = path.join(dir, "in.fifo")
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0)
    // No writer: the open waits. Before, the summary was printed and the process then waited for a writer.
    const alone = startCli(["files", "in.fifo", ...args(suite.server.url)], { cwd: dir, env: { VT_API_KEY: key } })
    await sleep(1_000)
    alone.child.kill("SIGINT")
    const stopped = await alone.done
    expect(stopped.code, stopped.stderr).toBe(130)
    expect(stopped.stderr).toContain("summary: saved 0")
    // A writer that has written one id and stays: the read waits.
    const writer = fs.openSync(fifo, fs.constants.O_RDWR)
    try {
      fs.writeSync(writer, `${hashes(1, true, "fifo-idle")[0]}\n`)
      const idle = startCli(["files", "in.fifo", ...args(suite.server.url)], { cwd: dir, env: { VT_API_KEY: key } })
      while (fileRequests().length < 1) await sleep(10)
      await sleep(300)
      idle.child.kill("SIGINT")
      const result = await idle.done
      expect(result.code, result.stderr).toBe(130)
      expect(result.stderr).toContain("summary: saved 1")
    } finally {
      fs.closeSync(writer)
    }
    // --api-key-file on a FIFO nobody writes to.
    const keyFifo = path.join(dir, "key.fifo")
    expect(spawnSync("mkfifo", [keyFifo]).status).toBe(0)
    const keyless = startCli(["files", "in.fifo", "--api-key-file", keyFifo, ...args(suite.server.url)], { cwd: dir })
    await sleep(1_000)
    keyless.child.kill("SIGINT")
    expect((await keyless.done).code).toBe(130)
  }, 60_000)

  it("SIGINT while the start-up quota probe waits for an answer: summary printed, log ended, exit 130", async () => {
    const dir = scratch()
    longList(dir)
    // The quota endpoint never answers.
    const hostile = await Hostile.start({ quotas: () => undefined })
    try {
      const { child, done } = startCli(["files", "list.txt", ...args(hostile.url)], {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      while (!hostile.requests.some((r) => r.path.endsWith("/overall_quotas"))) await sleep(10)
      await sleep(200)
      child.kill("SIGINT")
      const result = await done
      expect(result.code).toBe(130)
      expect(result.stderr).toContain("summary: saved 0, not found 0, skipped 0, invalid 0, failed 0, requests 0")
      expect(hostile.fileRequests()).toHaveLength(0)
      expectEndedLog(dir)
    } finally {
      await hostile.close()
    }
  }, 60_000)
})
