// --format and --fields of summary, and --format of analysis and quota: the rules unit by unit, then the built CLI
// against the emulator.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { table } from "../src/internal/formats.js"
import { cellText, lookup, parseFields, permalink } from "../src/internal/summary.js"
import { cliWords, emulatorSuite, hashes, parseCsv, runCli, sh, underTerminal } from "./helpers.js"

const key = "formats-test-key-3e8a51c0d2"
const suite = emulatorSuite(key, "formats", { analysisQueuedMs: 100, analysisCompletedMs: 200 })

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex")

describe("fields", () => {
  it("parses --fields: named columns, paths from data (data. and meta. from the document), malformed lists", () => {
    const parsed = parseFields("key, permalink ,attributes.names.0,data.id,meta.file_info.sha256")
    expect(parsed._tag === "Right" ? parsed.right : parsed.left).toEqual([
      { _tag: "Named", name: "key" },
      { _tag: "Named", name: "permalink" },
      { _tag: "Path", name: "attributes.names.0", path: ["data", "attributes", "names", "0"] },
      { _tag: "Path", name: "data.id", path: ["data", "id"] },
      { _tag: "Path", name: "meta.file_info.sha256", path: ["meta", "file_info", "sha256"] }
    ])
    const left = (text: string) => {
      const parsed = parseFields(text)
      return parsed._tag === "Left" ? parsed.left : undefined
    }
    expect(left("")).toBe("field 1 is empty")
    expect(left("key,")).toBe("field 2 is empty")
    expect(left("a..b")).toBe("field 1 has an empty segment")
    expect(left(".a")).toBe("field 1 has an empty segment")
    expect(left("key,a\u001b[31m")).toBe("field 2 has a control character")
    expect(left(Array.from({ length: 101 }, () => "key").join(","))).toBe("at most 100 fields")
    // One JSON member per name: a name given twice would be two CSV columns but one member.
    expect(left("key,malicious, key")).toBe("field 3 (key) is named twice")
    expect(left("attributes.tags,attributes.tags")).toBe("field 2 (attributes.tags) is named twice")
  })

  it("reads values at a path and writes them as cells: lists joined, objects as JSON, nothing as empty", () => {
    const doc = { data: { id: "x", attributes: { names: ["a", "b"], votes: { up: 1 }, list: [{ n: 1 }], zero: 0 } } }
    expect(lookup(doc, ["data", "attributes", "names", "1"])).toBe("b")
    expect(lookup(doc, ["data", "attributes", "names", "length"])).toBeUndefined()
    expect(lookup(doc, ["data", "attributes", "nope", "deeper"])).toBeUndefined()
    expect(lookup(doc, ["data", "constructor"])).toBeUndefined()
    expect(cellText(lookup(doc, ["data", "attributes", "names"]))).toBe("a; b")
    expect(cellText(lookup(doc, ["data", "attributes", "votes"]))).toBe("{\"up\":1}")
    expect(cellText(lookup(doc, ["data", "attributes", "list"]))).toBe("[{\"n\":1}]")
    expect(cellText(lookup(doc, ["data", "attributes", "zero"]))).toBe("0")
    expect(cellText(null)).toBe("")
    expect(cellText(true)).toBe("true")
  })

  it("links each kind of object to its page on VirusTotal, an analysis to what it analysed", () => {
    const of = (type: string, id: string, meta?: unknown) => permalink({ data: { type, id, attributes: {} }, meta })
    expect(of("file", "ab12")).toBe("https://www.virustotal.com/gui/file/ab12")
    expect(of("url", "cd34")).toBe("https://www.virustotal.com/gui/url/cd34")
    expect(of("domain", "example.com")).toBe("https://www.virustotal.com/gui/domain/example.com")
    expect(of("ip_address", "2001:db8::1")).toBe("https://www.virustotal.com/gui/ip-address/2001%3Adb8%3A%3A1")
    expect(of("analysis", "YWJj", { file_info: { sha256: "ef56" } })).toBe("https://www.virustotal.com/gui/file/ef56")
    expect(of("analysis", "u-1", { url_info: { id: "9a" } })).toBe("https://www.virustotal.com/gui/url/9a")
    expect(of("analysis", "u-1")).toBe("")
    expect(of("comment", "x")).toBe("")
    expect(of("file", "../../x?y#z")).toBe("https://www.virustotal.com/gui/file/..%2F..%2Fx%3Fy%23z")
  })
})

/** A store with a file, a URL, a domain and an IP address from the emulator, and one hostile document. */
const makeStore = async () => {
  const dir = suite.scratch()
  // A SHA-256, the id VirusTotal's page of a file is named by.
  const file = hashes(6, true, "formats").find((hash) => hash.length === 64)!
  const url = Array.from({ length: 40 }, (_, i) => `https://formats-${i}.example.org/`).find(VtEmulator.isKnownUrl)!
  const domain = Array.from({ length: 40 }, (_, i) => `formats-${i}.example.com`).find(VtEmulator.isKnown)!
  const ip = Array.from({ length: 40 }, (_, i) => `198.51.100.${i}`).find(VtEmulator.isKnown)!
  for (const [command, id] of [["files", file], ["urls", url], ["domains", domain], ["ips", ip]]) {
    fs.writeFileSync(path.join(dir, "in.txt"), `${id}\n`)
    const result = await suite.run(dir, [command, "in.txt"])
    expect(result.code, result.stderr).toBe(0)
  }
  const hostile = {
    data: {
      type: "file",
      id: "=HYPERLINK(\"http://evil.example\")",
      attributes: {
        meaningful_name: "@SUM(1+1)\u001b]0;owned\u0007",
        names: ["-2+3", "a,\"b\"\nc"],
        last_analysis_stats: { malicious: 1 }
      }
    }
  }
  fs.writeFileSync(path.join(dir, "out", "hostile.json"), JSON.stringify(hostile))
  return { dir, out: path.join(dir, "out"), file, url, domain, ip }
}

describe("table", () => {
  it("lays out any number of rows: 300,000 rows are aligned, none lost", () => {
    const rows = Array.from({ length: 300_000 }, (_, i) => [String(i), i % 2 === 0 ? "even" : "odd number"])
    const lines = table(["n", "parity"], rows, 80).split("\n")
    expect(lines).toHaveLength(300_001)
    expect(lines[0]).toBe("     n  parity")
    expect(lines[300_000]).toBe("299999  odd number")
  })
})

describe("summary --format, --fields", () => {
  it("writes the same store as CSV, JSON, JSON lines and a table; defaults are unchanged", async () => {
    const store = await makeStore()
    const summary = (args: ReadonlyArray<string>) => runCli(["summary", store.out, ...args], { cwd: store.dir })

    // Off a terminal the default is CSV, the same bytes as --format csv with the default columns.
    const plain = await summary([])
    expect(plain.code).toBe(0)
    expect(plain.stdout.split("\n")[0]).toBe(
      "key,id,type,malicious,suspicious,undetected,harmless,reputation,last_analysis_date,names"
    )
    expect((await summary(["--format", "csv"])).stdout).toBe(plain.stdout)
    expect(
      (await summary([
        "--fields",
        "key,id,type,malicious,suspicious,undetected,harmless,reputation,last_analysis_date,names"
      ])).stdout
    ).toBe(plain.stdout)

    const fields = "key,type,permalink,attributes.popular_threat_classification.suggested_threat_label," +
      "attributes.names,attributes.total_votes,malicious,attributes.no_such_field,data.id"
    const lines = await summary(["--format", "ndjson", "--fields", fields])
    expect(lines.code).toBe(0)
    const objects = lines.stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(objects).toHaveLength(5)
    const byType = Object.fromEntries(objects.map((o) => [o.key === "hostile" ? "hostile" : o.type, o]))
    expect(byType.file.permalink).toBe(`https://www.virustotal.com/gui/file/${store.file}`)
    expect(byType.url.permalink).toBe(`https://www.virustotal.com/gui/url/${sha256(store.url)}`)
    expect(byType.domain.permalink).toBe(`https://www.virustotal.com/gui/domain/${store.domain}`)
    expect(byType.ip_address.permalink).toBe(`https://www.virustotal.com/gui/ip-address/${store.ip}`)
    const stored = JSON.parse(fs.readFileSync(path.join(store.out, `${store.file}.json`), "utf8")).data.attributes
    expect(byType.file["attributes.popular_threat_classification.suggested_threat_label"]).toBe(
      stored.popular_threat_classification?.suggested_threat_label ?? null
    )
    expect(Array.isArray(byType.file["attributes.names"])).toBe(true)
    expect(Object.keys(byType.file["attributes.total_votes"]).sort()).toEqual(["harmless", "malicious"])
    expect(typeof byType.file.malicious).toBe("number")
    for (const o of objects) expect(o["attributes.no_such_field"]).toBeNull()
    // JSON is the document's text as it is (valid, control characters escaped as JSON escapes them).
    expect(byType.hostile["data.id"]).toBe("=HYPERLINK(\"http://evil.example\")")
    expect(byType.hostile["attributes.names"]).toEqual(["-2+3", "a,\"b\"\nc"])

    const array = await summary(["--format", "json", "--fields", fields])
    expect(JSON.parse(array.stdout)).toEqual(objects)
    expect(array.stdout.startsWith("[\n{")).toBe(true)

    // CSV: lists joined, objects as JSON text, a missing field empty, formula-like cells defused.
    const csv = await summary(["--fields", `${fields},attributes.meaningful_name`])
    const rows = parseCsv(csv.stdout)
    expect(rows[0]).toEqual([...fields.split(","), "attributes.meaningful_name"])
    expect(rows).toHaveLength(6)
    const hostile = rows.find((r) => r[0] === "hostile")!
    expect(hostile[8]).toBe("'=HYPERLINK(\"http://evil.example\")")
    expect(hostile[4]).toBe("-2+3; a,\"b\"\nc".replace(/^-/, "'-"))
    // A server's escape sequence never reaches stdout raw, even off a terminal (CSV is piped on, then `cat`): every
    // control character but a line break (quoted) and a tab is shown escaped.
    expect(hostile[9]).toBe("'@SUM(1+1)\\u001b]0;owned\\u0007")
    expect(csv.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
    const file = rows.find((r) => r[1] === "file" && r[0] !== "hostile")!
    expect(file[5]).toMatch(/^\{"harmless":\d+,"malicious":\d+\}$/)
    expect(file[7]).toBe("")

    // A table off a terminal: one line per report, every cell on one line, no control character.
    const table = await summary(["--format", "table", "--fields", "key,malicious,attributes.meaningful_name"])
    expect(table.code).toBe(0)
    const tableLines = table.stdout.trimEnd().split("\n")
    expect(tableLines).toHaveLength(6)
    expect(tableLines[0]).toMatch(/^key\s+malicious\s+attributes\.meaningful_name$/)
    expect(table.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
  })

  it("on a terminal: the table by default, escaped CSV with --format csv, JSON escaped as JSON", async () => {
    const store = await makeStore()
    const run = (args: string) => underTerminal(`${cliWords} summary ${sh(store.out)} ${args}`, { cwd: store.dir })
    const table = await run("")
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/key\s+type\s+malicious\s+suspicious\s+undetected\s+harmless\s+names/)
    for (
      const args of [
        "--format csv --fields key,attributes.meaningful_name",
        "--format ndjson --fields key,attributes.meaningful_name"
      ]
    ) {
      const result = await run(args)
      expect(result.code, args).toBe(0)
      expect(result.stdout, args).not.toContain("\u001b]0;owned")
      expect(result.stdout, args).toContain("\\u001b]0;owned")
    }
  })

  it("an unknown field is an empty cell; a malformed --fields or --format exits 2 and prints nothing", async () => {
    const store = await makeStore()
    const summary = (args: ReadonlyArray<string>) => runCli(["summary", store.out, ...args], { cwd: store.dir })
    const unknown = await summary(["--fields", "key,nothing.here"])
    expect(unknown.code).toBe(0)
    expect(parseCsv(unknown.stdout).slice(1).every((row) => row[1] === "")).toBe(true)
    for (
      const [fields, message] of [
        ["key,,type", "field 2 is empty"],
        ["attributes..names", "field 1 has an empty segment"],
        ["", "field 1 is empty"]
      ]
    ) {
      const result = await summary(["--fields", fields])
      expect(result.code, fields).toBe(2)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain(`vt-harvest: --fields ${JSON.stringify(fields)}: ${message}`)
    }
    const format = await summary(["--format", "xml"])
    expect(format.code).toBe(2)
    expect(format.stdout).toBe("")
  })
})

describe("analysis --format and quota --format", () => {
  it("prints analyses as CSV, JSON lines (= --json), a JSON array and a table", async () => {
    const dir = suite.scratch()
    const [file] = hashes(1, true, "formats-analysis")
    const posted = await fetch(`${suite.server.url}/files/${file}/analyse`, {
      method: "POST",
      headers: { "x-apikey": key }
    })
    const id = ((await posted.json()) as { data: { id: string } }).data.id
    await new Promise((resolve) => setTimeout(resolve, 300))
    const analysis = (args: ReadonlyArray<string>) => suite.run(dir, ["analysis", id, ...args])
    const csv = await analysis([])
    expect(csv.code, csv.stderr).toBe(0)
    expect(csv.stdout.split("\n")[0]).toBe("id,status,malicious,suspicious,undetected,harmless,item")
    const ndjson = await analysis(["--format", "ndjson"])
    expect(ndjson.stdout).toBe((await analysis(["--json"])).stdout)
    const object = JSON.parse(ndjson.stdout)
    expect(object).toMatchObject({ id, status: "completed" })
    expect(typeof object.malicious).toBe("number")
    expect(JSON.parse((await analysis(["--format", "json"])).stdout)).toEqual([object])
    const table = await analysis(["--format", "table"])
    expect(table.stdout.split("\n")[0]).toMatch(/^id\s+status\s+malicious\s+suspicious\s+undetected\s+harmless\s+item$/)
    expect(table.stdout).toContain("completed")
  })

  it("prints the quota windows and the usage as a table, JSON, JSON lines and CSV", async () => {
    const quota = (args: ReadonlyArray<string>) =>
      runCli(["quota", "--base-url", suite.server.url, ...args], { env: { VT_API_KEY: key } })
    expect((await quota([])).stdout).toMatch(/^window\s+used\s+allowed\n/)
    expect((await quota(["--format", "table"])).stdout).toBe((await quota([])).stdout)
    expect((await quota(["--format", "json"])).stdout).toBe((await quota(["--json"])).stdout)
    expect(Object.keys(JSON.parse((await quota(["--format", "json"])).stdout))).toEqual(["hourly", "daily", "monthly"])
    const csv = parseCsv((await quota(["--format", "csv"])).stdout)
    expect(csv.map((row) => row[0])).toEqual(["window", "hourly", "daily", "monthly"])
    expect(csv[0]).toEqual(["window", "used", "allowed"])
    const lines = (await quota(["--format", "ndjson"])).stdout.trim().split("\n").map((line) => JSON.parse(line))
    expect(lines.map((line) => line.window)).toEqual(["hourly", "daily", "monthly"])
    expect(typeof lines[0].used).toBe("number")
    const usage = parseCsv((await quota(["--usage", "--format", "csv"])).stdout)
    expect(usage[0]).toEqual(["endpoint", "requests"])
  })
})

describe("help", () => {
  it("lists the new options with examples", async () => {
    const help = async (command: string) => (await runCli([command, "--help"])).stdout
    expect(await help("summary")).toContain("--format csv|json|ndjson|table")
    expect(await help("summary")).toContain("Example: vt-harvest summary vt_reports --format ndjson --fields")
    expect(await help("files")).toContain("Example: vt-harvest files hashes.txt --rescan-older-than 30d")
    expect(await help("urls")).toContain("--rescan-older-than")
    expect(await help("analysis")).toContain("Example: vt-harvest analysis --format ndjson - < analysis-ids.txt")
    expect(await help("quota")).toContain("Example: vt-harvest quota --usage --format csv > usage.csv")
  })
})
