// The run log's `requesting <id>` line is written when the quota gate lets that request go, not when a worker picks
// the id up: with 4 workers and starts 200 ms apart, the lines are 200 ms apart too, each just before its request.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { emulatorSuite, hashes, runCli } from "./helpers.js"

const key = "request-log-test-key-5Hq"
const suite = emulatorSuite(key, "request-log")

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
})
