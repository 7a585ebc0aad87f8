import * as S3 from "@aws-sdk/client-s3"
import { ReportKey } from "@vt-harvest/report-sink"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { readJsonFiles, runCli, startCli, tempDir } from "./helpers.js"
import { startS3rver } from "./s3rver.js"

const key = "cli-analysis-test-key-9d41c3"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())
beforeEach(() => {
  server.reset()
  server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0 })
})

const headers = { "x-apikey": key }

/** Submits a file straight to the emulator, as another tool would have: answers the analysis id. */
const submitFile = async (content: string): Promise<string> => {
  const form = new FormData()
  form.set("file", new Blob([content]), "sample.bin")
  const response = await fetch(`${server.url}/files`, { method: "POST", headers, body: form })
  return ((await response.json()) as { data: { id: string } }).data.id
}

const submitUrl = async (url: string): Promise<string> => {
  const response = await fetch(`${server.url}/urls`, { method: "POST", headers, body: new URLSearchParams({ url }) })
  return ((await response.json()) as { data: { id: string } }).data.id
}

const analysisBytes = async (id: string) =>
  Buffer.from(await (await fetch(`${server.url}/analyses/${encodeURIComponent(id)}`, { headers })).arrayBuffer())

const analysisKey = (id: string) => Either.getOrThrow(ReportKey.fromAnalysisId(id))

/** `vt-harvest analysis <args>` storing under `dir`, against the emulator, fast-paced. */
const analysisArgs = (dir: string, args: ReadonlyArray<string>) => [
  "analysis",
  ...args,
  "--out",
  path.join(dir, "out"),
  "--log-dir",
  path.join(dir, "log"),
  "--base-url",
  server.url,
  "--per-minute",
  "60000",
  "--poll-interval",
  "1"
]

const analysis = (
  dir: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly stdin?: string } = {}
) =>
  runCli(
    analysisArgs(dir, args),
    {
      env: { VT_API_KEY: key, ...options.env },
      cwd: dir,
      ...(options.stdin === undefined ? {} : { stdin: options.stdin })
    }
  )

/** Requests for analyses (uploads made by the test itself are not the CLI's). */
const analysisRequests = () => server.requests.filter((r) => r.path.startsWith("/api/v3/analyses/")).map((r) => r.id)

const logText = (dir: string) =>
  fs.readdirSync(path.join(dir, "log")).sort().map((name) => fs.readFileSync(path.join(dir, "log", name), "utf8"))

const header = "id,status,malicious,suspicious,undetected,harmless,item"

describe("vt-harvest analysis", () => {
  it("fetches file and URL analyses into _analyses/, prints a CSV row each, and a rerun reads them from the store", async () => {
    const dir = tempDir()
    const fileIds = [await submitFile("first sample\n"), await submitFile("second sample\n")]
    const urlId = await submitUrl("http://www.example.com/landing")
    expect(fileIds[0]).toMatch(/==$/)
    expect(urlId).toMatch(/^u-[0-9a-f]{64}-\d+$/)
    server.clearLog()

    const result = await analysis(dir, [...fileIds, urlId, fileIds[0]])
    expect(result.stderr).toContain(
      "summary: saved 3, completed 3, not found 0, skipped 1, invalid 0, failed 0, requests 3"
    )
    expect(result.code).toBe(0)
    expect(analysisRequests()).toEqual([...fileIds, urlId])
    const lines = result.stdout.trimEnd().split("\n")
    expect(lines[0]).toBe(header)
    // A row per id given: the repeated one is printed again from the store.
    expect(lines).toHaveLength(5)
    expect(lines[4]).toBe(lines[1])
    const rows = lines.slice(1, 4).map((line) => line.split(","))
    expect(rows.map((row) => row[0])).toEqual([...fileIds, urlId])
    for (const row of rows) {
      expect(row[1]).toBe("completed")
      for (const count of row.slice(2, 6)) expect(count).toMatch(/^\d+$/)
    }
    expect(rows[2][6]).toBe("http://www.example.com/landing")

    const out = path.join(dir, "out", "_analyses")
    expect(readJsonFiles(out)).toEqual([...fileIds, urlId].map((id) => `${analysisKey(id)}.json`).sort())
    for (const id of [...fileIds, urlId]) {
      const saved = fs.readFileSync(path.join(out, `${analysisKey(id)}.json`))
      expect(Buffer.compare(saved, await analysisBytes(id))).toBe(0)
    }
    expect(analysisKey(urlId)).toBe(urlId)
    const log = logText(dir)[0]
    expect(log).toContain(`    INFO - requesting analysis ${fileIds[0]}\n`)
    // Each analysis saved is said once.
    expect(log.split(`    INFO - saved _analyses/${analysisKey(fileIds[0])}.json\n`)).toHaveLength(2)
    expect(log).toMatch(/ - summary: saved 3, completed 3/)
    expect(log.trimEnd()).toMatch(/ - end$/)

    // Completed analyses do not change: a rerun prints the same rows from the store and sends nothing.
    server.clearLog()
    const again = await analysis(dir, [...fileIds, urlId])
    expect(again.code).toBe(0)
    expect(again.stdout).toBe(result.stdout.split("\n").slice(0, 4).join("\n") + "\n")
    expect(again.stderr).toContain(
      "summary: saved 0, completed 0, not found 0, skipped 3, invalid 0, failed 0, requests 0"
    )
    expect(analysisRequests()).toEqual([])
  })

  it("--wait polls a queued analysis until it is completed; without it the current state is saved and asked again", async () => {
    const dir = tempDir()
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    const id = await submitFile("a sample that takes a while\n")

    const now = await analysis(dir, [id])
    expect(now.code).toBe(0)
    expect(now.stdout).toMatch(new RegExp(`^${header}\n${id.replace(/[+/=]/g, "\\$&")},(queued|in-progress),`))
    expect(now.stderr).toContain("summary: saved 1, completed 0")

    server.clearLog()
    const waiting = analysis(dir, [id, "--wait"])
    // The analysis completes once the CLI has seen it unfinished, however slowly the machine runs the CLI.
    while (analysisRequests().length < 1) await new Promise((resolve) => setTimeout(resolve, 20))
    server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0 })
    const waited = await waiting
    expect(waited.code).toBe(0)
    expect(waited.stdout.split("\n")[1]).toMatch(/,completed,\d+,\d+,\d+,\d+,[0-9a-f]{64}$/)
    expect(waited.stderr).toMatch(
      /summary: saved 1, completed 1, not found 0, skipped 0, invalid 0, failed 0, requests \d/
    )
    expect(analysisRequests().length).toBeGreaterThanOrEqual(2)
    expect(logText(dir)[1]).toMatch(new RegExp(`INFO - analysis ${id.replace(/[+/=]/g, "\\$&")} completed\n`))
    const saved = JSON.parse(fs.readFileSync(path.join(dir, "out", "_analyses", `${analysisKey(id)}.json`), "utf8"))
    expect(saved.data.attributes.status).toBe("completed")
  })

  it("asks once for an id listed twice, also when the analysis is not finished yet", async () => {
    const dir = tempDir()
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    const id = await submitFile("a sample listed twice\n")
    server.clearLog()
    const result = await analysis(dir, [id, id])
    expect(result.code).toBe(0)
    expect(analysisRequests()).toEqual([id])
    expect(result.stderr).toMatch(/summary: saved 1, completed 0, not found 0, skipped 1, /)
  })

  it("stops like SIGTERM when its standard output closes (analysis … | head): exit 141, summary and log say so", async () => {
    const dir = tempDir()
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    const ids = [await submitFile("first pending sample\n"), await submitFile("second pending sample\n")]
    const { child, done } = startCli(analysisArgs(dir, [...ids, "--wait"]), { env: { VT_API_KEY: key }, cwd: dir })
    // The reader goes away before the first row: the waits would otherwise last a minute.
    child.stdout.destroy()
    const result = await done
    expect(result.code).toBe(141)
    expect(result.stderr).toMatch(/summary: saved \d+, completed 0, /)
    const log = logText(dir)[0]
    expect(log).toContain("WARNING - stopped by a signal")
    expect(log.trimEnd()).toMatch(/ - end$/)
  })

  it("--wait gives up after --wait-timeout: exit 1, the analysis named, its last state saved", async () => {
    const dir = tempDir()
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    const id = await submitFile("a sample that never finishes in time\n")
    const result = await analysis(dir, [id, "--wait", "--wait-timeout", "1"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`analysis ${id} (argument 1) still queued after 1 poll in 1s (--wait-timeout)`)
    expect(result.stderr).toContain("failed 1")
    expect(result.stdout.split("\n")[1]).toContain(",queued,")
    expect(readJsonFiles(path.join(dir, "out", "_analyses"))).toEqual([`${analysisKey(id)}.json`])
  })

  it("reads ids from standard input with -, one per line: comments, blank and invalid lines, duplicates", async () => {
    const dir = tempDir()
    const ids = [await submitFile("stdin one\n"), await submitFile("stdin two\n")]
    server.clearLog()
    const stdin = ["# analyses to fetch", "", ` ${ids[0]} `, "../../etc/passwd", ids[1], ids[0], "x"].join("\r\n")
    const result = await analysis(dir, ["-", "--no-progress"], { stdin })
    expect(result.code).toBe(0)
    expect(result.stderr).toContain(
      "summary: saved 2, completed 2, not found 0, skipped 1, invalid 2, failed 0, requests 2"
    )
    expect(result.stderr).toContain("line 4: invalid analysis id \"../../etc/passwd\"")
    expect(result.stderr).toContain("line 7: invalid analysis id \"x\"")
    expect(analysisRequests()).toEqual(ids)
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(4)
    expect(result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
  })

  it("refuses invalid ids given as arguments: exit 2, each named, nothing sent", async () => {
    const dir = tempDir()
    const valid = await submitFile("valid\n")
    server.clearLog()
    const result = await analysis(dir, [valid, "../../etc/passwd", "abc def ghijkl", "%2e%2e%2fxxxxx"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("invalid analysis id \"../../etc/passwd\" (argument 2)")
    expect(result.stderr).toContain("invalid analysis id \"abc def ghijkl\" (argument 3)")
    expect(result.stderr).toContain("invalid analysis id \"%2e%2e%2fxxxxx\" (argument 4)")
    expect(result.stderr).toContain("nothing was sent")
    expect(server.requests).toEqual([])
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })

  it("records an unknown analysis as not found and does not ask again unless --retry-not-found", async () => {
    const dir = tempDir()
    const unknown = Buffer.from("00000000000000000000000000000000:1700000000").toString("base64")
    const result = await analysis(dir, [unknown])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain(`not found ${unknown} (argument 1)`)
    expect(result.stderr).toContain("summary: saved 0, completed 0, not found 1")
    expect(result.stdout).toBe(`${header}\n`)
    const record = path.join(dir, "out", "_analyses", "_not_found", `${analysisKey(unknown)}.json`)
    expect(JSON.parse(fs.readFileSync(record, "utf8")).error.code).toBe("NotFoundError")
    server.clearLog()
    expect((await analysis(dir, [unknown])).stderr).toContain("skipped 1")
    expect(analysisRequests()).toEqual([])
    await analysis(dir, [unknown, "--retry-not-found"])
    expect(analysisRequests()).toEqual([unknown])
  })

  it("--json prints one JSON object per analysis", async () => {
    const dir = tempDir()
    const id = await submitFile("json sample\n")
    const result = await analysis(dir, [id, "--json"])
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(1)
    const value = JSON.parse(lines[0])
    expect(value).toMatchObject({ id, key: analysisKey(id), status: "completed" })
    expect(typeof value.malicious).toBe("number")
    expect(value.item).toMatch(/^[0-9a-f]{64}$/)
  })

  it("stops with status 3 when the key is refused", async () => {
    const dir = tempDir()
    const id = await submitFile("refused\n")
    server.clearLog()
    const result = await analysis(dir, [id, "--no-quota-probe"], { env: { VT_API_KEY: "not-the-key-1234" } })
    expect(result.code).toBe(3)
    expect(result.stderr).toContain("WrongCredentialsError")
    expect(server.requests).toHaveLength(1)
    expect(result.stderr + logText(dir).join("")).not.toContain("not-the-key-1234")
  })

  it("--help describes the command with an example, without control characters", async () => {
    const result = await runCli(["analysis", "--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("Example: vt-harvest analysis --wait")
    for (const option of ["--wait", "--poll-interval", "--wait-timeout", "--json", "--out"]) {
      expect(result.stdout).toContain(option)
    }
    expect(result.stdout + result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
  })

  it("--out s3://bucket/prefix stores analyses under prefix/_analyses", async () => {
    const bucket = "vt-analysis-reports"
    const store = await startS3rver(bucket)
    try {
      const dir = tempDir()
      const id = await submitFile("s3 sample\n")
      const result = await runCli(
        ["analysis", id, "-o", `s3://${bucket}/runs/a`, "--base-url", server.url, "--per-minute", "60000"],
        { env: { VT_API_KEY: key, ...store.env }, cwd: dir }
      )
      expect(result.code).toBe(0)
      expect(result.stderr).toContain("summary: saved 1, completed 1")
      const page = await store.client.send(new S3.ListObjectsV2Command({ Bucket: bucket, Prefix: "runs/" }))
      expect((page.Contents ?? []).map((object) => object.Key)).toEqual([`runs/a/_analyses/${analysisKey(id)}.json`])
      server.clearLog()
      const again = await runCli(
        ["analysis", id, "-o", `s3://${bucket}/runs/a`, "--base-url", server.url, "--per-minute", "60000"],
        { env: { VT_API_KEY: key, ...store.env }, cwd: dir }
      )
      expect(again.stderr).toContain("skipped 1, invalid 0, failed 0, requests 0")
      expect(again.stdout).toBe(result.stdout)
    } finally {
      await store.close()
    }
  })
})
