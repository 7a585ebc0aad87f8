import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { csvField, csvLine, row } from "../src/internal/summary.js"
import { bin, hashes, runCli, tempDir } from "./helpers.js"

const key = "summary-test-key-51c0"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())

/** A small RFC 4180 reader, to check the CSV round-trips. */
const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let field = ""
  let current: Array<string> = []
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") {
        field += "\""
        i++
      } else if (c === "\"") quoted = false
      else field += c
    } else if (c === "\"") quoted = true
    else if (c === ",") {
      current.push(field)
      field = ""
    } else if (c === "\n") {
      current.push(field)
      rows.push(current)
      current = []
      field = ""
    } else field += c
  }
  return rows
}

describe("summary", () => {
  it("quotes CSV fields as RFC 4180 says", () => {
    expect(csvField("plain")).toBe("plain")
    expect(csvField("a,b")).toBe("\"a,b\"")
    expect(csvField("say \"hi\"")).toBe("\"say \"\"hi\"\"\"")
    expect(csvField("two\nlines")).toBe("\"two\nlines\"")
    expect(parseCsv(csvLine(["a,b", "x\"y", "line\nbreak", ""]) + "\n")).toEqual([["a,b", "x\"y", "line\nbreak", ""]])
    expect(row("k", new TextEncoder().encode("{not json"))).toBe("not JSON")
  })

  it("reads analyses, also the descriptor scan --no-wait saves before any attribute exists", () => {
    const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))
    const descriptor = row("abc.b64", bytes({ data: { type: "analysis", id: "YWJj" } }))
    expect(descriptor).toMatchObject({ key: "abc.b64", id: "YWJj", type: "analysis", malicious: "", names: "" })
    const completed = row(
      "u-1",
      bytes({
        data: { type: "analysis", id: "u-1", attributes: { status: "completed", stats: { malicious: 3 }, date: 0 } },
        meta: { url_info: { id: "x", url: "http://example.com/" } }
      })
    )
    expect(completed).toMatchObject({ type: "analysis", malicious: "3", names: "http://example.com/" })
    expect(row("k", bytes({ data: { type: "file", id: "f" } }))).toBe("not a VirusTotal object document")
    expect(row("k", bytes({ data: { type: "analysis", id: 1 } }))).toBe("not a VirusTotal object document")
  })

  it("prints one CSV row per saved report, from plain and gzipped stores alike", async () => {
    const dir = tempDir()
    const known = hashes(4, true, "summary")
    const unknown = hashes(1, false, "summary")
    fs.writeFileSync(path.join(dir, "a.txt"), [known[0], known[1], unknown[0]].join("\n"))
    fs.writeFileSync(path.join(dir, "b.txt"), [known[2], known[3]].join("\n"))
    const env = { VT_API_KEY: key, VT_BASE_URL: server.url }
    expect((await runCli(["files", "a.txt", "-o", "out", "--tier", "premium"], { env, cwd: dir })).code).toBe(0)
    expect((await runCli(["files", "b.txt", "-o", "out", "--tier", "premium", "--gzip"], { env, cwd: dir })).code)
      .toBe(0)
    fs.writeFileSync(path.join(dir, "out", "broken.json"), "{\"data\":")

    const result = await runCli(["summary", "out"], { cwd: dir })
    expect(result.code).toBe(1) // the broken record is named and skipped
    expect(result.stderr).toContain("broken: not JSON, skipped")
    const rows = parseCsv(result.stdout)
    expect(rows[0]).toEqual([
      "key",
      "id",
      "type",
      "malicious",
      "suspicious",
      "undetected",
      "harmless",
      "reputation",
      "last_analysis_date",
      "names"
    ])
    const body = rows.slice(1).sort((a, b) => a[0].localeCompare(b[0]))
    expect(body.map((r) => r[0])).toEqual([...known].sort())
    for (const r of body) {
      const document = JSON.parse(Buffer.from(VtEmulator.fileDocument(r[0])).toString("utf8"))
      const stats = document.data.attributes.last_analysis_stats
      expect(r.slice(1, 7)).toEqual([
        document.data.id,
        "file",
        String(stats.malicious),
        String(stats.suspicious),
        String(stats.undetected),
        String(stats.harmless)
      ])
      expect(r[9]).toBe(document.data.attributes.names.join("; "))
    }
  })

  it("stops quietly when its reader goes away (summary | head)", async () => {
    const dir = tempDir()
    fs.mkdirSync(path.join(dir, "out"))
    const doc = Buffer.from(VtEmulator.fileDocument(hashes(1, true, "pipe")[0]))
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(dir, "out", `k${i}.json`), doc)
    const { spawnSync } = await import("node:child_process")
    const result = spawnSync("sh", ["-c", `node ${JSON.stringify(bin)} summary out | head -1`], {
      cwd: dir,
      encoding: "utf8"
    })
    expect(result.stdout).toMatch(/^key,id,type/)
    expect(result.stderr).not.toContain("EPIPE")
  })

  it("exits 2 for a store that does not exist", async () => {
    const dir = tempDir()
    const result = await runCli(["summary", "nowhere"], { cwd: dir })
    expect(result.code).toBe(2)
    expect(fs.existsSync(path.join(dir, "nowhere"))).toBe(false)
  })
})
