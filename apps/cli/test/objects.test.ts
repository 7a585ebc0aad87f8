import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readJsonFiles, runCli, tempDir } from "./helpers.js"

const key = "objects-test-key-93ab"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key], perDay: 1000 })
})
afterAll(() => server.close())

const run = (dir: string, args: ReadonlyArray<string>, stdin?: string) =>
  runCli([
    ...args,
    "--base-url",
    server.url,
    ...(args[0] === "quota" ? [] : ["--per-minute", "60000", "--no-progress"])
  ], {
    env: { VT_API_KEY: key },
    cwd: dir,
    ...(stdin === undefined ? {} : { stdin })
  })

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex")
const same = (file: string, expected: Uint8Array) =>
  expect(Buffer.compare(fs.readFileSync(file), Buffer.from(expected))).toBe(0)

describe("urls, domains, ips", () => {
  it("urls: saved under the SHA-256 of the URL as listed, invalid URLs reported", async () => {
    const dir = tempDir()
    const candidates = Array.from({ length: 12 }, (_, i) => `https://example-${i}.test/path?q=${i}`)
    const known = candidates.filter((url) => VtEmulator.isKnownUrl(url)).slice(0, 3)
    const unknown = candidates.filter((url) => !VtEmulator.isKnownUrl(url)).slice(0, 1)
    fs.writeFileSync(path.join(dir, "urls.txt"), [...known, "ftp://nope.test/", "not a url", ...unknown].join("\n"))
    const result = await run(dir, ["urls", "urls.txt", "-o", "out"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain(`saved ${known.length}, not found ${unknown.length}, skipped 0, invalid 2`)
    for (const url of known) same(path.join(dir, "out", `${sha256(url)}.json`), VtEmulator.urlDocument(url))
    expect(readJsonFiles(path.join(dir, "out", "_not_found"))).toEqual(unknown.map((url) => `${sha256(url)}.json`))
  })

  it("urls: a line that is not UTF-8 is reported invalid and never sent, not sent with U+FFFD in its place", async () => {
    const dir = tempDir()
    fs.writeFileSync(
      path.join(dir, "urls.txt"),
      Buffer.concat([Buffer.from("https://example.com/"), Buffer.from([0xff]), Buffer.from("\n")])
    )
    server.clearLog()
    const result = await run(dir, ["urls", "urls.txt", "-o", "out"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("saved 0, not found 0, skipped 0, invalid 1")
    expect(result.stderr).toContain("line 1: invalid URL")
    expect(result.stderr).toContain("not UTF-8")
    expect(server.requests.filter((r) => r.path.includes("/urls/"))).toEqual([])

    // A sequence cut short by the end of the input (no line break after it) is not dropped either.
    fs.writeFileSync(
      path.join(dir, "cut.txt"),
      Buffer.concat([Buffer.from("https://example.com/x"), Buffer.from([0xe2, 0x82])])
    )
    const cut = await run(dir, ["urls", "cut.txt", "-o", "out"])
    expect(cut.stderr).toContain("saved 0, not found 0, skipped 0, invalid 1")
    expect(server.requests.filter((r) => r.path.includes("/urls/"))).toEqual([])
  })

  it("domains: lower-cased before they are requested and saved", async () => {
    const dir = tempDir()
    const names = Array.from({ length: 20 }, (_, i) => `host-${i}.example.com`).filter((d) => VtEmulator.isKnown(d))
      .slice(0, 3)
    const result = await run(
      dir,
      ["domains", "-", "-o", "out"],
      [names[0].toUpperCase(), ...names.slice(1), "bad..name"].join("\n")
    )
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("saved 3, not found 0, skipped 0, invalid 1")
    for (const name of names) same(path.join(dir, "out", `${name}.json`), VtEmulator.domainDocument(name))
  })

  it("ips: IPv4 and IPv6, with _ for : in the file name", async () => {
    const dir = tempDir()
    const v4 = Array.from({ length: 30 }, (_, i) => `192.0.2.${i + 1}`).filter((ip) => VtEmulator.isKnown(ip))[0]
    const v6 =
      Array.from({ length: 30 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`).filter((ip) =>
        VtEmulator.isKnown(ip)
      )[0]
    fs.writeFileSync(path.join(dir, "ips.txt"), `${v4}\n${v6.toUpperCase()}\n999.1.1.1\n`)
    const result = await run(dir, ["ips", "ips.txt", "-o", "out"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("saved 2, not found 0, skipped 0, invalid 1")
    same(path.join(dir, "out", `${v4}.json`), VtEmulator.ipAddressDocument(v4))
    same(path.join(dir, "out", `${v6.replaceAll(":", "_")}.json`), VtEmulator.ipAddressDocument(v6))
  })
})

describe("quota", () => {
  it("prints used and allowed per window, as a table or JSON", async () => {
    const dir = tempDir()
    const table = await run(dir, ["quota"])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^window\s+used\s+allowed\n/)
    expect(table.stdout).toMatch(/\ndaily\s+\d+\s+1000\n/)
    const json = await run(dir, ["quota", "--json"])
    expect(json.code).toBe(0)
    const parsed = JSON.parse(json.stdout)
    expect(parsed.daily.user.allowed).toBe(1000)
    expect(typeof parsed.monthly.user.used).toBe("number")
    const refused = await runCli(["quota", "--base-url", server.url], { env: { VT_API_KEY: "nope" }, cwd: dir })
    expect(refused.code).toBe(3)
    expect(refused.stdout + refused.stderr).not.toContain(key)
  })

  it("--usage prints the key's requests per endpoint over the last 30 days", async () => {
    const dir = tempDir()
    const ids = ["8.8.8.8", "1.1.1.1"]
    fs.writeFileSync(path.join(dir, "ips.txt"), ids.join("\n"))
    expect((await run(dir, ["ips", "ips.txt"])).code).toBe(0)
    const table = await run(dir, ["quota", "--usage"])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^endpoint\s+requests\n/)
    const json = await run(dir, ["quota", "--usage", "--json"])
    expect(json.code).toBe(0)
    const parsed = JSON.parse(json.stdout) as { total: Record<string, number>; daily: Record<string, unknown> }
    const counted = Object.values(parsed.total).reduce((a, b) => a + b, 0)
    expect(counted).toBeGreaterThanOrEqual(ids.length)
    for (const [endpoint, count] of Object.entries(parsed.total)) {
      expect(table.stdout).toMatch(
        new RegExp(`\\n${endpoint.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+${count}(\\n|$)`)
      )
    }
    expect(Object.keys(parsed.daily).length).toBeGreaterThan(0)
  })
})
