import * as S3 from "@aws-sdk/client-s3"
import { ReportKey } from "@vt-harvest/report-sink"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { Either } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { readJsonFiles, runCli, startCli, tempDir } from "./helpers.js"
import { startS3rver } from "./s3rver.js"

const key = "cli-scan-test-key-5e2a71"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key], analysisQueuedMs: 0, analysisCompletedMs: 0 })
})
afterAll(() => server.close())
beforeEach(() => {
  server.reset()
  server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0, faults: {} })
})

const sha256 = (content: string | Uint8Array) => crypto.createHash("sha256").update(content).digest("hex")

/** File contents the emulator knows (or not), by its rule on the SHA-256. */
const contents = (count: number, known: boolean, tag: string): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; out.length < count; i++) {
    const content = `${tag} sample ${i}\n`
    if (VtEmulator.isKnown(sha256(content)) === known) out.push(content)
  }
  return out
}

const analysisKey = (id: string) => Either.getOrThrow(ReportKey.fromAnalysisId(id))

/** The command line of a scan of `args` into `dir`/out, against the emulator. */
const scanArgs = (dir: string, args: ReadonlyArray<string>) => [
  "scan",
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

const scan = (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  runCli(scanArgs(dir, args), { env: { VT_API_KEY: key, ...env }, cwd: dir })

/** `scan` as a process of its own, started now. */
const startScan = (dir: string, args: ReadonlyArray<string>) =>
  startCli(scanArgs(dir, args), { env: { VT_API_KEY: key }, cwd: dir })

/** Once the emulator has answered a poll of an analysis, its analyses complete: their files have reports from then. */
const completeAfterAPoll = async () => {
  while (!server.requests.some((r) => r.path.startsWith("/api/v3/analyses/"))) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0 })
}

/** The API requests of the run, as "METHOD path" with upload tokens and the key elided. */
const requests = () =>
  server.requests
    .filter((r) => !r.path.endsWith("/overall_quotas"))
    .map((r) => `${r.method} ${r.path.replace(/^\/_ah\/upload\/.+$/, "/_ah/upload/…")}`)

const uploadsOf = (requested: ReadonlyArray<string>) =>
  requested.filter((r) => r === "POST /api/v3/files" || r.startsWith("POST /_ah/upload/"))

const logText = (dir: string) =>
  fs.readdirSync(path.join(dir, "log")).sort().map((name) => fs.readFileSync(path.join(dir, "log", name), "utf8"))

const noControl = /[\u0000-\u0008\u000b-\u001f\u007f]/

/**
 * `large.iso` in `dir`: sparse, 32 MiB of zeros plus a tail chosen so that the emulator does not know the content
 * (more than `POST /files` takes, so it goes through an upload URL).
 */
const largeUnknownFile = (dir: string) => {
  const size = 32 * 1024 * 1024 + 16
  const prefix = crypto.createHash("sha256")
  const zeros = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < 32; i++) prefix.update(zeros)
  const tailOf = (n: number) => Buffer.from(String(n).padStart(16, "0"))
  let tail = 0
  while (VtEmulator.isKnown(prefix.copy().update(tailOf(tail)).digest("hex"))) tail++
  const fd = fs.openSync(path.join(dir, "large.iso"), "w")
  fs.writeSync(fd, tailOf(tail), 0, 16, size - 16)
  fs.closeSync(fd)
  return { sha: prefix.copy().update(tailOf(tail)).digest("hex"), size }
}

describe("vt-harvest scan", () => {
  it("saves the report of a known file without uploading it, uploads an unknown one, and a rerun sends nothing", async () => {
    const dir = tempDir()
    const [known] = contents(1, true, "known")
    const [unknown] = contents(1, false, "unknown")
    const samples = path.join(dir, "samples")
    fs.mkdirSync(path.join(samples, "nested", "deeper"), { recursive: true })
    fs.writeFileSync(path.join(samples, "known.exe"), known)
    fs.writeFileSync(path.join(samples, "nested", "deeper", "unknown.bin"), unknown)
    fs.writeFileSync(path.join(samples, "nested", "copy-of-known.exe"), known)
    fs.symlinkSync(path.join(samples, "known.exe"), path.join(samples, "nested", "link.exe"))
    const knownSha = sha256(known)
    const unknownSha = sha256(unknown)

    const result = await scan(dir, ["samples"])
    expect(result.stderr).toContain(
      "summary: uploaded 1, known 1, analysed 1, saved 2, skipped 2, failed 0, requests 5"
    )
    expect(result.code).toBe(0)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain("skipped \"samples/nested/link.exe\": symbolic link, not followed")
    expect(result.stderr).not.toMatch(noControl)

    // The known file was looked up and never uploaded; the unknown one was looked up, uploaded, polled, fetched.
    const requested = requests()
    expect(requested.filter((r) => r.endsWith(knownSha))).toEqual([`GET /api/v3/files/${knownSha}`])
    expect(uploadsOf(requested)).toEqual(["POST /api/v3/files"])
    const analysisId = server.requests.find((r) => r.path.startsWith("/api/v3/analyses/"))!.id!
    expect(analysisId).toMatch(/==$/)
    expect(requested).toEqual([
      `GET /api/v3/files/${knownSha}`,
      `GET /api/v3/files/${unknownSha}`,
      "POST /api/v3/files",
      `GET /api/v3/analyses/${encodeURIComponent(analysisId)}`,
      `GET /api/v3/files/${unknownSha}`
    ])

    const out = path.join(dir, "out")
    expect(readJsonFiles(out)).toEqual([`${knownSha}.json`, `${unknownSha}.json`].sort())
    expect(Buffer.compare(fs.readFileSync(path.join(out, `${knownSha}.json`)), VtEmulator.fileDocument(knownSha)))
      .toBe(0)
    const report = JSON.parse(fs.readFileSync(path.join(out, `${unknownSha}.json`), "utf8"))
    expect(report.data.id).toBe(unknownSha)
    expect(report.data.attributes.size).toBe(Buffer.byteLength(unknown))
    const analyses = path.join(out, "_analyses")
    expect(readJsonFiles(analyses)).toEqual([`${analysisKey(analysisId)}.json`])
    expect(analysisKey(analysisId)).toMatch(/\.b64$/)
    const analysis = JSON.parse(fs.readFileSync(path.join(analyses, `${analysisKey(analysisId)}.json`), "utf8"))
    expect(analysis.data.id).toBe(analysisId)
    expect(analysis.data.attributes.status).toBe("completed")
    expect(analysis.meta.file_info.sha256).toBe(unknownSha)

    const [log] = logText(dir)
    for (const line of log.split("\n").filter(Boolean)) {
      expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [ A-Z]{8} - \S/)
    }
    expect(log).toMatch(/ - start scan samples -> .*out \(api http:\/\/127\.0\.0\.1:\d+, tier public: per-minute 60000/)
    expect(log).toContain(`    INFO - requesting ${knownSha}\n`)
    expect(log).toContain(`    INFO - saved ${knownSha}.json\n`)
    expect(log).toContain(`    INFO - uploaded "samples/nested/deeper/unknown.bin" as analysis ${analysisId}\n`)
    expect(log).toContain(`    INFO - analysis ${analysisId} completed\n`)
    expect(log).toContain(`    INFO - saved _analyses/${analysisKey(analysisId)}.json\n`)
    expect(log).toContain(`    INFO - saved ${unknownSha}.json\n`)
    expect(log).toContain(" - summary: uploaded 1, known 1, analysed 1, saved 2, skipped 2, failed 0, requests 5\n")
    expect(log.trimEnd()).toMatch(/ - end$/)
    expect(log).not.toContain(key)

    // Every file is in the store now: no request at all, whether named by its directory or one by one.
    server.clearLog()
    const again = await scan(dir, ["samples", "samples/known.exe"])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain(
      "summary: uploaded 0, known 0, analysed 0, saved 0, skipped 5, failed 0, requests 0"
    )
    expect(requests()).toEqual([])

    // summary reads the reports scan saved (the analyses are a store of their own, not listed with them)...
    const summary = await runCli(["summary", "out"], { cwd: dir })
    expect(summary.code).toBe(0)
    expect(summary.stdout.trim().split("\n").slice(1).map((line) => line.split(",")[0]).sort()).toEqual(
      [knownSha, unknownSha].sort()
    )
    // ...and the analyses, named there.
    const analysesSummary = await runCli(["summary", "out/_analyses"], { cwd: dir })
    expect(analysesSummary.code).toBe(0)
    const [, analysisRow] = analysesSummary.stdout.trim().split("\n")
    const stats = analysis.data.attributes.stats
    expect(analysisRow.split(",")).toEqual([
      analysisKey(analysisId),
      analysisId,
      "analysis",
      String(stats.malicious),
      String(stats.suspicious),
      String(stats.undetected),
      String(stats.harmless),
      "",
      new Date(analysis.data.attributes.date * 1000).toISOString(),
      unknownSha
    ])
  })

  it("--force uploads a known file, waits through queued and in-progress, and replaces its report", async () => {
    const dir = tempDir()
    const [known] = contents(1, true, "forced")
    fs.writeFileSync(path.join(dir, "known.exe"), known)
    const knownSha = sha256(known)
    const first = await scan(dir, ["known.exe"])
    expect(first.stderr).toContain("summary: uploaded 0, known 1, analysed 0, saved 1, skipped 0, failed 0")

    server.clearLog()
    server.update({ analysisQueuedMs: 400, analysisCompletedMs: 1_500 })
    const forced = await scan(dir, ["known.exe", "--force", "--no-progress"])
    expect(forced.code).toBe(0)
    expect(forced.stderr).toMatch(
      /summary: uploaded 1, known 0, analysed 1, saved 1, skipped 0, failed 0, requests \d+/
    )
    const requested = requests()
    // No lookup: the upload comes first, then the polls, then the fresh report.
    expect(requested[0]).toBe("POST /api/v3/files")
    expect(requested.filter((r) => r.startsWith("GET /api/v3/analyses/")).length).toBeGreaterThanOrEqual(2)
    expect(requested.at(-1)).toBe(`GET /api/v3/files/${knownSha}`)
    const log = logText(dir)[1]
    expect(log).toMatch(/INFO - analysis \S+ (queued|in-progress)\n/)
    expect(log).toMatch(/INFO - analysis \S+ completed\n/)
    const report = JSON.parse(fs.readFileSync(path.join(dir, "out", `${knownSha}.json`), "utf8"))
    // The uploaded file's report (its real size), not the made-up one the lookup saved.
    expect(report.data.attributes.size).toBe(Buffer.byteLength(known))
    expect(readJsonFiles(path.join(dir, "out", "_analyses"))).toHaveLength(1)
  })

  it("sends a file over 32 MiB through an upload URL", async () => {
    const dir = tempDir()
    const { sha, size } = largeUnknownFile(dir)

    const result = await scan(dir, ["large.iso"])
    expect(result.stderr).toContain(
      "summary: uploaded 1, known 0, analysed 1, saved 1, skipped 0, failed 0, requests 5"
    )
    expect(result.code).toBe(0)
    expect(requests().slice(0, 3)).toEqual([
      `GET /api/v3/files/${sha}`,
      "GET /api/v3/files/upload_url",
      "POST /_ah/upload/…"
    ])
    const report = JSON.parse(fs.readFileSync(path.join(dir, "out", `${sha}.json`), "utf8"))
    expect(report.data.attributes.size).toBe(size)
    expect(logText(dir)[0]).toContain(`uploading "large.iso" (${size} bytes, upload URL)`)
  })

  it("retries a failed large upload with a fresh upload URL, never posting to a spent one", async () => {
    const dir = tempDir()
    largeUnknownFile(dir)
    // Connections reset at random (seeded so that uploads are among them): every step is retried.
    server.update({ faults: { reset: 0.3 }, seed: 2 })
    const result = await scan(dir, ["large.iso", "--retries", "20"])
    server.update({ faults: {} })
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/summary: uploaded 1, known 0, analysed 1, saved 1, skipped 0, failed 0/)
    const uploads = server.requests.filter((r) => r.path.startsWith("/_ah/upload/"))
    expect(uploads.filter((r) => r.fault !== undefined).length).toBeGreaterThan(0)
    // Each upload went to a URL of its own, fetched for it: none was refused as spent.
    expect(new Set(uploads.map((r) => r.path)).size).toBe(uploads.length)
    expect(uploads.filter((r) => r.status === 400)).toEqual([])
    expect(server.requests.filter((r) => r.path === "/api/v3/files/upload_url").length).toBeGreaterThanOrEqual(
      uploads.length
    )
  })

  it("--no-wait uploads and saves the analysis descriptor only, each content once", async () => {
    const dir = tempDir()
    const unknown = contents(2, false, "no-wait")
    fs.writeFileSync(path.join(dir, "a.bin"), unknown[0])
    fs.writeFileSync(path.join(dir, "b.bin"), unknown[1])
    fs.writeFileSync(path.join(dir, "copy-of-a.bin"), unknown[0])
    const result = await scan(dir, ["a.bin", "b.bin", "copy-of-a.bin", "--no-wait"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain(
      "summary: uploaded 2, known 0, analysed 0, saved 0, skipped 1, failed 0, requests 4"
    )
    expect(uploadsOf(requests())).toHaveLength(2)
    expect(requests().filter((r) => r.includes("/analyses/"))).toEqual([])
    const saved = readJsonFiles(path.join(dir, "out", "_analyses"))
    expect(saved).toHaveLength(2)
    for (const name of saved) {
      const descriptor = JSON.parse(fs.readFileSync(path.join(dir, "out", "_analyses", name), "utf8"))
      expect(descriptor.data.type).toBe("analysis")
      expect(`${analysisKey(descriptor.data.id)}.json`).toBe(name)
    }
    expect(readJsonFiles(path.join(dir, "out"))).toEqual([])
  })

  it("exits 2 before sending anything for a missing path, standard input, a bad option or no key", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "present.bin"), "present")
    const missing = await scan(dir, ["present.bin", "missing.bin"])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("cannot read \"missing.bin\": ENOENT")
    expect(missing.stderr).toContain("nothing was sent")
    expect((await scan(dir, ["-"])).code).toBe(2)
    expect((await scan(dir, ["present.bin", "--poll-interval", "0"])).code).toBe(2)
    expect((await scan(dir, ["present.bin", "--wait-timeout", "-5"])).code).toBe(2)
    const noKey = await runCli(["scan", "present.bin", "--base-url", server.url], { cwd: dir })
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain("VT_API_KEY")
    const noPath = await runCli(["scan", "--base-url", server.url], { cwd: dir, env: { VT_API_KEY: key } })
    expect(noPath.code).toBe(2)
    expect(server.requests).toEqual([])
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })

  it("stops at once with status 3 when the key is refused, and never shows the key", async () => {
    const dir = tempDir()
    const wrong = "wrong-scan-key-c0ffee42"
    for (const [i, content] of contents(3, false, "refused").entries()) {
      fs.writeFileSync(path.join(dir, `${i}.bin`), content)
    }
    const probed = await scan(dir, ["."], { VT_API_KEY: wrong })
    expect(probed.code).toBe(3)
    expect(probed.stderr).toContain("WrongCredentialsError")
    expect(probed.stderr).toContain(
      "summary: uploaded 0, known 0, analysed 0, saved 0, skipped 0, failed 0, requests 0"
    )
    expect(requests()).toEqual([])
    const unprobed = await scan(dir, [".", "--no-quota-probe"], { VT_API_KEY: wrong })
    expect(unprobed.code).toBe(3)
    // The first lookup is refused: nothing is uploaded, nothing more is sent.
    expect(requests()).toHaveLength(1)
    expect(probed.stderr + unprobed.stderr + logText(dir).join("")).not.toContain(wrong)
  })

  it("exits 1 naming each file that failed for good, and goes on with the others", async () => {
    const dir = tempDir()
    const [unknown] = contents(1, false, "fails")
    fs.writeFileSync(path.join(dir, "doomed.bin"), unknown)
    server.update({ faults: { error: { status: 424, code: "FailedDependencyError" } } })
    const result = await scan(dir, ["doomed.bin", "--no-progress"])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/Error: 424 .*FailedDependencyError.*\(file "doomed\.bin"\)/)
    expect(result.stderr).toContain("failed 1")
    expect(readJsonFiles(path.join(dir, "out"))).toEqual([])
  })

  it("an analysis that does not complete within --wait-timeout fails its file; the last state is kept", async () => {
    const dir = tempDir()
    const [unknown] = contents(1, false, "slow")
    fs.writeFileSync(path.join(dir, "slow.bin"), unknown)
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    const result = await scan(dir, ["slow.bin", "--wait-timeout", "1"])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/analysis \S+ of "slow\.bin" still queued after 1s \(--wait-timeout\)/)
    expect(result.stderr).toContain("summary: uploaded 1, known 0, analysed 0, saved 0, skipped 0, failed 1")
    const [saved] = readJsonFiles(path.join(dir, "out", "_analyses"))
    expect(JSON.parse(fs.readFileSync(path.join(dir, "out", "_analyses", saved), "utf8")).data.attributes.status)
      .toBe("queued")
    expect(readJsonFiles(path.join(dir, "out"))).toEqual([])
    expect(result.stderr).toContain(
      "or scan the file again later (it is not uploaded again while its analysis runs; --force uploads it again)"
    )
    // As the message says: scanned again, the file is not uploaded again; the same analysis is waited for.
    const analysisPath = requests().find((r) => r.startsWith("GET /api/v3/analyses/"))
    server.clearLog()
    const again = await scan(dir, ["slow.bin", "--wait-timeout", "1"])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain("summary: uploaded 0, known 0, analysed 0, saved 0, skipped 0, failed 1")
    expect(uploadsOf(requests())).toEqual([])
    expect(requests()).toContain(analysisPath)
  })

  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`stops on ${signal} while waiting for an analysis: summary printed, exit ${status}, nothing partial`, async () => {
      const dir = tempDir()
      const [unknown] = contents(1, false, signal)
      fs.writeFileSync(path.join(dir, "waiting.bin"), unknown)
      server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
      const { child, done } = startCli(
        ["scan", "waiting.bin", "-o", "out", "--base-url", server.url, "--per-minute", "60000", "--poll-interval", "1"],
        { env: { VT_API_KEY: key }, cwd: dir }
      )
      while (!server.requests.some((r) => r.path.startsWith("/api/v3/analyses/"))) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      child.kill(signal)
      const result = await done
      expect(result.code).toBe(status)
      expect(result.stderr).toContain("summary: uploaded 1, known 0, analysed 0, saved 0, skipped 0, failed 0")
      expect(fs.readdirSync(path.join(dir, "out")).filter((name) => name.startsWith("."))).toEqual([])
      expect(readJsonFiles(path.join(dir, "out"))).toEqual([])
      expect(fs.readdirSync(path.join(dir, "out", "_analyses")).filter((name) => name !== "_not_found")).toEqual([])
      expect(logText(dir)[0]).toContain("stopped by a signal")
    })
  }

  const uploadRecord = (dir: string, sha: string) =>
    JSON.parse(fs.readFileSync(path.join(dir, "out", "_uploads", `${sha}.json`), "utf8"))

  it("a scan stopped while waiting does not upload the file again: the next one waits for that analysis", async () => {
    const dir = tempDir()
    const [unknown] = contents(1, false, "resumed")
    fs.writeFileSync(path.join(dir, "waiting.bin"), unknown)
    const sha = sha256(unknown)
    // The first poll would come a minute after the upload.
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    const { child, done } = startCli(
      ["scan", "waiting.bin", "-o", "out", "--base-url", server.url, "--per-minute", "60000", "--poll-interval", "60"],
      { env: { VT_API_KEY: key }, cwd: dir }
    )
    const record = path.join(dir, "out", "_uploads", `${sha}.json`)
    while (!fs.existsSync(record)) await new Promise((resolve) => setTimeout(resolve, 20))
    child.kill("SIGTERM")
    expect((await done).code).toBe(143)
    const { analysis_id: analysisId } = uploadRecord(dir, sha)
    expect(uploadRecord(dir, sha)).toEqual({ analysis_id: analysisId, status: "uploaded" })
    expect(analysisId).toMatch(/==$/)

    // Run again: VirusTotal has no report yet, so the run polls that analysis (it completes after the first poll),
    // then saves the report.
    server.clearLog()
    const rerun = startScan(dir, ["waiting.bin"])
    await completeAfterAPoll()
    const again = await rerun.done
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toContain("summary: uploaded 0, known 0, analysed 1, saved 1, skipped 0, failed 0")
    const requested = requests()
    expect(uploadsOf(requested)).toEqual([])
    expect(requested[0]).toBe(`GET /api/v3/files/${sha}`)
    expect(new Set(requested.slice(1, -1))).toEqual(new Set([`GET /api/v3/analyses/${encodeURIComponent(analysisId)}`]))
    expect(requested.at(-1)).toBe(`GET /api/v3/files/${sha}`)
    expect(logText(dir).join("")).toContain(
      `"waiting.bin" was uploaded by an earlier run: looking at its analysis ${analysisId}`
    )
    expect(readJsonFiles(path.join(dir, "out"))).toEqual([`${sha}.json`])
    expect(uploadRecord(dir, sha)).toEqual({ analysis_id: analysisId, status: "completed" })

    // Its report gone, and VirusTotal without it (the emulator forgets its uploads): the completed upload is not
    // waited for again, the file is uploaded afresh.
    fs.rmSync(path.join(dir, "out", `${sha}.json`))
    server.reset()
    server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0, faults: {} })
    const fresh = await scan(dir, ["waiting.bin", "--no-wait"])
    expect(fresh.code, fresh.stderr).toBe(0)
    expect(requests()).toEqual([`GET /api/v3/files/${sha}`, "POST /api/v3/files"])
    expect(uploadRecord(dir, sha).status).toBe("uploaded")
    expect(uploadRecord(dir, sha).analysis_id).not.toBe(analysisId)
  })

  it("--no-wait remembers the upload: another --no-wait looks at its analysis, a later scan waits for it", async () => {
    const dir = tempDir()
    const [unknown] = contents(1, false, "later")
    fs.writeFileSync(path.join(dir, "a.bin"), unknown)
    const sha = sha256(unknown)
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    expect((await scan(dir, ["a.bin", "--no-wait"])).code).toBe(0)
    const analysisId = uploadRecord(dir, sha).analysis_id
    // A copy of the same content in the run is not looked at again: one lookup, one look at the analysis.
    fs.writeFileSync(path.join(dir, "copy.bin"), unknown)
    server.clearLog()
    const twice = await scan(dir, ["a.bin", "copy.bin", "--no-wait", "--concurrency", "1"])
    expect(twice.code).toBe(0)
    expect(twice.stderr).toContain("summary: uploaded 0, known 0, analysed 0, saved 0, skipped 2, failed 0, requests 2")
    expect(logText(dir).join("")).toContain(`skipped file "copy.bin": a duplicate of an earlier item of this run`)
    expect(requests()).toEqual([`GET /api/v3/files/${sha}`, `GET /api/v3/analyses/${encodeURIComponent(analysisId)}`])
    expect(logText(dir).join("")).toMatch(
      new RegExp(
        `skipped "a\\.bin": uploaded by an earlier run, analysis ${
          analysisId.replace(/[+/=]/g, "\\$&")
        } still (queued|in-progress) \\(--no-wait\\)`
      )
    )
    server.clearLog()
    const waiting = startScan(dir, ["a.bin"])
    await completeAfterAPoll()
    const waited = await waiting.done
    expect(waited.stderr).toContain("summary: uploaded 0, known 0, analysed 1, saved 1, skipped 0, failed 0")
    expect(uploadsOf(requests())).toEqual([])
  })

  it("--no-wait on an earlier upload: one VirusTotal does not know is uploaded again, one it knows is kept as it is", async () => {
    const dir = tempDir()
    const [first, second] = contents(2, false, "looked")
    fs.writeFileSync(path.join(dir, "a.bin"), first)
    fs.writeFileSync(path.join(dir, "b.bin"), second)
    fs.mkdirSync(path.join(dir, "out", "_uploads"), { recursive: true })
    const unknownId = Buffer.from(`${"0".repeat(32)}:1700000000`).toString("base64")
    fs.writeFileSync(
      path.join(dir, "out", "_uploads", `${sha256(first)}.json`),
      JSON.stringify({ analysis_id: unknownId, status: "uploaded" })
    )
    const result = await scan(dir, ["a.bin", "--no-wait"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain(`analysis ${unknownId} of "a.bin" is unknown to VirusTotal: uploading again`)
    expect(uploadsOf(requests())).toEqual(["POST /api/v3/files"])
    expect(uploadRecord(dir, sha256(first)).analysis_id).not.toBe(unknownId)

    // b's earlier upload, still queued: looked at once, its state kept under _analyses/, the file skipped.
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    expect((await scan(dir, ["b.bin", "--no-wait"])).code).toBe(0)
    const { analysis_id: id } = uploadRecord(dir, sha256(second))
    const descriptor = path.join(dir, "out", "_analyses", `${analysisKey(id)}.json`)
    expect(JSON.parse(fs.readFileSync(descriptor, "utf8")).data.attributes).toBeUndefined()
    server.clearLog()
    const looked = await scan(dir, ["b.bin", "--no-wait"])
    expect(looked.code).toBe(0)
    expect(requests()).toEqual([
      `GET /api/v3/files/${sha256(second)}`,
      `GET /api/v3/analyses/${encodeURIComponent(id)}`
    ])
    expect(JSON.parse(fs.readFileSync(descriptor, "utf8")).data.attributes.status).toBe("queued")
    expect(uploadRecord(dir, sha256(second))).toEqual({ analysis_id: id, status: "uploaded" })
  })

  it("an upload record naming the analysis of other content is no upload of the file: the file is uploaded", async () => {
    const dir = tempDir()
    const [first, second] = contents(2, false, "swapped")
    fs.writeFileSync(path.join(dir, "a.bin"), first)
    fs.writeFileSync(path.join(dir, "b.bin"), second)
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    expect((await scan(dir, ["a.bin", "--no-wait"])).code).toBe(0)
    // a's analysis completes; b is not known, and its record names a's analysis.
    server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0 })
    const uploads = path.join(dir, "out", "_uploads")
    fs.copyFileSync(path.join(uploads, `${sha256(first)}.json`), path.join(uploads, `${sha256(second)}.json`))
    const { analysis_id: id } = uploadRecord(dir, sha256(first))
    server.clearLog()
    const result = await scan(dir, ["b.bin"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain(
      `analysis ${id}, recorded for "b.bin", is of another content (${sha256(first)}): the file is uploaded again`
    )
    expect(result.stderr).toContain("summary: uploaded 1, known 0, analysed 1, saved 1, skipped 0, failed 0")
    expect(uploadsOf(requests())).toEqual(["POST /api/v3/files"])
    // b's report, not a's.
    expect(readJsonFiles(path.join(dir, "out"))).toEqual([`${sha256(second)}.json`])
    expect(uploadRecord(dir, sha256(second)).analysis_id).not.toBe(id)
  })

  it("an upload record naming an analysis of other content still queued, or of a URL, is found at the first look", async () => {
    const dir = tempDir()
    const [first, second, third] = contents(3, false, "first-look")
    for (const [name, content] of [["a.bin", first], ["b.bin", second], ["c.bin", third]] as const) {
      fs.writeFileSync(path.join(dir, name), content)
    }
    server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    expect((await scan(dir, ["a.bin", "--no-wait"])).code).toBe(0)
    const { analysis_id: queued } = uploadRecord(dir, sha256(first))
    const submitted = await fetch(`${server.url}/urls`, {
      method: "POST",
      headers: { "x-apikey": key },
      body: new URLSearchParams({ url: "http://first-look.example/page" })
    })
    const urlAnalysis = ((await submitted.json()) as { data: { id: string } }).data.id
    const uploads = path.join(dir, "out", "_uploads")
    fs.copyFileSync(path.join(uploads, `${sha256(first)}.json`), path.join(uploads, `${sha256(second)}.json`))
    fs.writeFileSync(
      path.join(uploads, `${sha256(third)}.json`),
      JSON.stringify({ analysis_id: urlAnalysis, status: "uploaded" })
    )
    server.clearLog()
    // Waiting would take two minutes: the first look tells, and each file is uploaded at once.
    const result = await scan(dir, ["b.bin", "c.bin", "--wait-timeout", "1"])
    expect(result.stderr).toContain(
      `analysis ${queued}, recorded for "b.bin", is of another content (${sha256(first)}): the file is uploaded again`
    )
    expect(result.stderr).toContain(
      `analysis ${urlAnalysis}, recorded for "c.bin", is of no file: the file is uploaded again`
    )
    expect(uploadsOf(requests())).toEqual(["POST /api/v3/files", "POST /api/v3/files"])
    expect(uploadRecord(dir, sha256(second)).analysis_id).not.toBe(queued)
    expect(uploadRecord(dir, sha256(third)).analysis_id).not.toBe(urlAnalysis)
  })

  it("an upload record that is not one, or cannot be read, or names an analysis VirusTotal does not know: a fresh upload", async () => {
    const dir = tempDir()
    const [first, second, third] = contents(3, false, "records")
    fs.writeFileSync(path.join(dir, "a.bin"), first)
    fs.writeFileSync(path.join(dir, "b.bin"), second)
    fs.writeFileSync(path.join(dir, "c.bin"), third)
    fs.mkdirSync(path.join(dir, "out", "_uploads"), { recursive: true })
    fs.writeFileSync(
      path.join(dir, "out", "_uploads", `${sha256(first)}.json`),
      JSON.stringify({ analysis_id: "../../etc/passwd\u001b]0;x", status: "uploaded" })
    )
    const unknownId = Buffer.from(`${"0".repeat(32)}:1700000000`).toString("base64")
    fs.writeFileSync(
      path.join(dir, "out", "_uploads", `${sha256(second)}.json`),
      JSON.stringify({ analysis_id: unknownId, status: "uploaded" })
    )
    // Not gzip at all, under a gzip record's name: the store cannot read it.
    fs.writeFileSync(
      path.join(dir, "out", "_uploads", `${sha256(third)}.json.gz`),
      Buffer.from([0x1f, 0x8b, 0x78, 0x78])
    )
    const result = await scan(dir, ["a.bin", "b.bin", "c.bin", "--concurrency", "1"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("summary: uploaded 3, known 0, analysed 3, saved 3, skipped 0, failed 0")
    expect(result.stderr).toContain(
      `the record of ${sha256(first)} in _uploads/ is not one of an upload: "a.bin" is uploaded again`
    )
    expect(result.stderr).toContain(`analysis ${unknownId} of "b.bin" is unknown to VirusTotal: uploading again`)
    expect(result.stderr).toMatch(
      new RegExp(`the record of ${sha256(third)} in _uploads/ cannot be read \\(.+\\): "c\\.bin" is uploaded again`)
    )
    expect(result.stderr).not.toMatch(noControl)
    expect(uploadsOf(requests())).toHaveLength(3)
    expect(readJsonFiles(path.join(dir, "out"))).toEqual([first, second, third].map((c) => `${sha256(c)}.json`).sort())
    // The unreadable record was replaced by the new upload's.
    expect(uploadRecord(dir, sha256(third)).status).toBe("completed")
    expect(fs.existsSync(path.join(dir, "out", "_uploads", `${sha256(third)}.json.gz`))).toBe(false)
  })

  it("a directory where a file's upload record is written: stopped before the upload it could not remember", async () => {
    const dir = tempDir()
    const [content] = contents(1, false, "blocked")
    fs.writeFileSync(path.join(dir, "a.bin"), content)
    const record = path.join(dir, "out", "_uploads", `${sha256(content)}.json`)
    fs.mkdirSync(record, { recursive: true })
    for (let run = 0; run < 2; run++) {
      server.clearLog()
      const result = await scan(dir, ["a.bin"])
      expect(result.code, result.stderr).toBe(1)
      expect(result.stderr).toContain(`${record} is a directory where a record is written`)
      // Before, each run uploaded the file, then failed to rename its record onto the directory.
      expect(uploadsOf(requests())).toEqual([])
    }
  })

  it("--help describes the command with an example, without control characters", async () => {
    const result = await runCli(["scan", "--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("Example: vt-harvest scan")
    for (const option of ["--force", "--no-wait", "--poll-interval", "--wait-timeout", "--overwrite", "--out"]) {
      expect(result.stdout).toContain(option)
    }
    expect(result.stdout + result.stderr).not.toMatch(noControl)
  })
})

describe("vt-harvest scan --out s3://bucket/prefix", () => {
  const bucket = "vt-scan-reports"
  let store: Awaited<ReturnType<typeof startS3rver>>
  beforeAll(async () => {
    store = await startS3rver(bucket)
  })
  afterAll(() => store.close())

  const objectKeys = async (prefix: string) => {
    const page = await store.client.send(new S3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
    return (page.Contents ?? []).map((object) => object.Key!).sort()
  }

  it("stores reports under the prefix and analyses under prefix/_analyses; a rerun sends nothing", async () => {
    const dir = tempDir()
    const [known] = contents(1, true, "s3-known")
    const [unknown] = contents(1, false, "s3-unknown")
    fs.mkdirSync(path.join(dir, "samples"))
    fs.writeFileSync(path.join(dir, "samples", "known.exe"), known)
    fs.writeFileSync(path.join(dir, "samples", "unknown.exe"), unknown)
    const run = () =>
      runCli(
        [
          "scan",
          "samples",
          "-o",
          `s3://${bucket}/runs/scan`,
          "--base-url",
          server.url,
          "--per-minute",
          "60000",
          "--poll-interval",
          "1"
        ],
        { env: { VT_API_KEY: key, ...store.env }, cwd: dir }
      )
    const result = await run()
    expect(result.stderr).toContain(
      "summary: uploaded 1, known 1, analysed 1, saved 2, skipped 0, failed 0, requests 5"
    )
    expect(result.code).toBe(0)
    const analysisId = server.requests.find((r) => r.path.startsWith("/api/v3/analyses/"))!.id!
    expect(await objectKeys("runs/")).toEqual([
      `runs/scan/${sha256(known)}.json`,
      `runs/scan/${sha256(unknown)}.json`,
      `runs/scan/_analyses/${analysisKey(analysisId)}.json`,
      `runs/scan/_uploads/${sha256(unknown)}.json`
    ].sort())

    server.clearLog()
    const again = await run()
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("skipped 2, failed 0, requests 0")
    expect(requests()).toEqual([])
  })
})
