// files|urls --rescan-older-than, end to end: the built CLI against the emulator (analyses complete in 0.6 s),
// requests counted in the emulator's own log, the store watched while reports are replaced.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { emulatorSuite, hashes, readJsonFiles, startCli } from "./helpers.js"

const key = "rescan-test-key-7d20b9e4f1"
const fast = { analysisQueuedMs: 300, analysisCompletedMs: 600 }
const suite = emulatorSuite(key, "rescan", fast)

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex")
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const readJson = (file: string): any => JSON.parse(fs.readFileSync(file, "utf8"))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const files = (dir: string, args: ReadonlyArray<string> = []) => suite.run(dir, ["files", "ids.txt", ...args])
const rescan = ["--rescan-older-than", "30d", "--poll-interval", "1"]

/** The report of `id` in `out` (a file's key is the hash as listed). */
const reportOf = (out: string, id: string) => readJson(path.join(out, `${id}.json`))

/** Reads every report in `out` every few milliseconds until stopped: each one must parse and name its object. */
const watch = (out: string, ids: ReadonlyArray<string>) => {
  let reads = 0
  const problems: Array<string> = []
  let running = true
  const loop = (async () => {
    while (running) {
      for (const id of ids) {
        const file = path.join(out, `${id}.json`)
        try {
          const data = JSON.parse(fs.readFileSync(file, "utf8")).data
          if (typeof data?.id !== "string") problems.push(`${id}: no data.id`)
          reads++
        } catch (error) {
          problems.push(`${id}: ${String(error)}`)
        }
      }
      await sleep(2)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return { reads, problems }
    }
  }
}

describe("files --rescan-older-than", () => {
  it("rescans each stale saved report (POST, a poll, GET), replaces it in one step; a rerun sends nothing", async () => {
    const dir = suite.scratch()
    const out = path.join(dir, "out")
    const ids = hashes(4, true, "rescan")
    fs.writeFileSync(path.join(dir, "ids.txt"), ids.join("\n") + "\n")
    expect((await files(dir)).stderr).toContain("saved 4, not found 0")
    const before = ids.map((id) => reportOf(out, id).data.attributes.last_analysis_date as number)
    // The emulator's reports were last analysed before 2024-05-07: all older than 30 days.
    for (const date of before) expect(date).toBeLessThan(1_715_040_000 + 1)

    suite.server.clearLog()
    const watcher = watch(out, ids)
    const started = Math.floor(Date.now() / 1000)
    const result = await files(dir, rescan)
    const seen = await watcher.stop()
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("summary: saved 4, not found 0, skipped 0, invalid 0, failed 0, analysed 4")
    expect(result.stderr).toContain("requests 12")
    // Per id: POST …/analyse, one poll of its analysis, GET the report: nothing else.
    const log = suite.server.requests
    expect(log).toHaveLength(12)
    for (const id of ids) {
      expect(log.filter((r) => r.method === "POST" && r.path === `/api/v3/files/${id}/analyse`)).toHaveLength(1)
      expect(log.filter((r) => r.method === "GET" && r.path === `/api/v3/files/${id}`)).toHaveLength(1)
    }
    expect(log.filter((r) => r.method === "GET" && r.path.startsWith("/api/v3/analyses/"))).toHaveLength(4)
    // The reports were read about all along the run: never absent, never partial.
    expect(seen.problems).toEqual([])
    expect(seen.reads).toBeGreaterThan(100)
    ids.forEach((id, i) => {
      const date = reportOf(out, id).data.attributes.last_analysis_date as number
      expect(date).toBeGreaterThan(before[i])
      expect(date).toBeGreaterThanOrEqual(started)
    })
    const analyses = readJsonFiles(path.join(out, "_analyses"))
    expect(analyses).toHaveLength(4)
    for (const name of analyses) {
      expect(readJson(path.join(out, "_analyses", name)).data.attributes.status).toBe("completed")
    }
    // Only records in the store: no temporary file left behind.
    expect(fs.readdirSync(out).filter((name) => !name.startsWith("_")).sort()).toEqual(
      ids.map((id) => `${id}.json`).sort()
    )
    const log2 = fs.readFileSync(path.join(dir, "log", fs.readdirSync(path.join(dir, "log")).sort().at(-1)!), "utf8")
    expect(log2).toMatch(/saved [0-9a-f]+\.json \(rescanned, analysis \S+; was analysed 20\d\d-/)

    // The reports are fresh now: a rerun with the same age sends nothing.
    suite.server.clearLog()
    const rerun = await files(dir, rescan)
    expect(rerun.code).toBe(0)
    expect(rerun.stderr).toContain(
      "summary: saved 0, not found 0, skipped 4, invalid 0, failed 0, analysed 0, requests 0"
    )
    expect(suite.server.requests).toHaveLength(0)
  })

  it("a saved report fresh enough costs no request; a stale one just fetched is kept, then rescanned", async () => {
    const dir = suite.scratch()
    const out = path.join(dir, "out")
    const [id] = hashes(1, true, "fresh")
    fs.writeFileSync(path.join(dir, "ids.txt"), `${id}\n`)
    // Not saved yet: GET (kept as it is), POST …/analyse, a poll, GET again.
    const first = await files(dir, rescan)
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toContain("saved 1, not found 0, skipped 0, invalid 0, failed 0, analysed 1, requests 4")
    expect(suite.server.requests.map((r) => `${r.method} ${r.path.replace(/analyses\/.*/, "analyses/…")}`)).toEqual([
      `GET /api/v3/files/${id}`,
      `POST /api/v3/files/${id}/analyse`,
      "GET /api/v3/analyses/…",
      `GET /api/v3/files/${id}`
    ])

    // A store analysed within the age asked: nothing is sent, whatever the age.
    const date = reportOf(out, id).data.attributes.last_analysis_date as number
    expect(Date.now() / 1000 - date).toBeLessThan(120)
    for (const age of ["1h", "12h", "2w"]) {
      suite.server.clearLog()
      const again = await files(dir, ["--rescan-older-than", age, "--poll-interval", "1"])
      expect(again.stderr).toContain("skipped 1, invalid 0, failed 0, analysed 0, requests 0")
      expect(suite.server.requests).toHaveLength(0)
    }
  })

  it("a saved report whose analysis date no Date can hold is rescanned like any stale one; the run goes on", async () => {
    const dir = suite.scratch()
    const out = path.join(dir, "out")
    const ids = hashes(2, true, "outofrange")
    fs.writeFileSync(path.join(dir, "ids.txt"), ids.join("\n") + "\n")
    fs.mkdirSync(out)
    const odd = { data: { type: "file", id: ids[0], attributes: { sha256: ids[0], last_analysis_date: -1e13 } } }
    fs.writeFileSync(path.join(out, `${ids[0]}.json`), JSON.stringify(odd))
    const result = await files(dir, rescan)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("saved 2, not found 0, skipped 0, invalid 0, failed 0")
    const log = fs.readdirSync(path.join(dir, "log")).map((f) => fs.readFileSync(path.join(dir, "log", f), "utf8"))
    expect(log.join("")).toContain(
      `the saved report of ${ids[0]} is older than --rescan-older-than (analysed -10000000000000, not a date)`
    )
    expect(reportOf(out, ids[0]).data.attributes.last_analysis_date).toBeGreaterThan(0)
  })

  it("refuses a malformed age before anything is sent (exit 2)", async () => {
    const dir = suite.scratch()
    fs.writeFileSync(path.join(dir, "ids.txt"), `${hashes(1, true, "age")[0]}\n`)
    for (const age of ["30", "30x", "-1d", "0d", "d", "1.5d", "999999999w"]) {
      const result = await files(dir, ["--rescan-older-than", age])
      expect(result.code, age).toBe(2)
      expect(result.stderr).toContain("--rescan-older-than")
      expect(result.stderr).toContain("expected a positive age with a unit, s, m, h, d or w")
    }
    expect(suite.server.requests).toHaveLength(0)
  })

  it("SIGKILL during the wait leaves the old report complete; a rerun rescans it and finishes", async () => {
    const dir = suite.scratch()
    const out = path.join(dir, "out")
    const [id] = hashes(1, true, "killed")
    fs.writeFileSync(path.join(dir, "ids.txt"), `${id}\n`)
    expect((await files(dir)).code).toBe(0)
    const old = fs.readFileSync(path.join(out, `${id}.json`))

    suite.server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    try {
      suite.server.clearLog()
      const { child, done } = startCli([
        "files",
        "ids.txt",
        ...rescan,
        "-o",
        out,
        ...suite.fast(dir)
      ], { env: { VT_API_KEY: key }, cwd: dir })
      const deadline = Date.now() + 20_000
      const polls = () => suite.server.requests.filter((r) => r.path.startsWith("/api/v3/analyses/")).length
      while (polls() < 2 && Date.now() < deadline) await sleep(20)
      expect(polls()).toBeGreaterThanOrEqual(2)
      child.kill("SIGKILL")
      const killed = await done
      expect(killed.signal).toBe("SIGKILL")
    } finally {
      suite.server.update(fast)
    }
    // The report is the old one, byte for byte; the answer to the rescan is kept (its id, to ask about later).
    expect(fs.readFileSync(path.join(out, `${id}.json`)).equals(old)).toBe(true)
    const analyses = readJsonFiles(path.join(out, "_analyses"))
    expect(analyses).toHaveLength(1)
    expect(readJson(path.join(out, "_analyses", analyses[0])).data.type).toBe("analysis")

    // The emulator would still be analysing it: a fresh emulator state, then the rerun asks again and finishes.
    suite.server.reset()
    const rerun = await files(dir, rescan)
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(rerun.stderr).toContain("saved 1, not found 0, skipped 0, invalid 0, failed 0, analysed 1, requests 3")
    expect(reportOf(out, id).data.attributes.last_analysis_date).toBeGreaterThan(
      JSON.parse(old.toString("utf8")).data.attributes.last_analysis_date
    )
  })

  it("an analysis that does not complete in --wait-timeout fails the id and keeps the saved report", async () => {
    const dir = suite.scratch()
    const out = path.join(dir, "out")
    const [id] = hashes(1, true, "slow")
    fs.writeFileSync(path.join(dir, "ids.txt"), `${id}\n`)
    expect((await files(dir)).code).toBe(0)
    const old = fs.readFileSync(path.join(out, `${id}.json`))
    suite.server.update({ analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
    try {
      const result = await files(dir, [...rescan, "--wait-timeout", "2"])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("failed 1")
      expect(fs.readFileSync(path.join(log(dir)), "utf8")).toMatch(
        /still queued after 2s \(--wait-timeout\); the saved report \(analysed 20\d\d-[^)]*\) is kept/
      )
    } finally {
      suite.server.update(fast)
    }
    expect(fs.readFileSync(path.join(out, `${id}.json`)).equals(old)).toBe(true)
  })
})

const log = (dir: string) => path.join(dir, "log", fs.readdirSync(path.join(dir, "log")).sort().at(-1)!)

describe("urls --rescan-older-than", () => {
  it("rescans a stale URL report through POST /urls/{id}/analyse; a rerun sends nothing", async () => {
    const dir = suite.scratch()
    const out = path.join(dir, "out")
    const url = Array.from({ length: 40 }, (_, i) => `https://rescan-${i}.example.org/a?b=${i}`).find(
      VtEmulator.isKnownUrl
    )!
    fs.writeFileSync(path.join(dir, "urls.txt"), `${url}\n`)
    const urls = (args: ReadonlyArray<string>) => suite.run(dir, ["urls", "urls.txt", ...args])
    expect((await urls([])).code).toBe(0)
    const before = reportOf(out, sha256(url)).data.attributes.last_analysis_date as number

    suite.server.clearLog()
    const result = await urls(rescan)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("saved 1, not found 0, skipped 0, invalid 0, failed 0, analysed 1, requests 3")
    const posts = suite.server.requests.filter((r) => r.method === "POST")
    expect(posts).toHaveLength(1)
    expect(posts[0].path).toMatch(/^\/api\/v3\/urls\/[A-Za-z0-9_-]+\/analyse$/)
    expect(reportOf(out, sha256(url)).data.attributes.last_analysis_date).toBeGreaterThan(before)
    expect(reportOf(out, sha256(url)).data.attributes.url).toBe(url)

    suite.server.clearLog()
    const rerun = await urls(rescan)
    expect(rerun.stderr).toContain("skipped 1, invalid 0, failed 0, analysed 0, requests 0")
    expect(suite.server.requests).toHaveLength(0)
  })
})
