// urls --submit-unknown, end to end: the built CLI against the emulator (analyses complete in 0.6 s), requests
// counted in the emulator's own log.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { sameUrl } from "../src/internal/reports.js"
import { completeRecords, emulatorSuite, readJsonFiles, runLog, storeFiles, tempDir } from "./helpers.js"

const key = "submit-test-key-1c5a7e93"
const suite = emulatorSuite(key, "submit", { analysisQueuedMs: 300, analysisCompletedMs: 600 })

const urls = (dir: string, args: ReadonlyArray<string>) => suite.run(dir, ["urls", "urls.txt", ...args])

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex")
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const readJson = (file: string): any => JSON.parse(fs.readFileSync(file, "utf8"))

/** The first of `<name>-0`, `<name>-1`… (as `https://<name>-<i>.example.org/`) the emulator does not know. */
const unknownUrl = (name: string) =>
  Array.from({ length: 40 }, (_, i) => `https://${name}-${i}.example.org/`).find((url) => !VtEmulator.isKnownUrl(url))!

/** A test with `url` alone in `<dir>/urls.txt` while analyses stay queued a minute; the suite's timings after it. */
const withSlowAnalyses = (name: string, test: (dir: string, url: string) => Promise<void>) => async () => {
  suite.server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
  try {
    const dir = tempDir()
    const url = unknownUrl(name)
    fs.writeFileSync(path.join(dir, "urls.txt"), url)
    await test(dir, url)
  } finally {
    suite.server.update({ analysisQueuedMs: 300, analysisCompletedMs: 600 })
  }
}

describe("urls --submit-unknown", () => {
  it("submits each unknown URL, waits for its analysis, saves analysis and report; a rerun sends nothing", async () => {
    const dir = tempDir()
    const candidates = Array.from({ length: 30 }, (_, i) => `https://submit-${i}.example.org/page?id=${i}`)
    const known = candidates.filter(VtEmulator.isKnownUrl).slice(0, 1)
    const unknown = candidates.filter((url) => !VtEmulator.isKnownUrl(url)).slice(0, 3)
    fs.writeFileSync(path.join(dir, "urls.txt"), [...known, ...unknown].join("\n"))
    const out = path.join(dir, "out")

    // Without the option, unknown URLs are recorded as not found …
    fs.writeFileSync(path.join(dir, "urls.txt"), [...known, unknown[0]].join("\n"))
    const plain = await urls(dir, [])
    expect(plain.stderr).toContain("summary: saved 1, not found 1, skipped 0, invalid 0, failed 0, requests 2")
    expect(readJsonFiles(path.join(out, "_not_found"))).toEqual([`${sha256(unknown[0])}.json`])

    // … and with it, those and the new unknown ones are submitted: 404, POST /urls, one poll, the report.
    fs.writeFileSync(path.join(dir, "urls.txt"), [...known, ...unknown].join("\n"))
    suite.server.clearLog()
    const submitted = await urls(dir, ["--submit-unknown", "--poll-interval", "1"])
    expect(submitted.code).toBe(0)
    expect(submitted.stderr).toContain(
      "summary: saved 3, not found 0, skipped 1, invalid 0, failed 0, analysed 3, requests 12"
    )
    expect(suite.server.requests.filter((r) => r.method === "POST").map((r) => r.path)).toEqual(
      unknown.map(() => "/api/v3/urls")
    )
    for (const url of unknown) {
      const report = readJson(path.join(out, `${sha256(url)}.json`))
      expect(report.data.type).toBe("url")
      expect(report.data.attributes.url).toBe(url)
    }
    expect(readJsonFiles(path.join(out, "_not_found"))).toEqual([])
    const analyses = readJsonFiles(path.join(out, "_analyses"))
    expect(analyses).toHaveLength(3)
    for (const name of analyses) {
      const analysis = readJson(path.join(out, "_analyses", name))
      expect(analysis.data.attributes.status).toBe("completed")
      expect(unknown).toContain(analysis.meta.url_info.url)
    }

    suite.server.clearLog()
    const again = await urls(dir, ["--submit-unknown", "--poll-interval", "1"])
    expect(again.stderr).toContain(
      "summary: saved 0, not found 0, skipped 4, invalid 0, failed 0, analysed 0, requests 0"
    )
    expect(suite.server.requests).toHaveLength(0)
  })

  it("SIGKILL once a URL is submitted: nothing partial; the rerun submits nothing twice, asks nothing saved, then nothing", async () => {
    const dir = suite.scratch()
    const candidates = Array.from({ length: 40 }, (_, i) => `https://killed-${i}.example.org/page?id=${i}`)
    const [known] = candidates.filter(VtEmulator.isKnownUrl)
    const unknown = candidates.filter((url) => !VtEmulator.isKnownUrl(url)).slice(0, 3)
    const list = [known, ...unknown]
    fs.writeFileSync(path.join(dir, "urls.txt"), list.join("\n"))
    const args = ["urls", "urls.txt", "--submit-unknown", "--poll-interval", "1"]
    const posts = () => suite.server.requests.filter((r) => r.method === "POST")

    suite.server.update({ latencyMs: 300 })
    // Killed once the second unknown URL is submitted, before the answer comes back: VirusTotal has it, the run not.
    const killed = await suite.killedWhen(dir, args, () => posts().length >= 2)
    suite.server.update({ latencyMs: 0 })
    expect(killed.signal).toBe("SIGKILL")
    const out = path.join(dir, "out")
    const left = completeRecords(out)
    expect([...left.keys()].filter((name) => !name.startsWith("_"))).toEqual(
      [known, unknown[0]].map((url) => `${sha256(url)}.json`).sort()
    )
    // The first submission is recorded completed; the second was killed before its answer: no record.
    expect([...left.keys()].filter((name) => name.startsWith("_submissions/"))).toEqual(
      [`_submissions/${sha256(unknown[0])}.json`]
    )
    expect(readJson(path.join(out, "_submissions", `${sha256(unknown[0])}.json`)).status).toBe("completed")
    for (const name of [...left.keys()].filter((name) => name.startsWith("_analyses"))) {
      expect(readJson(path.join(out, name)).meta.url_info.url).toBe(unknown[0])
    }
    // Once the analysis of the URL submitted by the killed run completes, VirusTotal has its report.
    const urlId = (url: string) => Buffer.from(url).toString("base64url")
    const isKnownNow = async (url: string) =>
      (await fetch(`${suite.server.url}/urls/${urlId(url)}`, { headers: { "x-apikey": key } })).status === 200
    while (!(await isKnownNow(unknown[1]))) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }

    suite.server.clearLog()
    const rerun = await suite.run(dir, args)
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(rerun.stderr).toContain("summary: saved 2, not found 0, skipped 2, invalid 0, failed 0, analysed 1")
    // Nothing for a URL saved; the one the killed run submitted costs its report only; the last one is submitted.
    const asked = (url: string) =>
      suite.server.requests.filter((r) => r.path === `/api/v3/urls/${urlId(url)}`).map((r) => `${r.method} ${r.status}`)
    expect(asked(known)).toEqual([])
    expect(asked(unknown[0])).toEqual([])
    expect(asked(unknown[1])).toEqual(["GET 200"])
    expect(asked(unknown[2])).toEqual(["GET 404", "GET 200"])
    expect(posts()).toHaveLength(1)
    const resumed = completeRecords(out)
    expect([...resumed.keys()].filter((name) => !name.startsWith("_"))).toEqual(
      list.map((url) => `${sha256(url)}.json`).sort()
    )
    for (const url of list) expect(readJson(path.join(out, `${sha256(url)}.json`)).data.attributes.url).toBe(url)
    const analysed = [...resumed.keys()].filter((name) => name.startsWith("_analyses")).map((name) =>
      readJson(path.join(out, name))
    )
    expect(analysed.map((a) => a.meta.url_info.url).sort()).toEqual([unknown[0], unknown[2]].sort())
    expect(analysed.every((a) => a.data.attributes.status === "completed")).toBe(true)
    expect(storeFiles(out).temporaries).toEqual([])

    suite.server.clearLog()
    const again = await suite.run(dir, args)
    expect(again.stderr).toContain(
      "summary: saved 0, not found 0, skipped 4, invalid 0, failed 0, analysed 0, requests 0"
    )
    expect(suite.server.requests).toHaveLength(0)
  })

  it(
    "an analysis that does not complete in --wait-timeout fails the URL, its last state kept; a rerun waits for that analysis, submitting nothing",
    withSlowAnalyses("slow", async (dir, url) => {
      const started = Date.now()
      const result = await urls(dir, ["--submit-unknown", "--poll-interval", "1", "--wait-timeout", "2"])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("failed 1")
      expect(result.stderr).toMatch(/still queued after 2s \(--wait-timeout\)/)
      expect(result.stderr).toContain("it is not submitted again while its analysis runs")
      const out = path.join(dir, "out")
      const analyses = readJsonFiles(path.join(out, "_analyses"))
      expect(analyses).toHaveLength(1)
      const analysis = readJson(path.join(out, "_analyses", analyses[0]))
      expect(analysis.data.attributes.status).toBe("queued")
      expect(readJsonFiles(out)).toEqual([])
      expect(readJsonFiles(path.join(out, "_not_found"))).toEqual([])
      const record = path.join(out, "_submissions", `${sha256(url)}.json`)
      expect(readJson(record)).toEqual({ analysis_id: analysis.data.id, status: "submitted" })

      // The analysis completes 4 s from now (the emulator counts from the submission, made after `started`): the
      // rerun finds the URL still unknown, and waits for the analysis the first run started.
      suite.server.update({ analysisQueuedMs: 300, analysisCompletedMs: Date.now() - started + 4_000 })
      suite.server.clearLog()
      const rerun = await urls(dir, ["--submit-unknown", "--poll-interval", "1"])
      expect(rerun.code, rerun.stderr).toBe(0)
      expect(rerun.stderr).toContain("saved 1, not found 0, skipped 0, invalid 0, failed 0, analysed 1")
      expect(suite.server.requests.filter((r) => r.method === "POST")).toHaveLength(0)
      const polls = suite.server.requests.filter((r) => r.path === `/api/v3/analyses/${analysis.data.id}`)
      expect(polls.length).toBeGreaterThanOrEqual(2)
      expect(runLog(dir)).toContain(
        `${url} was submitted by an earlier run: looking at its analysis ${analysis.data.id}`
      )
      expect(readJsonFiles(out)).toEqual([`${sha256(url)}.json`])
      expect(readJson(path.join(out, `${sha256(url)}.json`)).data.attributes.url).toBe(url)
      expect(readJson(record)).toEqual({ analysis_id: analysis.data.id, status: "completed" })

      suite.server.clearLog()
      const again = await urls(dir, ["--submit-unknown", "--poll-interval", "1"])
      expect(again.stderr).toContain("saved 0, not found 0, skipped 1, invalid 0, failed 0, analysed 0, requests 0")
    })
  )

  it("a submission record naming an analysis VirusTotal does not know, or a file's, or another URL's, or no record at all: the URL is submitted again, with a warning", async () => {
    const dir = tempDir()
    const unknown = Array.from({ length: 60 }, (_, i) => `https://recorded-${i}.example.org/x`)
      .filter((url) => !VtEmulator.isKnownUrl(url)).slice(0, 6)
    fs.writeFileSync(path.join(dir, "urls.txt"), unknown.join("\n"))
    const records = path.join(dir, "out", "_submissions")
    fs.mkdirSync(records, { recursive: true })
    const record = (url: string, text: string) => fs.writeFileSync(path.join(records, `${sha256(url)}.json`), text)
    const unknownId = `u-${"0".repeat(64)}-1700000000`
    record(unknown[0], JSON.stringify({ analysis_id: unknownId, status: "submitted" }))
    record(unknown[1], "not json \u001b[31m")
    record(unknown[2], JSON.stringify({ analysis_id: "../../etc/passwd", status: "submitted" }))
    // A file's analysis (uploaded to the emulator here) is of no URL.
    const upload = new FormData()
    upload.append("file", new Blob([Buffer.from("a file, not a URL")]), "f.bin")
    const uploaded = await fetch(`${suite.server.url}/files`, {
      method: "POST",
      headers: { "x-apikey": key },
      body: upload
    })
    const fileAnalysis = ((await uploaded.json()) as { data: { id: string } }).data.id
    record(unknown[3], JSON.stringify({ analysis_id: fileAnalysis, status: "submitted" }))
    // Another URL's analysis (submitted here), and a record in an upload's words.
    const submittedOther = await fetch(`${suite.server.url}/urls`, {
      method: "POST",
      headers: { "x-apikey": key, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ url: "https://another.example.org/" })
    })
    const otherAnalysis = ((await submittedOther.json()) as { data: { id: string } }).data.id
    record(unknown[4], JSON.stringify({ analysis_id: otherAnalysis, status: "submitted" }))
    record(unknown[5], JSON.stringify({ analysis_id: otherAnalysis, status: "uploaded" }))
    suite.server.clearLog()

    const result = await urls(dir, ["--submit-unknown", "--poll-interval", "1"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("saved 6, not found 0, skipped 0, invalid 0, failed 0, analysed 6")
    expect(suite.server.requests.filter((r) => r.method === "POST")).toHaveLength(6)
    expect(result.stderr).toContain(`names analysis ${unknownId}, whose id VirusTotal refuses`)
    expect(result.stderr).toContain(`names analysis ${fileAnalysis}, which is of no URL`)
    expect(result.stderr).toContain(`names analysis ${otherAnalysis}, which is of another URL`)
    expect(result.stderr.match(/is not one of a submission/g)).toHaveLength(3)
    expect(result.stderr).not.toContain("\u001b")
    for (const url of unknown) {
      const kept = readJson(path.join(records, `${sha256(url)}.json`))
      expect(kept.status).toBe("completed")
      expect(kept.analysis_id).not.toBe(unknownId)
      expect(readJson(path.join(dir, "out", `${sha256(url)}.json`)).data.attributes.url).toBe(url)
    }
  })

  it("a directory where a URL's submission record is written: stopped before the submission it could not remember", async () => {
    const dir = tempDir()
    const url = unknownUrl("blocked")
    fs.writeFileSync(path.join(dir, "urls.txt"), url)
    const record = path.join(dir, "out", "_submissions", `${sha256(url)}.json`)
    fs.mkdirSync(record, { recursive: true })
    for (let run = 0; run < 2; run++) {
      suite.server.clearLog()
      const result = await urls(dir, ["--submit-unknown", "--poll-interval", "1"])
      expect(result.code, result.stderr).toBe(1)
      expect(result.stderr).toContain(`${record} is a directory where a record is written`)
      // Before, each run submitted the URL, then failed to rename its record onto the directory.
      expect(suite.server.requests.filter((r) => r.method === "POST")).toEqual([])
    }
  })

  it(
    "--overwrite submits again a URL whose recorded analysis stays queued (the way out)",
    withSlowAnalyses("stuck", async (dir, url) => {
      const posts = () => suite.server.requests.filter((r) => r.method === "POST").length
      const args = ["--submit-unknown", "--poll-interval", "1", "--wait-timeout", "1"]
      const first = await urls(dir, args)
      expect(first.code).toBe(1)
      expect(first.stderr).toContain("--overwrite submits it again")
      const second = await urls(dir, args)
      expect(second.code).toBe(1)
      expect(posts()).toBe(1)
      const third = await urls(dir, [...args, "--overwrite"])
      expect(third.code).toBe(1)
      expect(posts()).toBe(2)
      const record = readJson(path.join(dir, "out", "_submissions", `${sha256(url)}.json`))
      const analyses = suite.server.requests.filter((r) => r.method === "POST" && r.status === 200)
      expect(analyses).toHaveLength(2)
      expect(record.status).toBe("submitted")
    })
  )
})

describe("the URL of a recorded analysis", () => {
  it("is this one as listed, as a URL parser writes both, or by its key; not another, nor garbage", () => {
    const url = "HTTPS://Canon.Example.org"
    const key = sha256(url)
    for (
      const info of [
        { id: "other", url },
        { id: "other", url: "https://canon.example.org/" },
        { id: key.toUpperCase() },
        { id: key, url: "https://elsewhere.example.org/" }
      ]
    ) {
      expect(sameUrl(info, url, key), JSON.stringify(info)).toBe(true)
    }
    for (
      const info of [
        { id: "other" },
        { id: "other", url: "https://canon.example.org/x" },
        { id: "other", url: "http://canon.example.org/" },
        { id: "other", url: "not a url" }
      ]
    ) {
      expect(sameUrl(info, url, key), JSON.stringify(info)).toBe(false)
    }
    expect(sameUrl({ id: "other", url: "not a url" }, "not a url either", key)).toBe(false)
  })
})
