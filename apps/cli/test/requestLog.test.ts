// The run log's `requesting <id>` line is written when the quota gate lets that request go, not when a worker picks
// the id up: with 4 workers and starts 200 ms apart, the lines are 200 ms apart too, each just before its request.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { emulatorSuite, hashes, runCli, startCli } from "./helpers.js"

const key = "request-log-test-key-5Hq"
const suite = emulatorSuite(key, "request-log")
// One request a minute: the second is refused with QuotaExceededError.
const refusing = emulatorSuite(key, "request-log-refused", { perMinute: 1 })

describe("the run log's requesting lines", () => {
  it("are written as the gate lets each request go (4 workers, 300 a minute: 200 ms apart)", async () => {
    const dir = suite.scratch()
    const ids = hashes(6, true, "request-log")
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\n")
    const result = await runCli([
      "files",
      "in.txt",
      "-o",
      path.join(dir, "out"),
      "--log-dir",
      path.join(dir, "log"),
      "--log-format",
      "json",
      "--base-url",
      suite.server.url,
      "--tier",
      "premium",
      "--per-minute",
      "300",
      "--concurrency",
      "4",
      "--no-progress",
      "--no-quota-probe"
    ], { env: { VT_API_KEY: key }, cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    const lines = fs.readFileSync(path.join(dir, "log", fs.readdirSync(path.join(dir, "log"))[0]!), "utf8")
      .trim().split("\n").map((line) => JSON.parse(line) as { time: string; message: string })
    const requesting = lines.filter((l) => l.message.startsWith("requesting "))
    expect(requesting.map((l) => l.message.slice("requesting ".length)).sort()).toEqual([...ids].sort())
    const times = requesting.map((l) => Date.parse(l.time))
    // Picked up at once by 4 workers, but logged as the gate lets them go: never two within the spacing.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(190)
    // Each line comes before its own request reaches the server.
    const arrivals = new Map(suite.server.requests.filter((r) => r.path.includes("/files/")).map((r) => [r.id, r.at]))
    for (const l of requesting) {
      const arrived = arrivals.get(l.message.slice("requesting ".length))!
      expect(Date.parse(l.time)).toBeLessThanOrEqual(arrived)
    }
  })

  it("name the gate's question after a refusal (which quota window is spent) as that, not as the id refused", async () => {
    const dir = refusing.scratch()
    const ids = hashes(2, true, "request-log-refused")
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\n")
    const logDir = path.join(dir, "log")
    const { child, done } = startCli([
      "files",
      "in.txt",
      "-o",
      path.join(dir, "out"),
      "--log-dir",
      logDir,
      "--log-format",
      "json",
      "--base-url",
      refusing.server.url,
      "--per-minute",
      "600",
      "--no-progress"
    ], { env: { VT_API_KEY: key }, cwd: dir })
    const messages = () => {
      const files = fs.existsSync(logDir) ? fs.readdirSync(logDir) : []
      if (files.length === 0) return []
      return fs.readFileSync(path.join(logDir, files[0]!), "utf8").trim().split("\n").filter((line) => line !== "")
        .map((line) => (JSON.parse(line) as { message: string }).message)
    }
    // The refusal is waited out for a minute: the run is stopped once the gate has said how long it waits.
    while (!messages().some((m) => m.startsWith("QuotaExceededError"))) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    child.kill("SIGINT")
    await done
    const requesting = messages().filter((m) => m.startsWith("requesting "))
    const files = refusing.server.requests.filter((r) => r.path.includes("/files/")).map((r) => `requesting ${r.id}`)
    const quotas = refusing.server.requests.filter((r) => r.path.includes("/overall_quotas"))
    // Each id once per request the server saw for it; the question after the refusal once, under its own name.
    expect(requesting.filter((m) => ids.some((id) => m === `requesting ${id}`))).toEqual(files)
    expect(files).toHaveLength(2)
    expect(quotas.length).toBe(2)
    expect(requesting.filter((m) => m.startsWith("requesting the quota"))).toEqual([
      "requesting the quota windows of the key (after a refusal)"
    ])
  })
})
