// Where settings come from, on the built CLI: a `.env` in the working directory supplies the API key and nothing
// else; flags, the environment and the user config file supply the rest, in that order.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { hashes, readJsonFiles, runCli, tempDir } from "./helpers.js"

const key = "config-test-key-Hw72pQ0zL4"
let server: VtEmulator.Server
/** A server that must never be asked anything: it counts what reaches it. */
let trap: http.Server
let trapped = 0
let trapUrl = ""
const dirs: Array<string> = []
const scratch = () => {
  const dir = tempDir("vt-harvest-config-")
  dirs.push(dir)
  return dir
}

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
  trap = http.createServer((_request, response) => {
    trapped++
    response.writeHead(500).end()
  })
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve))
  trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/api/v3`
})
afterAll(async () => {
  await server.close()
  await new Promise((resolve) => trap.close(resolve))
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  server.clearLog()
  server.resetQuota()
  trapped = 0
})

const logOf = (dir: string, logDir = "log") =>
  fs.readdirSync(path.join(dir, logDir)).map((name) => fs.readFileSync(path.join(dir, logDir, name), "utf8")).join("")

describe(".env supplies the API key only", () => {
  it("VT_OUT, VT_LOG_DIR and VT_BASE_URL in a .env are ignored; its VT_API_KEY is used", async () => {
    const dir = scratch()
    const ids = hashes(3, true, "dotenv")
    fs.writeFileSync(path.join(dir, "list.txt"), ids.join("\n") + "\n")
    fs.writeFileSync(path.join(dir, "comments.txt"), "# nothing to fetch\n")
    fs.writeFileSync(
      path.join(dir, ".env"),
      [`VT_API_KEY=${key}`, "VT_OUT=elsewhere-out", "VT_LOG_DIR=elsewhere-log", `VT_BASE_URL=${trapUrl}`].join("\n")
    )
    const fetched = await runCli([
      "files",
      "list.txt",
      "--base-url",
      server.url,
      "--per-minute",
      "60000",
      "--no-progress"
    ], { cwd: dir })
    expect(fetched.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "vt_reports"))).toEqual(ids.map((id) => `${id}.json`).sort())
    expect(fs.existsSync(path.join(dir, "elsewhere-out"))).toBe(false)
    expect(fs.existsSync(path.join(dir, "elsewhere-log"))).toBe(false)
    expect(logOf(dir)).toContain(`(api ${new URL(server.url).origin}, tier public`)

    // Without --base-url, the key would go to VirusTotal (nothing is sent: no ids, no quota probe), never to the
    // server a .env names; the start line says which origin it is.
    const idle = await runCli(["files", "comments.txt", "--no-quota-probe", "--no-progress"], { cwd: dir })
    expect(idle.code).toBe(0)
    expect(logOf(dir)).toContain("(api https://www.virustotal.com, tier public")
    expect(logOf(dir)).not.toContain(trapUrl)
    expect(trapped).toBe(0)
  }, 30_000)
})
