// Untrusted text on the built CLI's terminal: paths and names from the user's file system, bodies and names from the
// server, shown with their control characters escaped (or blanked in a table or CSV cell), never raw. A terminal
// that receives ESC ] 0 ; … BEL changes its title; ESC [ 5 ; 45 m its colours; U+009B and U+009D are the same in
// 8 bits. Our own sequences (the progress line's ESC [ K, a coloured "warning:") are the only ones allowed.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cliWords, emulatorSuite, hashes, runCli, sh, underTerminal } from "./helpers.js"
import * as Hostile from "./hostileServer.js"

const key = "untrusted-test-key-Jx41nV8qE3"
const suite = emulatorSuite(key, "untrusted")
const scratch = suite.scratch

const osc = "\u001b]0;pwned\u0007"
const csi = "\u001b[5;45m"
// And a bidirectional override, which shows the rest of a line reversed (a name that reads as another).
const c1 = "\u009b5m\u009d0;c1\u009c\u202e"

/** Fails if anything but our own sequences reached the terminal raw. */
const expectNothingRaw = (output: string) => {
  expect(output).not.toContain("\u001b]")
  expect(output).not.toContain("\u0007")
  expect(output).not.toContain(csi)
  expect(output).not.toMatch(/[\u0080-\u009f]/)
  expect(output).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/)
  const ours = output.replace(/\u001b\[(?:K|0m|1;31m|31m|33m|2m)/g, "").replace(/[\r\n]/g, "")
  expect(ours).not.toMatch(/[\u0000-\u001f\u007f]/)
}

const logOf = (dir: string) =>
  fs.readdirSync(path.join(dir, "log")).map((name) => fs.readFileSync(path.join(dir, "log", name), "utf8")).join("")

describe("untrusted text never reaches the terminal raw", () => {
  it(
    "an input file and an --out directory named with escape sequences: the start and closing lines escape them",
    async () => {
      const dir = scratch()
      const input = `in${osc}${c1}.txt`
      const out = `out${csi}`
      fs.writeFileSync(path.join(dir, input), hashes(2, true, "names").join("\n") + "\n")
      const args = ["files", input, "-o", out, "--log-dir", "log", "--base-url", suite.server.url, "--tier", "premium"]
      const result = await underTerminal(`${cliWords} ${args.map(sh).join(" ")}`, {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      expect(result.code).toBe(0)
      expectNothingRaw(result.stdout)
      expect(result.stdout).toContain("vt-harvest files: in\\u001b]0;pwned\\u0007\\u009b5m")
      expect(result.stdout).toContain("reports in out\\u001b[5;45m/")
    },
    30_000
  )

  it("a usage error naming such a path: exit 2, the path escaped", async () => {
    const dir = scratch()
    const out = `not-a-dir${osc}`
    fs.writeFileSync(path.join(dir, out), "a file, not a directory")
    fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "usage").join("\n"))
    const result = await runCli(["files", "list.txt", "-o", out, "--base-url", suite.server.url, "--no-progress"], {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("not-a-dir\\u001b]0;pwned\\u0007")
    expectNothingRaw(result.stderr)
    expect(suite.server.requests.filter((r) => r.path.includes("/files/"))).toHaveLength(0)
  }, 20_000)

  it("an error body with escape sequences: the console and the run log show it escaped", async () => {
    const dir = scratch()
    const hostile = await Hostile.start({
      files: (_request, response) => {
        const body = JSON.stringify({ error: { code: "BadRequestError", message: `bad ${osc}${csi}${c1} request` } })
        response.writeHead(400, { "content-type": "application/json" }).end(body)
      }
    })
    try {
      fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "body").join("\n") + "\n")
      const args = [
        "files",
        "list.txt",
        "-o",
        "out",
        "--log-dir",
        "log",
        "--base-url",
        hostile.url,
        "--tier",
        "premium"
      ]
      const result = await underTerminal(`${cliWords} ${args.map(sh).join(" ")}`, {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      expect(result.code).toBe(1)
      expect(result.stdout).toContain("BadRequestError")
      expectNothingRaw(result.stdout)
      const log = logOf(dir)
      expect(log).toContain("BadRequestError")
      expect(log.replace(/\n/g, "")).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    } finally {
      await hostile.close()
    }
  }, 30_000)

  it("an error code with a colour sequence, printed by quota and vote add: the sequence is not passed on", async () => {
    const dir = scratch()
    const conceal = "\u001b[8m"
    const answer: Hostile.Handler = (_request, response) => {
      const body = JSON.stringify({ error: { code: `BadRequestError${conceal}${csi} hidden`, message: "m" } })
      response.writeHead(400, { "content-type": "application/json" }).end(body)
    }
    const hostile = await Hostile.start({ quotas: answer, other: answer })
    try {
      for (
        const args of [
          ["quota", "--base-url", hostile.url],
          ["vote", "add", "files", hashes(1, true, "vote")[0]!, "malicious", "--base-url", hostile.url]
        ]
      ) {
        const result = await underTerminal(`${cliWords} ${args.map(sh).join(" ")}`, {
          cwd: dir,
          env: { VT_API_KEY: key }
        })
        expect(result.code, result.stdout).toBe(1)
        expect(result.stdout).toContain("BadRequestError")
        expect(result.stdout).toContain("hidden")
        expect(result.stdout).not.toContain(conceal)
        expectNothingRaw(result.stdout)
      }
    } finally {
      await hostile.close()
    }
  }, 30_000)

  it("analysis on a terminal: a stored URL with escape sequences is printed blanked, its formula defused", async () => {
    const dir = scratch()
    const id = `u-${"a".repeat(64)}-1700000000`
    const analyses = path.join(dir, "out", "_analyses")
    fs.mkdirSync(analyses, { recursive: true })
    const url = `=HYPERLINK("http://evil.example/${osc}${csi}${c1}")`
    fs.writeFileSync(
      path.join(analyses, `${id}.json`),
      JSON.stringify({
        data: { type: "analysis", id, attributes: { status: "completed", stats: { malicious: 1 }, date: 1700000000 } },
        meta: { url_info: { id: "a".repeat(64), url } }
      })
    )
    for (const format of [[], ["--json"]]) {
      const args = ["analysis", id, "-o", "out", "--log-dir", "log", "--base-url", suite.server.url, ...format]
      const result = await underTerminal(`${cliWords} ${args.map(sh).join(" ")}`, {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("evil.example")
      expectNothingRaw(result.stdout)
      if (format.length === 0) expect(result.stdout).toContain(`${id},completed,1,,,,"'=HYPERLINK(`)
    }
  }, 30_000)
  it("a usage error of several problems keeps one problem a line, each escaped", async () => {
    const dir = scratch()
    const result = await runCli(["analysis", `bad${osc}`, "also bad", "-o", "out", "--base-url", suite.server.url], {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    expect(result.code).toBe(2)
    expect(result.stderr.split("\n")).toEqual([
      "vt-harvest: invalid analysis id \"bad\\u001b]0;pwned\\u0007\" (argument 1)",
      "vt-harvest: invalid analysis id \"also bad\" (argument 2)",
      "nothing was sent",
      ""
    ])
  }, 20_000)
  it("the JSON run log escapes them too (C1, DEL, U+2028): one event a line, each line valid JSON", async () => {
    const dir = scratch()
    const hostile = await Hostile.start({
      files: (_request, response) => {
        const message = `bad ${osc}${c1}\u007f\u2028forged line\u2029 request`
        response.writeHead(400, { "content-type": "application/json" }).end(
          JSON.stringify({ error: { code: "BadRequestError", message } })
        )
      }
    })
    try {
      fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "json-log").join("\n") + "\n")
      const args = [
        "files",
        "list.txt",
        "-o",
        "out",
        "--log-dir",
        "log",
        "--log-format",
        "json",
        "--base-url",
        hostile.url
      ]
      const result = await runCli([...args, "--tier", "premium", "--no-progress"], {
        cwd: dir,
        env: { VT_API_KEY: key }
      })
      expect(result.code).toBe(1)
      const log = logOf(dir)
      expect(log).toContain("BadRequestError")
      expect(log).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/)
      const lines = log.trimEnd().split("\n")
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
      expect(lines.map((line) => JSON.parse(line).message).join("\n")).toContain("forged line")
    } finally {
      await hostile.close()
    }
  }, 30_000)
})
