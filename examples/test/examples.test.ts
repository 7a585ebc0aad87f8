/**
 * Every example, run as a user runs it (a child process, its configuration in the environment) against the
 * emulator and s3rver on loopback, judged by what it leaves behind.
 */
import * as S3 from "@aws-sdk/client-s3"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Run, Services } from "./harness.js"
import { bucket, examplesDir, hashesOf, listKeys, parseCsv, runExample, startServices } from "./harness.js"

let services: Services
beforeAll(async () => {
  services = await startServices()
})
afterAll(() => services?.close())

const sampleList = path.join(examplesDir, "sample-hashes.txt")
const hashes = hashesOf(sampleList)
const known = hashes.filter((hash) => VtEmulator.isKnown(hash))
const unknown = hashes.filter((hash) => !VtEmulator.isKnown(hash))

const succeeded = (result: Run) => {
  expect(result.code, `exit status\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

const requestedIds = () => services.vt.requests.map((request) => request.id)

/**
 * The requests the emulator saw since its log was cleared were paced by a gate of `perMinute` a minute: the gate
 * starts them `60 000 / perMinute` ms apart. A request may reach the emulator a little after its start (the first
 * one opens the connection; a busy machine delays any one of them), so the gaps are not compared one by one: the
 * whole run must span all of its spacings but one. Unpaced, the same requests take a few ms each.
 */
const expectPaced = (perMinute: number) => {
  const spacing = 60_000 / perMinute
  const arrivals = services.vt.requests.map((request) => request.at)
  expect(arrivals.length).toBeGreaterThan(2)
  expect(arrivals.at(-1)! - arrivals[0]).toBeGreaterThanOrEqual((arrivals.length - 2) * spacing)
}

const files = (dir: string) => fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith(".json")) : []

describe("stream-to-fs", () => {
  it("saves every known hash, records the unknown ones, paces its requests and resumes", async () => {
    const out = services.tempDir("stream-to-fs")
    services.vt.clearLog()
    // 1,200 a minute: request starts at least 50 ms apart.
    const env = { VT_INPUT: sampleList, VT_OUT: out, VT_PER_MINUTE: "1200" }
    const first = succeeded(await runExample(services, "stream-to-fs", env))

    expect(files(out).sort()).toEqual(known.map((hash) => `${hash}.json`).sort())
    expect(files(path.join(out, "_not_found")).sort()).toEqual(unknown.map((hash) => `${hash}.json`).sort())
    for (const hash of known) {
      expect(fs.readFileSync(path.join(out, `${hash}.json`))).toEqual(Buffer.from(VtEmulator.fileDocument(hash)))
    }
    // Each id once (the duplicate in the list is skipped by the store), and every request counted by the gate.
    expect(requestedIds().sort()).toEqual([...hashes].sort())
    expect(first.stderr).toContain(
      `summary: saved ${known.length}, not found ${unknown.length}, skipped 1, invalid 2, failed 0, ` +
        `requests ${services.vt.requests.length}`
    )
    expectPaced(1200)

    services.vt.clearLog()
    const second = succeeded(await runExample(services, "stream-to-fs", env))
    expect(services.vt.requests).toEqual([])
    // The list names one hash twice.
    expect(second.stderr).toContain(
      `summary: saved 0, not found 0, skipped ${hashes.length + 1}, invalid 2, failed 0, requests 0`
    )
  })

  it("leaves the retries of transient failures to the gated client", async () => {
    const work = services.tempDir("stream-to-fs-faults")
    const input = path.join(work, "hashes.txt")
    fs.writeFileSync(input, known.slice(0, 6).join("\n"))
    services.vt.clearLog()
    services.vt.update({ faults: { transient: 0.3 } })
    try {
      const result = succeeded(
        await runExample(services, "stream-to-fs", {
          VT_INPUT: input,
          VT_OUT: path.join(work, "out"),
          VT_PER_MINUTE: "60000"
        })
      )
      const unavailable = services.vt.requests.filter((request) => request.status === 503).length
      expect(unavailable).toBeGreaterThan(0)
      expect(result.stderr).toContain(
        `summary: saved 6, not found 0, skipped 0, invalid 0, failed 0, requests ${6 + unavailable}`
      )
    } finally {
      services.vt.update({ faults: undefined })
    }
  })
})

describe("fs-and-s3", () => {
  it("stores every record in the directory and the bucket, and fills in what one of them lost", async () => {
    const out = services.tempDir("fs-and-s3")
    const env = { VT_INPUT: sampleList, VT_OUT: out, VT_S3_OUT: `s3://${bucket}/fs-and-s3`, VT_PER_MINUTE: "1200" }
    services.vt.clearLog()
    const first = succeeded(await runExample(services, "fs-and-s3", env))
    expect(first.stderr).toContain(`done: requests ${services.vt.requests.length}`)
    expectPaced(1200)

    const expected = [
      ...known.map((hash) => `fs-and-s3/${hash}.json`),
      ...unknown.map((hash) => `fs-and-s3/_not_found/${hash}.json`)
    ].sort()
    expect(await listKeys(services.s3, "fs-and-s3/")).toEqual(expected)
    expect(files(out).length).toBe(known.length)
    expect(files(path.join(out, "_not_found")).length).toBe(unknown.length)
    const object = await services.s3.send(
      new S3.GetObjectCommand({ Bucket: bucket, Key: `fs-and-s3/${known[0]}.json` })
    )
    expect(Buffer.from(await object.Body!.transformToByteArray())).toEqual(
      fs.readFileSync(path.join(out, `${known[0]}.json`))
    )

    // One report lost from the directory, another from the bucket: the rerun asks for those two only.
    fs.rmSync(path.join(out, `${known[0]}.json`))
    await services.s3.send(new S3.DeleteObjectCommand({ Bucket: bucket, Key: `fs-and-s3/${known[1]}.json` }))
    services.vt.clearLog()
    const second = succeeded(await runExample(services, "fs-and-s3", env))
    expect(requestedIds().sort()).toEqual([known[0], known[1]].sort())
    expect(second.stderr).toContain("done: requests 2")
    expect(await listKeys(services.s3, "fs-and-s3/")).toEqual(expected)
    expect(files(out).length).toBe(known.length)
  })

  it("refuses a malformed S3 location before sending anything", async () => {
    services.vt.clearLog()
    const result = await runExample(services, "fs-and-s3", {
      VT_INPUT: sampleList,
      VT_OUT: services.tempDir("fs-and-s3-bad"),
      VT_S3_OUT: "s3://Not_A_Bucket/x"
    })
    expect(result.code).toBe(1)
    expect(result.stderr + result.stdout).toContain("InvalidLocationError")
    expect(services.vt.requests).toEqual([])
  })
})

describe("ndjson-sink", () => {
  it("appends one line per record, reads them back, and resumes after a torn last line", async () => {
    const file = path.join(services.tempDir("ndjson-sink"), "reports.ndjson")
    const env = { VT_INPUT: sampleList, VT_NDJSON: file, VT_PER_MINUTE: "1200" }
    services.vt.clearLog()
    const first = succeeded(await runExample(services, "ndjson-sink", env))
    expectPaced(1200)

    const lines = fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map((line) =>
      JSON.parse(line) as { key: string; presence: string; document: unknown }
    )
    expect(lines.filter((line) => line.presence === "saved").map((line) => line.key).sort()).toEqual(known.sort())
    expect(lines.filter((line) => line.presence === "not-found").map((line) => line.key).sort()).toEqual(unknown.sort())
    for (const line of lines.filter((line) => line.presence === "saved")) {
      expect(line.document).toEqual(JSON.parse(Buffer.from(VtEmulator.fileDocument(line.key)).toString("utf8")))
    }
    expect(first.stderr).toContain(
      `${known.length} reports, ${unknown.length} not found, requests ${services.vt.requests.length}`
    )
    expect(first.stderr).toMatch(/[0-9a-f]+: \d+ bytes read back/)

    // A process killed in the middle of a write leaves a partial line: it is ignored, and nothing is asked again.
    fs.appendFileSync(file, "{\"key\":\"44d88612fea8a8f36de82e1278abb02f\",\"presence\":\"sav")
    services.vt.clearLog()
    const second = succeeded(await runExample(services, "ndjson-sink", env))
    expect(services.vt.requests).toEqual([])
    expect(second.stderr).toContain(`${known.length} reports, ${unknown.length} not found, requests 0`)
  })
})

describe("scan-folder", () => {
  it("uploads each file, waits for its analysis and writes one CSV row per file, every request through the gate", async () => {
    const folder = services.tempDir("scan-folder")
    const contents: Record<string, Buffer> = {
      "invoice.pdf": Buffer.from("%PDF-1.4 not really a PDF\n"),
      "tool, v2.exe": Buffer.alloc(200_000, 7),
      "notes.txt": Buffer.from("\"quoted\" text\n"),
      // Over 32 MiB: uploaded through a one-time upload URL.
      "large.bin": Buffer.alloc(33 * 1024 * 1024, 1)
    }
    for (const [name, bytes] of Object.entries(contents)) fs.writeFileSync(path.join(folder, name), bytes)
    fs.mkdirSync(path.join(folder, "a folder is skipped"))
    const csv = path.join(services.tempDir("scan-folder-out"), "verdicts.csv")
    services.vt.clearLog()
    // Polls every 10 ms, were it not for the gate: 600 a minute, requests 100 ms apart.
    const result = succeeded(
      await runExample(services, "scan-folder", {
        VT_SCAN_DIR: folder,
        VT_CSV: csv,
        VT_POLL_SECONDS: "0.01",
        VT_PER_MINUTE: "600"
      })
    )

    const [header, ...rows] = parseCsv(fs.readFileSync(csv, "utf8"))
    expect(header).toEqual([
      "file",
      "sha256",
      "analysis_id",
      "status",
      "malicious",
      "suspicious",
      "undetected",
      "harmless",
      "engines",
      "error"
    ])
    expect(rows.map((row) => row[0])).toEqual(Object.keys(contents).sort())
    for (const row of rows) {
      const sha256 = createHash("sha256").update(contents[row[0]]).digest("hex")
      expect(row[1]).toBe(sha256)
      expect(row[3]).toBe("completed")
      const counts = row.slice(4, 9).map(Number)
      expect(counts.every(Number.isInteger)).toBe(true)
      expect(counts[4]).toBeGreaterThan(0)
      expect(counts[0] + counts[1] + counts[2] + counts[3]).toBeLessThanOrEqual(counts[4])
      expect(row[9]).toBe("")
    }
    const requests = services.vt.requests
    expect(requests.filter((r) => r.method === "POST" && r.path.endsWith("/files")).length).toBe(3)
    expect(requests.filter((r) => r.path.endsWith("/files/upload_url")).length).toBe(1)
    expect(requests.filter((r) => r.method === "POST" && r.path.startsWith("/_ah/upload/")).length).toBe(1)
    expect(requests.filter((r) => r.path.includes("/analyses/")).length).toBeGreaterThanOrEqual(4)
    // The gate counted every request the emulator saw, uploads, upload URL and polls alike, and spaced them all.
    expect(result.stderr).toContain(`4 rows written to ${csv}, requests ${requests.length}`)
    expectPaced(600)
  })
})

describe("enrich", () => {
  it("adds the first page of each relationship to every saved report, and resumes", async () => {
    const store = services.tempDir("enrich-store")
    const out = services.tempDir("enrich-out")
    const [a, b, c] = known
    fs.writeFileSync(path.join(store, `${a}.json`), VtEmulator.fileDocument(a))
    fs.writeFileSync(path.join(store, `${b}.json`), VtEmulator.fileDocument(b))
    // A report stored gzipped reads back the same.
    fs.writeFileSync(path.join(store, `${c}.json.gz`), gzipSync(VtEmulator.fileDocument(c)))
    fs.mkdirSync(path.join(store, "_not_found"))
    fs.writeFileSync(path.join(store, "_not_found", `${unknown[0]}.json`), VtEmulator.fileDocument(unknown[0]))

    const env = { VT_STORE: store, VT_OUT: out, VT_RELATIONSHIP_LIMIT: "5", VT_PER_MINUTE: "600" }
    services.vt.clearLog()
    const first = succeeded(await runExample(services, "enrich", env))
    // Two relationships, one page each, every request counted and spaced by the gate.
    expect(services.vt.requests.length).toBe(6)
    expect(first.stderr).toContain("summary: enriched 3, skipped 0, failed 0, requests 6")
    expectPaced(600)

    expect(files(out).sort()).toEqual([a, b, c].map((hash) => `${hash}.json`).sort())
    for (const hash of [a, b, c]) {
      const original = JSON.parse(Buffer.from(VtEmulator.fileDocument(hash)).toString("utf8"))
      const enriched = JSON.parse(fs.readFileSync(path.join(out, `${hash}.json`), "utf8"))
      expect(enriched.data.attributes).toEqual(original.data.attributes)
      for (const [name, type] of [["contacted_domains", "domain"], ["contacted_ips", "ip_address"]]) {
        const count = VtEmulator.relationshipCount("files", original.data.id, name)
        const relationship = enriched.data.relationships[name]
        expect(relationship.meta.count).toBe(count)
        expect(relationship.data.length).toBe(Math.min(5, count))
        for (const item of relationship.data) {
          expect(item.type).toBe(type)
          expect(item.last_analysis_stats.malicious).toBeTypeOf("number")
        }
      }
    }

    services.vt.clearLog()
    const second = succeeded(await runExample(services, "enrich", env))
    expect(second.stderr).toContain("summary: enriched 0, skipped 3, failed 0, requests 0")
    expect(services.vt.requests).toEqual([])
  })
})
