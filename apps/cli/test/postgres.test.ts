// The CLI against a real PostgreSQL store (started on loopback for these tests): the twin of the directory and S3
// end-to-end tests.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Postgres from "../../../packages/report-sink-pg/test/postgres.js"
import { hashes, runCli, tempDir } from "./helpers.js"

const key = "postgres-cli-test-key-7Qz"
let server: VtEmulator.Server
let pg: Postgres.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
  pg = await Postgres.start()
}, 120_000)
afterAll(async () => {
  server.close()
  await pg?.stop()
})

const fileRequests = () => server.requests.filter((r) => r.path.includes("/files/")).length

const run = (dir: string, args: ReadonlyArray<string>) =>
  runCli([...args, "--base-url", server.url, "--per-minute", "60000", "--no-progress"], {
    env: { VT_API_KEY: key },
    cwd: dir
  })

describe("--out postgres://", () => {
  it("saves reports and not-found records as rows; a rerun sends nothing; summary reads them; no password shown", async () => {
    const dir = tempDir()
    const known = hashes(3, true, "pg")
    const unknown = hashes(2, false, "pg")
    fs.writeFileSync(path.join(dir, "in.txt"), [...known, ...unknown].join("\n") + "\n")
    const out = `${pg.url.replace(/\/postgres$/, "/postgres")}`
    const before = fileRequests()
    const first = await run(dir, ["files", "in.txt", "-o", out])
    expect(first.stderr).toContain("summary: saved 3, not found 2, skipped 0, invalid 0, failed 0")
    // The start line names the database as it is, with no slash after it.
    expect(first.stderr).toMatch(/^vt-harvest files: in\.txt -> postgres:\/\/\S+\/postgres \(log /m)
    expect(first.code).toBe(0)
    expect(fileRequests() - before).toBe(5)
    for (
      const text of [
        first.stdout,
        first.stderr,
        ...fs.readdirSync(path.join(dir, "log")).map((f) => fs.readFileSync(path.join(dir, "log", f), "utf8"))
      ]
    ) {
      expect(text).not.toContain(pg.password)
    }

    const again = await run(dir, ["files", "in.txt", "-o", out])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 5, invalid 0, failed 0, requests 0")
    expect(fileRequests() - before).toBe(5)

    const summary = await runCli(["summary", out], { cwd: dir })
    expect(summary.code).toBe(0)
    const rows = summary.stdout.trim().split("\n")
    expect(rows[0]).toMatch(/^key,id,type,/)
    expect(rows.slice(1).map((row) => row.split(",")[0]).sort()).toEqual([...known].sort())

    // A database that holds no store (no tables of vt-harvest) or cannot be reached: no store there, exit 2.
    for (const store of [pg.url.replace(/\/postgres$/, "/template1"), "postgres://nobody:pw@127.0.0.1:1/nothing"]) {
      const missing = await runCli(["summary", store], { cwd: dir })
      expect(missing.code, `${missing.stderr} (${store})`).toBe(2)
      expect(missing.stdout).toBe("")
    }
  })

  it("scan keeps its uploads in the database too: a second --no-wait scan does not upload again", async () => {
    const dir = tempDir()
    let content = ""
    for (let i = 0; content === ""; i++) {
      const candidate = `pg scan sample ${i}\n`
      if (!VtEmulator.isKnown(crypto.createHash("sha256").update(candidate).digest("hex"))) content = candidate
    }
    fs.writeFileSync(path.join(dir, "a.bin"), content)
    const uploads = () => server.requests.filter((r) => r.method === "POST" && r.path === "/api/v3/files").length
    const before = uploads()
    const first = await run(dir, ["scan", "a.bin", "-o", pg.url, "--no-wait"])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toContain("summary: uploaded 1,")
    const second = await run(dir, ["scan", "a.bin", "-o", pg.url, "--no-wait"])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toContain("summary: uploaded 0, known 0, analysed 0, saved 0, skipped 1, failed 0")
    expect(uploads() - before).toBe(1)
  })

  it("urls --submit-unknown keeps its submissions in the database too: a rerun after --wait-timeout submits nothing", async () => {
    const dir = tempDir()
    const url = Array.from({ length: 40 }, (_, i) => `https://pg-submit-${i}.example.org/`).find((u) =>
      !VtEmulator.isKnownUrl(u)
    )!
    fs.writeFileSync(path.join(dir, "urls.txt"), url)
    const submissions = () => server.requests.filter((r) => r.method === "POST" && r.path === "/api/v3/urls").length
    const before = submissions()
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    try {
      const args = ["urls", "urls.txt", "-o", pg.url, "--submit-unknown", "--poll-interval", "1", "--wait-timeout", "1"]
      for (const attempt of [1, 2]) {
        const result = await run(dir, args)
        expect(result.code, `${attempt}: ${result.stderr}`).toBe(1)
        expect(result.stderr).toMatch(/still queued after 1s \(--wait-timeout\)/)
      }
      expect(submissions() - before).toBe(1)
    } finally {
      server.update({ analysisQueuedMs: undefined, analysisCompletedMs: undefined })
    }
  })

  it("a database that cannot be reached is a bad --out: exit 2, nothing sent", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(2, true, "pg-closed").join("\n"))
    const before = fileRequests()
    const result = await run(dir, ["files", "in.txt", "-o", "postgres://nobody:secret-pw@127.0.0.1:1/nothing"])
    expect(result.code).toBe(2)
    expect(result.stderr).not.toContain("secret-pw")
    expect(fileRequests()).toBe(before)
  })
})
