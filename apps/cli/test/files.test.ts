import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { hashes, readJsonFiles, runCli, startCli, tempDir } from "./helpers.js"

const key = "cli-test-key-7f3c9a1e5b"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())
beforeEach(() => {
  server.clearLog()
  server.resetQuota()
})

const files = (dir: string, input: string, extra: ReadonlyArray<string> = [], env: Record<string, string> = {}) =>
  runCli(
    [
      "files",
      input,
      "--out",
      path.join(dir, "out"),
      "--log-dir",
      path.join(dir, "log"),
      "--base-url",
      server.url,
      "--per-minute",
      "60000",
      ...extra
    ],
    { env: { VT_API_KEY: key, ...env }, cwd: dir }
  )

const fileRequests = () => server.requests.filter((r) => r.path.includes("/files/"))

describe("vt-harvest files", () => {
  it("saves every known hash, records unknown ones, reports invalid lines and sends duplicates once", async () => {
    const dir = tempDir()
    const known = hashes(6, true)
    const unknown = hashes(2, false)
    const lines = [
      "# a comment",
      known[0].toUpperCase(),
      `  ${known[1]}  `,
      "",
      known[2],
      "not-a-hash",
      known[3],
      unknown[0],
      known[0], // duplicate (case differs from line 2)
      `${known[4]}\t`,
      "abc123",
      known[5],
      unknown[1]
    ]
    fs.writeFileSync(path.join(dir, "in.txt"), "\uFEFF" + lines.join("\r\n") + "\r\n")
    const result = await files(dir, "in.txt")
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("summary: saved 6, not found 2, skipped 1, invalid 2, failed 0, requests 8")
    expect(result.stderr).toMatch(/line 6: invalid hash "not-a-hash"/)
    expect(result.stderr).toMatch(/line 11: invalid hash "abc123"/)
    expect(result.stdout).toBe("")

    const out = path.join(dir, "out")
    expect(readJsonFiles(out)).toEqual(known.map((id) => `${id}.json`).sort())
    for (const id of known) {
      const saved = fs.readFileSync(path.join(out, `${id}.json`))
      expect(Buffer.compare(saved, Buffer.from(VtEmulator.fileDocument(id)))).toBe(0)
    }
    expect(readJsonFiles(path.join(out, "_not_found"))).toEqual(unknown.map((id) => `${id}.json`).sort())
    const notFound = JSON.parse(fs.readFileSync(path.join(out, "_not_found", `${unknown[0]}.json`), "utf8"))
    expect(notFound.error.code).toBe("NotFoundError")

    const requested = fileRequests().map((r) => r.id)
    expect(requested).toHaveLength(8)
    expect(new Set(requested).size).toBe(8)
    expect(requested).not.toContain("not-a-hash")

    // A rerun sends nothing at all.
    server.clearLog()
    const again = await files(dir, "in.txt")
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 9, invalid 2, failed 0, requests 0")
    expect(fileRequests()).toHaveLength(0)

    // --retry-not-found asks again only for the not-found ones.
    const retry = await files(dir, "in.txt", ["--retry-not-found"])
    expect(retry.code).toBe(0)
    expect(fileRequests().map((r) => r.id).sort()).toEqual([...unknown].sort())

    // Two runs, two log files in the seed's format, nothing overwritten.
    const logs = fs.readdirSync(path.join(dir, "log"))
    expect(logs.length).toBe(3)
    for (const name of logs) expect(name).toMatch(/^\d{8}_\d{6}(_\d+)?\.log$/)
    const first = fs.readFileSync(path.join(dir, "log", logs.sort()[0]), "utf8").split("\n").filter(Boolean)
    for (const line of first) expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [ A-Z]{8} - \S/)
    const text = first.join("\n")
    expect(text).toContain(`    INFO - requesting ${known[0]}`)
    expect(text).toContain(`    INFO - saved ${known[0]}.json`)
    expect(text).toContain(`    INFO - not found ${unknown[0]}`)
    expect(text).toMatch(/ - summary: saved 6, not found 2/)
    expect(first[first.length - 1]).toMatch(/ - end$/)
    expect(text).not.toContain(key)
  })

  it("reads standard input with -", async () => {
    const dir = tempDir()
    const known = hashes(2, true, "stdin")
    const result = await runCli(
      ["files", "-", "-o", "out", "--log-dir", "log", "--base-url", server.url, "--per-minute", "60000"],
      { env: { VT_API_KEY: key }, cwd: dir, stdin: known.join("\n") }
    )
    expect(result.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "out"))).toEqual(known.map((id) => `${id}.json`).sort())
  })

  it("takes the key from a .env file in the working directory, the environment winning", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, ".env"), `VT_API_KEY=${key}\n`)
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true, "dotenv")[0] + "\n")
    const fromDotEnv = await runCli(["files", "in.txt", "--base-url", server.url, "--per-minute", "60000"], {
      cwd: dir
    })
    expect(fromDotEnv.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "vt_reports"))).toHaveLength(1)
    expect(fs.readdirSync(path.join(dir, "log"))).toHaveLength(1)

    const envWins = await runCli(["files", "in.txt", "--base-url", server.url, "--overwrite"], {
      cwd: dir,
      env: { VT_API_KEY: "the-environment-key" }
    })
    expect(envWins.code).toBe(3)
  })

  it("stops at once with status 3 when the key is refused, and never shows the key", async () => {
    const dir = tempDir()
    const wrong = "wrong-key-d00dfeed"
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(5, true, "wrong").join("\n"))
    const result = await files(dir, "in.txt", [], { VT_API_KEY: wrong })
    expect(result.code).toBe(3)
    expect(result.stderr).toContain("WrongCredentialsError")
    expect(result.stderr).toContain("summary: saved 0, not found 0, skipped 0, invalid 0, failed 0, requests 0")
    // The start-of-run quota probe is refused: not one report request is sent.
    expect(fileRequests()).toHaveLength(0)
    const skipProbe = await files(dir, "in.txt", ["--no-quota-probe"], { VT_API_KEY: wrong })
    expect(skipProbe.code).toBe(3)
    expect(fileRequests()).toHaveLength(1)
    const everything = result.stdout + result.stderr + skipProbe.stdout + skipProbe.stderr +
      fs.readdirSync(path.join(dir, "log")).map((f) => fs.readFileSync(path.join(dir, "log", f), "utf8")).join("")
    expect(everything).not.toContain(wrong)
  })

  it("exits 2 naming VT_API_KEY when no key is configured, before sending anything", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true)[0])
    const result = await runCli(["files", "in.txt", "--base-url", server.url], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("VT_API_KEY")
    expect(server.requests).toHaveLength(0)
  })

  it("exits 2 for an unreadable input, a bad --base-url or a bad limit", async () => {
    const dir = tempDir()
    const missing = await files(dir, "does-not-exist.txt")
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("cannot read input")
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true)[0])
    const badUrl = await runCli(["files", "in.txt", "--base-url", "ftp://example"], {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    expect(badUrl.code).toBe(2)
    // The path of each request would land in the query or the fragment: every id answered by the base path's 404.
    for (const base of [`${server.url}?`, `${server.url}#`, `${server.url}?x=1`]) {
      for (const env of [{}, { VT_BASE_URL: base }]) {
        const args = "VT_BASE_URL" in env ? ["files", "in.txt"] : ["files", "in.txt", "--base-url", base]
        const result = await runCli(args, { cwd: dir, env: { VT_API_KEY: key, ...env } })
        expect(result.code, base).toBe(2)
        expect(result.stderr).toContain("without a query or a fragment")
      }
    }
    for (
      const base of [
        "http://bob:hunter2pw@127.0.0.1:9/api/v3",
        "http://bob:hun@ter2pw@127.0.0.1:9/",
        "http://bob:hunter2pw@h:999999/"
      ]
    ) {
      const withPassword = await runCli(["files", "in.txt", "--base-url", base], { cwd: dir, env: { VT_API_KEY: key } })
      expect(withPassword.code, base).toBe(2)
      expect(withPassword.stderr).toContain("--base-url must be an http(s) URL")
      expect(withPassword.stderr).not.toContain("ter2pw")
    }
    expect(fs.existsSync(path.join(dir, "vt_reports", "_not_found"))).toBe(false)
    // A mistyped or unknown URL is no directory: nothing made under its name.
    for (const out of ["s3:/bucket/x", "ftp://host/x"]) {
      const result = await runCli(["files", "in.txt", "-o", out, "--base-url", server.url], {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      expect(result.code, out).toBe(2)
      expect(result.stderr).toContain("--out must name a directory, s3://bucket/prefix or postgres://")
    }
    expect(fs.existsSync(path.join(dir, "s3:"))).toBe(false)
    expect(fs.existsSync(path.join(dir, "ftp:"))).toBe(false)
    const badLimit = await files(dir, "in.txt", ["--per-day", "0"])
    expect(badLimit.code).toBe(2)
    const badOption = await files(dir, "in.txt", ["--tier", "gold"])
    expect(badOption.code).toBe(2)
    expect(server.requests).toHaveLength(0)
  })

  it("exits 1 when some hashes fail for good, naming them, and goes on with the rest", async () => {
    const dir = tempDir()
    const known = hashes(3, true, "fail")
    fs.writeFileSync(path.join(dir, "in.txt"), known.join("\n"))
    server.update({ faults: { transient: 1 } })
    try {
      const result = await files(dir, "in.txt", ["--concurrency", "3", "--retries", "1"])
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/failed 3/)
      for (const id of known) expect(result.stderr).toContain(id)
    } finally {
      server.update({ faults: {} })
    }
  })

  it("prints plain lines without control characters off a TTY", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(2, true, "plain").join("\n") + "\nbad\n")
    const result = await files(dir, "in.txt")
    expect(result.code).toBe(0)

    expect(result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
  })

  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`stops cleanly on ${signal}: summary printed, exit ${status}, no partial file`, async () => {
      const dir = tempDir()
      const ids = hashes(40, true, signal)
      fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n"))
      server.update({ latencyMs: 200 })
      try {
        const { child, done } = startCli(
          ["files", "in.txt", "-o", "out", "--base-url", server.url, "--per-minute", "60000", "--no-progress"],
          { env: { VT_API_KEY: key }, cwd: dir }
        )
        while (fileRequests().length < 3) await new Promise((resolve) => setTimeout(resolve, 20))
        child.kill(signal)
        const result = await done
        expect(result.code).toBe(status)
        expect(result.stderr).toMatch(/summary: saved \d+, not found 0, skipped 0, invalid 0, failed 0, requests \d+/)
        const names = fs.readdirSync(path.join(dir, "out"))
        expect(names.filter((name) => name.startsWith("."))).toEqual([])
        const saved = readJsonFiles(path.join(dir, "out"))
        expect(saved.length).toBeGreaterThan(0)
        expect(saved.length).toBeLessThan(ids.length)
        for (const name of saved) JSON.parse(fs.readFileSync(path.join(dir, "out", name), "utf8"))
      } finally {
        server.update({ latencyMs: 0 })
      }
    })
  }

  it("a second run the same day starts from what the key already used and waits without burning a 429", async () => {
    const dir = tempDir()
    const daily = await VtEmulator.start({ apiKeys: [key], perDay: 3 })
    try {
      const ids = hashes(5, true, "seeded")
      fs.writeFileSync(path.join(dir, "first.txt"), ids.slice(0, 3).join("\n"))
      fs.writeFileSync(path.join(dir, "second.txt"), ids.slice(3).join("\n"))
      const args = ["-o", "out", "--base-url", daily.url, "--per-minute", "60000", "--per-day", "3", "--no-progress"]
      const first = await runCli(["files", "first.txt", ...args], { env: { VT_API_KEY: key }, cwd: dir })
      expect(first.code).toBe(0)
      expect(first.stderr).toContain("saved 3")
      daily.clearLog()
      const { child, done } = startCli(["files", "second.txt", ...args], { env: { VT_API_KEY: key }, cwd: dir })
      while (!daily.requests.some((r) => r.path.endsWith("/overall_quotas"))) {
        await new Promise((r) => setTimeout(r, 20))
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
      child.kill("SIGINT")
      const second = await done
      expect(second.code).toBe(130)
      expect(second.stderr).toMatch(/daily limit of 3 requests reached, waiting until \d{4}-\d\d-\d\dT00:00:00/)
      expect(daily.requests.filter((r) => r.path.includes("/files/"))).toHaveLength(0)
      const log = fs.readdirSync(path.join(dir, "log")).sort().map((f) =>
        fs.readFileSync(path.join(dir, "log", f), "utf8")
      )
      expect(log[1]).toContain("quota used: today 3/3")
    } finally {
      await daily.close()
    }
  })

  it("a base URL that is not the API's root: the start-up warning says so", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), `${hashes(1, true, "base-url")[0]}\n`)
    const root = server.url.replace(/\/api\/v3$/, "")
    const run = await runCli(["files", "in.txt", "-o", "out", "--base-url", root, "--no-progress"], {
      env: { VT_API_KEY: key },
      cwd: dir
    })
    expect(run.stderr).toContain(
      "could not read the key's quota usage (NotFoundError); counting from zero this run. The base URL does not end " +
        "in /api/v3, the path of VirusTotal's API (https://www.virustotal.com/api/v3): under another path every id " +
        "may be recorded as not found"
    )
    expect(run.stderr).toContain("not found 1")
    // With the API's root, no such question; --retry-not-found asks again for what the wrong URL recorded.
    const again = await files(dir, "in.txt", ["--retry-not-found"])
    expect(again.stderr).not.toContain("/api/v3")
    expect(again.stderr).toContain("saved 1, not found 0")
  })

  it("--help exits 0 and, off a TTY, prints no control characters", async () => {
    for (const args of [["--help"], ["files", "--help"]]) {
      const result = await runCli(args)
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("vt-harvest")

      expect(result.stdout + result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
    }
    const unknown = await runCli(["fetch-everything"])
    expect(unknown.code).toBe(2)
  })

  it("--version says the package's version; --completions bash completes commands and their options", async () => {
    const version = await runCli(["--version"])
    expect(version.stdout.trim()).toBe(
      JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")).version
    )
    const script = await runCli(["--completions", "bash"])
    expect(script.code).toBe(0)
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "vt-harvest.bash"), script.stdout)
    const complete = (words: ReadonlyArray<string>) =>
      spawnSync("bash", [
        "-c",
        `source vt-harvest.bash; COMP_WORDS=(${words.join(" ")}); COMP_CWORD=${
          words.length - 1
        }; _vt-harvest_bash_completions vt-harvest; echo "\${COMPREPLY[@]}"`
      ], { cwd: dir, encoding: "utf8" }).stdout.trim()
    expect(complete(["vt-harvest", "sc"])).toBe("scan")
    expect(complete(["vt-harvest", "files", "--ti"])).toBe("--tier --timeout")
    expect(complete(["vt-harvest", "analysis", "--wa"])).toBe("--wait --wait-timeout")
    // The values of an option with choices, one word each.
    expect(complete(["vt-harvest", "files", "--tier", "p"])).toBe("public premium")
    expect(complete(["vt-harvest", "files", "--tier", "pr"])).toBe("premium")
    expect(complete(["vt-harvest", "files", "--log-format", ""])).toBe("text json")
    // Never the built-ins the CLI refuses.
    expect(complete(["vt-harvest", "--"]).split(" ")).toEqual(["--completions", "--help", "--version"])
    expect(complete(["vt-harvest", "files", "--w"])).toBe("--wait-timeout")
    expect(complete(["vt-harvest", "files", "--l"])).toBe("--log-dir --log-format")
    expect(script.stdout).not.toContain("--wizard")
    expect(script.stdout).not.toContain("--log-level")
  })
})
