// The key's own limits, end to end: the start-up `overall_quotas` answer lowers the tier's limits to the key's, so a
// key allowed 3 requests a day sends 3 and then waits for 00:00 UTC instead of spending a 429 on the 4th.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { emulatorSuite, hashes, startCli } from "./helpers.js"

const key = "limits-test-key-9Vd3qL"
const suite = emulatorSuite(key, "limits", { perDay: 3 })

describe("the key's own limits", () => {
  it("a key allowed 3 a day on the premium tier: 3 requests, no 429, then a wait for 00:00 UTC announced", async () => {
    const dir = suite.scratch()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(5, true, "limits").join("\n") + "\n")
    const { child, done } = startCli([
      "files",
      "in.txt",
      "-o",
      path.join(dir, "out"),
      "--log-dir",
      path.join(dir, "log"),
      "--base-url",
      suite.server.url,
      "--tier",
      "premium",
      "--no-progress"
    ], { env: { VT_API_KEY: key }, cwd: dir })
    const files = () => suite.server.requests.filter((r) => r.path.includes("/files/"))
    const deadline = Date.now() + 20_000
    while (files().length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    // Time for a 4th request, were the limit not known.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    child.kill("SIGTERM")
    const result = await done
    expect(files().map((r) => r.status)).toEqual([200, 200, 200])
    expect(result.stderr).toContain("summary: saved 3, not found 0, skipped 0, invalid 0, failed 0, requests 3")
    const log = fs.readFileSync(path.join(dir, "log", fs.readdirSync(path.join(dir, "log"))[0]), "utf8")
    expect(log).toMatch(/daily limit of 3 requests reached, waiting until \d{4}-\d\d-\d\dT00:00:00\.000Z/)
  })
})
