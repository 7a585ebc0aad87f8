// The store going away in the middle of a run, end to end: S3 (a real s3rver) stops answering while a harvest runs;
// the run says so, starts no new id meanwhile (no request for a report that may not be kept), and carries on once
// the store answers again.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import type * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import S3rver from "s3rver"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hashes, startCli, tempDir } from "./helpers.js"

const key = "store-outage-test-key-3c8a"
const bucket = "outage"
let emulator: VtEmulator.Server
const storage = fs.mkdtempSync(path.join(os.tmpdir(), "cli-s3-outage-"))

const s3 = async (port: number) => {
  const server = new S3rver({
    address: "127.0.0.1",
    port,
    silent: true,
    directory: storage,
    configureBuckets: [{ name: bucket, configs: [] }]
  })
  const address = await server.run()
  // Gone for good: the listener closed and every open connection cut (a keep-alive connection would otherwise go on
  // serving requests after close()).
  const stop = async () => {
    const closing = server.close()
    ;(server as unknown as { httpServer: http.Server }).httpServer.closeAllConnections()
    await closing
  }
  return { stop, port: address.port }
}

beforeAll(async () => {
  emulator = await VtEmulator.start({ apiKeys: [key], latencyMs: 50 })
})
afterAll(async () => {
  await emulator.close()
  fs.rmSync(storage, { recursive: true, force: true })
})

const until = async (what: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out: ${String(what)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe("the store stops answering mid-run", () => {
  it("no new id is requested until it answers again; then the run completes, every report kept once", async () => {
    const dir = tempDir()
    const ids = hashes(40, true, "outage")
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\n")
    let store = await s3(0)
    const port = store.port
    const logText = () => {
      const logs = fs.existsSync(path.join(dir, "log")) ? fs.readdirSync(path.join(dir, "log")) : []
      return logs.length === 0 ? "" : fs.readFileSync(path.join(dir, "log", logs[0]!), "utf8")
    }
    const fileRequests = () => emulator.requests.filter((r) => r.path.includes("/files/")).length
    const { done } = startCli([
      "files",
      "in.txt",
      "-o",
      `s3://${bucket}/run`,
      "--log-dir",
      "log",
      "--base-url",
      emulator.url,
      "--tier",
      "premium",
      "--concurrency",
      "2",
      "--per-minute",
      "600",
      "--no-progress"
    ], {
      env: {
        VT_API_KEY: key,
        AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        AWS_REGION: "us-east-1"
      },
      cwd: dir
    })
    // A few reports kept, then the store goes away.
    await until(() => (logText().match(/ - saved /g) ?? []).length >= 3)
    // Gone for good: the listener closed and every open connection cut (a keep-alive connection would otherwise go
    // on serving the run's requests after close()).
    await store.stop()
    await until(() => logText().includes("the store does not answer")).catch((error) => {
      throw new Error(`${error}\n${logText()}`)
    })
    // What was on the wire when it went away has arrived.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const atOutage = fileRequests()
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    // Nothing new while it does not answer (at 600 a minute, 15 more would have gone).
    expect(fileRequests()).toBe(atOutage)
    store = await s3(port)
    try {
      const result = await done
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/summary: saved \d+, not found \d+, skipped 0, invalid 0, failed 0/)
      expect(logText()).toContain("the store answers again: requests resume")
      // Every id asked once: nothing was lost to the outage, nothing asked twice.
      const asked = emulator.requests.filter((r) => r.path.includes("/files/")).map((r) => r.path)
      expect(new Set(asked).size).toBe(ids.length)
      expect(asked).toHaveLength(ids.length)
    } finally {
      await store.stop()
    }
  }, 60_000)
})
