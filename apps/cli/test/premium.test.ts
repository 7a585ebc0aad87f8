// search and download (premium privileges), end to end: the built CLI against the emulator (and, for bytes that do
// not match their SHA-256, a hostile server), requests counted in the servers' own logs.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cliWords, emulatorSuite, hashes, runCli, runShell, sh, startCli } from "./helpers.js"
import * as HostileServer from "./hostileServer.js"

const key = "premium-test-key-5b1c9e07d2"
const suite = emulatorSuite(key, "premium", { premiumKeys: [key] })

const fast = (dir: string) => suite.fast(dir)

const cli = (dir: string, args: ReadonlyArray<string>, options: { readonly stdin?: string } = {}) =>
  runCli([...args, ...fast(dir)], { env: { VT_API_KEY: key }, cwd: dir, ...options })

const sha256 = (bytes: Uint8Array) => crypto.createHash("sha256").update(bytes).digest("hex")
const samples = (...indices: ReadonlyArray<number>) => indices.map((i) => VtEmulator.sample(i).sha256)
const logOf = (dir: string) => {
  const logs = fs.readdirSync(path.join(dir, "log")).sort()
  return fs.readFileSync(path.join(dir, "log", logs.at(-1)!), "utf8")
}

/** Runs `f` with the key stripped of its premium privilege on the emulator. */
const withoutPrivilege = async <A>(f: () => Promise<A>): Promise<A> => {
  suite.server.update({ premiumKeys: ["another-key-entirely-3f9a"] })
  try {
    return await f()
  } finally {
    suite.server.update({ premiumKeys: [key] })
  }
}

describe("search", () => {
  it("prints the ids a query finds, at most --limit, one a line; ndjson prints the objects", async () => {
    const dir = suite.scratch()
    const query = "type:peexe positives:5+ fs:2024-01-01+"
    const expected = VtEmulator.searchResults(query)
    const ids = await cli(dir, ["search", query, "--limit", "4"])
    expect(ids.code).toBe(0)
    expect(ids.stdout).toBe(expected.slice(0, 4).map((id) => `${id}\n`).join(""))
    expect(ids.stderr).toContain("summary: found 4, failed 0, requests 1")
    expect(suite.server.requests.map((r) => r.path)).toEqual(["/api/v3/intelligence/search"])

    const all = await cli(dir, ["search", query, "--format", "ndjson"])
    expect(all.code).toBe(0)
    const objects = all.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { id: string; type: string })
    expect(objects.map((o) => o.id)).toEqual([...expected])
    expect(objects.every((o) => o.type === "file")).toBe(true)
  })

  it("search | files -: the ids found are harvested", async () => {
    const dir = suite.scratch()
    const query = "tag:signed"
    const expected = VtEmulator.searchResults(query).slice(0, 3)
    const args = fast(dir).map(sh).join(" ")
    const result = await runShell(
      `${cliWords} search ${sh(query)} --limit 3 ${args} | ${cliWords} files - -o out ${args}`,
      { env: { VT_API_KEY: key }, cwd: dir }
    )
    expect(result.code).toBe(0)
    const saved = fs.readdirSync(path.join(dir, "out")).filter((name) => name.endsWith(".json"))
    const notFound = fs.existsSync(path.join(dir, "out", "_not_found"))
      ? fs.readdirSync(path.join(dir, "out", "_not_found"))
      : []
    expect([...saved, ...notFound].map((name) => name.replace(/\.json$/, "")).sort()).toEqual([...expected].sort())
    const files = suite.server.requests.filter((r) => /^\/api\/v3\/files\/[0-9a-f]{64}$/.test(r.path))
    expect(files.map((r) => r.id).sort()).toEqual([...expected].sort())
  })

  it("a key without the privilege: exactly one request, a clear error, exit 3", async () => {
    const dir = suite.scratch()
    const result = await withoutPrivilege(() => cli(dir, ["search", "type:peexe", "--limit", "500"]))
    expect(result.code).toBe(3)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain("the API key was refused (ForbiddenError)")
    expect(result.stderr).toContain("lacks the VirusTotal Intelligence privilege")
    expect(suite.server.requests.map((r) => r.status)).toEqual([403])
  })
})

describe("download", () => {
  it("saves verified samples (mode 0600), records unknown ones; a rerun sends no request", async () => {
    const dir = suite.scratch()
    const wanted = samples(1, 2, 3)
    const unknown = "ab".repeat(32)
    const md5 = hashes(1, true, "premium-md5").find((h) => h.length === 32) ?? "0".repeat(32)
    fs.writeFileSync(path.join(dir, "in.txt"), [...wanted, wanted[0], unknown, md5, "# comment"].join("\n") + "\n")
    const first = await cli(dir, ["download", "in.txt", "--download-dir", "samples", "--tier", "premium"])
    expect(first.code).toBe(0)
    expect(first.stderr).toContain("summary: saved 3, not found 1, skipped 1, invalid 1, failed 0, requests 7")
    for (const id of wanted) {
      const file = path.join(dir, "samples", id)
      expect(sha256(fs.readFileSync(file))).toBe(id)
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    }
    expect(fs.readdirSync(path.join(dir, "samples", "_not_found"))).toEqual([`${unknown}.json`])
    expect(fs.readdirSync(path.join(dir, "samples")).filter((name) => name.startsWith("."))).toEqual([])
    // Each sample: the API's redirect (302), then the signed URL, which the emulator would refuse (400) had it
    // carried the key.
    const storage = suite.server.requests.filter((r) => r.path.startsWith("/_storage/"))
    expect(storage.map((r) => r.status)).toEqual([200, 200, 200])
    expect(suite.server.requests.filter((r) => r.path.endsWith("/download")).map((r) => r.status).sort()).toEqual([
      302,
      302,
      302,
      404
    ])
    expect(logOf(dir)).toContain(`line 6: invalid SHA-256 "${md5}"`)

    suite.server.clearLog()
    const again = await cli(dir, ["download", "in.txt", "--download-dir", "samples", "--tier", "premium"])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 5, invalid 1, failed 0, requests 0")
    expect(suite.server.requests).toHaveLength(0)
  })

  it("never reads or writes a not-found record through a symbolic link: _not_found as a link is refused, nothing sent", async () => {
    const dir = suite.scratch()
    const unknown = "cd".repeat(32)
    fs.writeFileSync(path.join(dir, "in.txt"), `${unknown}\n`)
    fs.mkdirSync(path.join(dir, "samples"))
    fs.mkdirSync(path.join(dir, "outside"))
    fs.symlinkSync(path.join(dir, "outside"), path.join(dir, "samples", "_not_found"))
    const result = await cli(dir, ["download", "in.txt", "--download-dir", "samples", "--tier", "premium"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("symbolic link")
    expect(fs.readdirSync(path.join(dir, "outside"))).toEqual([])
    expect(suite.server.requests.filter((r) => r.path.includes("/download"))).toHaveLength(0)
  })

  it("a key without the privilege: exactly one request, a clear error, exit 3, nothing saved", async () => {
    const dir = suite.scratch()
    fs.writeFileSync(path.join(dir, "in.txt"), samples(4, 5, 6, 7).join("\n"))
    const result = await withoutPrivilege(() =>
      cli(dir, ["download", "in.txt", "--download-dir", "samples", "--tier", "premium", "--concurrency", "4"])
    )
    expect(result.code).toBe(3)
    expect(result.stderr).toContain("the API key was refused (ForbiddenError)")
    expect(result.stderr).toContain("lacks the privilege to download files")
    expect(suite.server.requests.map((r) => r.status)).toEqual([403])
    expect(fs.readdirSync(path.join(dir, "samples")).filter((name) => name !== "_not_found")).toEqual([])
  })

  it("every request passes the gate, the signed URLs too: --per-day 3 sends 3 and waits for 00:00 UTC", async () => {
    const dir = suite.scratch()
    fs.writeFileSync(path.join(dir, "in.txt"), samples(8, 9).join("\n"))
    const { child, done } = startCli(
      [
        "download",
        "in.txt",
        "--download-dir",
        "samples",
        "--tier",
        "premium",
        "--concurrency",
        "1",
        "--per-day",
        "3",
        ...fast(dir)
      ],
      { env: { VT_API_KEY: key }, cwd: dir }
    )
    const deadline = Date.now() + 20_000
    while (suite.server.requests.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    child.kill("SIGTERM")
    const result = await done
    // The first sample's redirect and signed URL, then the second's redirect: its signed URL waits for tomorrow.
    expect(suite.server.requests.map((r) => r.status)).toEqual([302, 200, 302])
    expect(result.stderr).toContain("summary: saved 1, not found 0, skipped 0, invalid 0, failed 0, requests 3")
    expect(logOf(dir)).toMatch(/daily limit of 3 requests reached, waiting until \d{4}-\d\d-\d\dT00:00:00\.000Z/)
    expect(fs.readdirSync(path.join(dir, "samples")).filter((name) => name.startsWith("."))).toEqual([])
  })

  it("killed (SIGKILL) mid-download: nothing under the sample's name; a rerun completes it", async () => {
    const dir = suite.scratch()
    const [big] = samples(0)
    fs.writeFileSync(path.join(dir, "in.txt"), `${big}\n`)
    suite.server.update({ downloadBytesPerSecond: 100_000 })
    try {
      const { child, done } = startCli(
        ["download", "in.txt", "--download-dir", "samples", "--tier", "premium", ...fast(dir)],
        { env: { VT_API_KEY: key }, cwd: dir }
      )
      const parts = () =>
        fs.existsSync(path.join(dir, "samples"))
          ? fs.readdirSync(path.join(dir, "samples")).filter((name) => name.endsWith(".part"))
          : []
      const deadline = Date.now() + 20_000
      while (
        !(parts().length === 1 && fs.statSync(path.join(dir, "samples", parts()[0])).size > 100_000) &&
        Date.now() < deadline
      ) await new Promise((r) => setTimeout(r, 50))
      child.kill("SIGKILL")
      const killed = await done
      expect(killed.signal).toBe("SIGKILL")
      expect(fs.existsSync(path.join(dir, "samples", big))).toBe(false)
      expect(parts()).toHaveLength(1)
    } finally {
      suite.server.update({ downloadBytesPerSecond: undefined })
    }
    const rerun = await cli(dir, ["download", "in.txt", "--download-dir", "samples", "--tier", "premium"])
    expect(rerun.code).toBe(0)
    expect(rerun.stderr).toContain("summary: saved 1, not found 0, skipped 0, invalid 0, failed 0, requests 2")
    expect(sha256(fs.readFileSync(path.join(dir, "samples", big)))).toBe(big)
    expect(fs.readdirSync(path.join(dir, "samples")).filter((name) => name.startsWith("."))).toEqual([])
  }, 60_000)

  /** `download in.txt` into `dir`/samples against a server of the test's own (no quota probe). */
  const downloadFrom = (dir: string, base: string, ...more: ReadonlyArray<string>) =>
    runCli([
      "download",
      "in.txt",
      "--download-dir",
      "samples",
      "--log-dir",
      "log",
      "--base-url",
      base,
      "--per-minute",
      "60000",
      ...more,
      "--no-progress",
      "--no-quota-probe"
    ], { env: { VT_API_KEY: key }, cwd: dir })

  it("a hostile server sends bytes that do not match: that sample fails, nothing kept, the run goes on", async () => {
    const dir = suite.scratch()
    const [good, bad] = [VtEmulator.sample(10), VtEmulator.sample(11)]
    const server = await HostileServer.start({
      other: (request, response) => {
        const url = request.url ?? ""
        const download = /^\/api\/v3\/files\/([0-9a-f]{64})\/download$/.exec(url)
        if (download !== null) {
          response.writeHead(302, { location: `/bucket/${download[1]}?token=signed` }).end()
          return
        }
        const stored = /^\/bucket\/([0-9a-f]{64})\?token=signed$/.exec(url)
        if (stored !== null) {
          // The bad one gets other bytes of the same length.
          const bytes = stored[1] === good.sha256 ? good.bytes : VtEmulator.sample(12).bytes
          response.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.from(bytes))
          return
        }
        response.writeHead(404, { "content-type": "application/json" }).end(
          JSON.stringify({ error: { code: "NotFoundError", message: "not here" } })
        )
      }
    })
    try {
      fs.writeFileSync(path.join(dir, "in.txt"), `${bad.sha256}\n${good.sha256}\n`)
      const result = await downloadFrom(dir, server.url)
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("summary: saved 1, not found 0, skipped 0, invalid 0, failed 1, requests 4")
      expect(fs.readdirSync(path.join(dir, "samples")).sort()).toEqual(["_not_found", good.sha256])
      expect(logOf(dir)).toContain(`not to the SHA-256 asked for; nothing kept`)
      // The key went to the API, never to the storage.
      expect(server.requests.filter((r) => r.path.startsWith("/api/")).every((r) => r.apiKey === key)).toBe(true)
      expect(server.requests.filter((r) => r.path.startsWith("/bucket/")).map((r) => r.apiKey)).toEqual([
        undefined,
        undefined
      ])
    } finally {
      await server.close()
    }
  })

  it("the signed download link answers 401 or 403 (it was sent no key): that sample fails, the run goes on, exit 1", async () => {
    const dir = suite.scratch()
    const refused = [VtEmulator.sample(21), VtEmulator.sample(22)]
    const kept = VtEmulator.sample(23)
    const statuses = new Map([[refused[0].sha256, 403], [refused[1].sha256, 401]])
    const server = await HostileServer.start({
      other: (request, response) => {
        const url = request.url ?? ""
        const download = /^\/api\/v3\/files\/([0-9a-f]{64})\/download$/.exec(url)
        if (download !== null) {
          response.writeHead(302, { location: `/bucket/${download[1]}?token=t` }).end()
          return
        }
        const sha256 = /^\/bucket\/([0-9a-f]{64})/.exec(url)?.[1] ?? ""
        const status = statuses.get(sha256)
        if (status !== undefined) {
          // What a storage service says of a signed link it no longer takes.
          response.writeHead(status, { "content-type": "application/xml" }).end("<Error>AccessDenied</Error>")
          return
        }
        response.writeHead(200, { "content-type": "application/octet-stream" }).end(kept.bytes)
      }
    })
    try {
      fs.writeFileSync(path.join(dir, "in.txt"), `${refused[0].sha256}\n${refused[1].sha256}\n${kept.sha256}\n`)
      const result = await downloadFrom(dir, server.url, "--retries", "0", "--concurrency", "1")
      expect(result.code, result.stderr).toBe(1)
      expect(result.stderr).toContain("summary: saved 1, not found 0, skipped 0, invalid 0, failed 2")
      expect(result.stderr).toContain("from a request sent without the key")
      expect(fs.readdirSync(path.join(dir, "samples")).filter((name) => name !== "_not_found")).toEqual([kept.sha256])
    } finally {
      await server.close()
    }
  })

  it("the signed download link answers 404 (expired): that sample fails, is not recorded as not found, a rerun asks again", async () => {
    const dir = suite.scratch()
    const sample = VtEmulator.sample(13)
    const server = await HostileServer.start({
      other: (request, response) => {
        if (/^\/api\/v3\/files\/[0-9a-f]{64}\/download$/.test(request.url ?? "")) {
          response.writeHead(302, { location: "/bucket/gone?token=expired" }).end()
          return
        }
        // As VirusTotal's storage would say it, in an API error document.
        response.writeHead(404, { "content-type": "application/json" }).end(
          JSON.stringify({ error: { code: "NotFoundError", message: "no such object" } })
        )
      }
    })
    try {
      fs.writeFileSync(path.join(dir, "in.txt"), `${sample.sha256}\n`)
      const result = await downloadFrom(dir, server.url, "--retries", "0")
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("summary: saved 0, not found 0, skipped 0, invalid 0, failed 1")
      expect(fs.readdirSync(path.join(dir, "samples", "_not_found"))).toEqual([])
      const again = await downloadFrom(dir, server.url, "--retries", "0")
      expect(again.stderr).toContain("failed 1")
    } finally {
      await server.close()
    }
  })
})
