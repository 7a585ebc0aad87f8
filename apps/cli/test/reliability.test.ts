import { GetObjectCommand } from "@aws-sdk/client-s3"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { hashes, readJsonFiles, runCli, startCli, tempDir } from "./helpers.js"
import { startS3rver } from "./s3rver.js"

const key = "reliability-key-Zq81xK0vW3"
let server: VtEmulator.Server

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
})
afterAll(() => server.close())
beforeEach(() => {
  server.clearLog()
  server.resetQuota()
  server.update({ faults: {}, latencyMs: 0 })
})

const fileRequests = () => server.requests.filter((r) => r.path.includes("/files/"))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts the CLI 20 times and SIGKILLs it each time after a random number of new report requests (so every kill
 * lands mid-run, start-up excluded) plus a random few milliseconds; answers how many runs were killed.
 */
const killRepeatedly = async (args: ReadonlyArray<string>, env: Record<string, string>, dir: string) => {
  let kills = 0
  for (let round = 0; round < 20; round++) {
    const before = fileRequests().length
    const { child, done } = startCli(args, { env, cwd: dir })
    // Small steps, so that 20 runs fit in the list however fast the CLI gets through it between checks.
    const target = before + 5 + Math.floor(Math.random() * 20)
    const deadline = Date.now() + 20_000
    while (fileRequests().length < target && child.exitCode === null && Date.now() < deadline) await sleep(2)
    await sleep(Math.random() * 15)
    if (child.exitCode === null) {
      child.kill("SIGKILL")
      kills++
    }
    await done
  }
  return kills
}

const expectStoreComplete = (out: string, ids: ReadonlyArray<string>) => {
  const names = fs.readdirSync(out)
  expect(names.filter((name) => name.startsWith(".") || name.endsWith(".tmp"))).toEqual([])
  expect(readJsonFiles(out)).toEqual(ids.map((id) => `${id}.json`).sort())
  for (const id of ids) {
    const saved = fs.readFileSync(path.join(out, `${id}.json`))
    expect(Buffer.compare(saved, Buffer.from(VtEmulator.fileDocument(id)))).toBe(0)
  }
}

describe("reliability", () => {
  it("survives 20 SIGKILLs at random instants: every report saved exactly once, nothing partial", async () => {
    const dir = tempDir()
    const ids = hashes(1000, true, "crash")
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\n")
    server.update({ latencyMs: 3 })
    const concurrency = 8
    const args = [
      "files",
      "in.txt",
      "-o",
      "out",
      "--tier",
      "premium",
      "--concurrency",
      String(concurrency),
      "--no-progress"
    ]
    const env = { VT_API_KEY: key, VT_BASE_URL: server.url }
    const kills = await killRepeatedly(args, env, dir)
    const final = await runCli(args, { env, cwd: dir })
    expect(final.code).toBe(0)
    expect(kills).toBeGreaterThanOrEqual(20)
    expectStoreComplete(path.join(dir, "out"), ids)
    const requested = fileRequests().map((r) => r.id)
    const repeated = requested.length - new Set(requested).size
    expect(new Set(requested).size).toBe(ids.length)
    expect(repeated).toBeLessThanOrEqual(kills * concurrency)
  }, 300_000)

  it("saves every known id through 10 % 503, 5 % resets, 5 % truncated bodies and 2 % slow responses", async () => {
    const dir = tempDir()
    const ids = hashes(300, true, "faults")
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n"))
    server.update({ faults: { transient: 0.1, reset: 0.05, truncated: 0.05, slow: 0.02, slowMs: 5_000 }, seed: 7 })
    const result = await runCli(
      ["files", "in.txt", "-o", "out", "--tier", "premium", "--concurrency", "16", "--timeout", "1", "--retries", "10"],
      { env: { VT_API_KEY: key, VT_BASE_URL: server.url }, cwd: dir }
    )
    expect(result.stderr).toContain("failed 0")
    expect(result.code).toBe(0)
    expectStoreComplete(path.join(dir, "out"), ids)
    const faults = fileRequests().filter((r) => r.fault !== undefined)
    expect(new Set(faults.map((r) => r.fault))).toEqual(new Set(["transient", "reset", "truncated", "slow"]))
  }, 180_000)

  it("never sends a malformed line, names each by its line number, and never crashes", async () => {
    const dir = tempDir()
    const valid = hashes(3, true, "corpus")
    const bad: Array<string | Buffer> = [
      "d41d8cd98f00b204e9800998ecf8427", // 31 hex
      "d41d8cd98f00b204e9800998ecf8427ee", // 33 hex
      "da39a3ee5e6b4b0d3255bfef95601890afd8070", // 39 hex
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", // 65 hex
      "g41d8cd98f00b204e9800998ecf8427e", // non-hex
      "d41d8cd98f00b204\u0000e9800998ecf8427e", // NUL inside
      "x".repeat(1024 * 1024), // a 1 MB line
      Buffer.from([0xd4, 0x1d, 0x8c, 0xff, 0xfe, 0xc3, 0x28]), // invalid UTF-8
      "d41d8cd98f00b204\te9800998ecf8427e", // tab inside
      "../../../../etc/passwd",
      "..",
      "/etc/passwd",
      "C:\\Windows\\win.ini",
      "$(rm -rf /)",
      "`id`",
      "a; cat /etc/shadow",
      "d41d8cd98f00b204e9800998ecf8427e | sh",
      "d41d8cd98f00b204e9800998ecf8427e && reboot",
      "xn--bcher-kva.example",
      "bücher.example",
      "::1",
      "2001:db8::1",
      "10.0.0.1",
      "http://example.com/a b",
      "https://example.com/",
      "d41d8cd98f00b204e9800998ecf8427e d41d8cd98f00b204e9800998ecf8427e",
      "0x" + "d41d8cd98f00b204e9800998ecf8427e".slice(2),
      "d41d8cd98f00b204e9800998ecf8427e,",
      "\"d41d8cd98f00b204e9800998ecf8427e\"",
      "%2e%2e%2f",
      "\u202ed41d8cd98f00b204e9800998ecf8427e",
      "ｄ41d8cd98f00b204e9800998ecf8427e", // full-width letter
      "\u001b[31md41d8cd98f00b204e9800998ecf8427e",
      "d41d8cd98f00b204e9800998ecf8427e\u00a0x"
    ]
    expect(bad.length).toBeGreaterThanOrEqual(30)
    const lines: Array<Buffer> = [Buffer.from(valid[0])]
    for (const line of bad) lines.push(typeof line === "string" ? Buffer.from(line) : line)
    lines.push(Buffer.from(`\t${valid[1]}   `), Buffer.from(valid[2].toUpperCase()))
    fs.writeFileSync(path.join(dir, "in.txt"), Buffer.concat(lines.flatMap((line) => [line, Buffer.from("\n")])))
    const result = await runCli(["files", "in.txt", "-o", "out", "--tier", "premium", "--no-progress"], {
      env: { VT_API_KEY: key, VT_BASE_URL: server.url },
      cwd: dir
    })
    expect(result.code).toBe(0)
    expect(result.stderr).toContain(`invalid ${bad.length}, failed 0, requests 3`)
    for (let i = 0; i < bad.length; i++) expect(result.stderr).toContain(`line ${i + 2}: invalid hash`)
    expect(fileRequests().map((r) => r.id).sort()).toEqual([...valid].sort())
    expectStoreComplete(path.join(dir, "out"), valid)
    // Nothing but the store and the log was created.
    expect(fs.readdirSync(dir).sort()).toEqual(["in.txt", "log", "out"])
    // The console stays one short line per problem: no control characters, no megabyte echo.

    expect(result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
    expect(result.stderr.length).toBeLessThan(20_000)
  }, 120_000)

  it("never shows the key: stdout, stderr, text and JSON logs, stored files, errors", async () => {
    const dir = tempDir()
    const secret = "SECRET-KEY-7d2f0c9e41b8"
    server.update({ faults: { transient: 0.3 }, seed: 3 })
    const custom = await VtEmulator.start({ apiKeys: [secret], faults: { transient: 0.3, reset: 0.1 } })
    try {
      const ids = [...hashes(5, true, "secret"), ...hashes(2, false, "secret")]
      fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\nnot-a-hash\n")
      const outputs: Array<string> = []
      for (const format of ["text", "json"]) {
        const result = await runCli(
          [
            "files",
            "in.txt",
            "-o",
            "out",
            "--log-format",
            format,
            "--tier",
            "premium",
            "--retries",
            "1",
            "--overwrite"
          ],
          { env: { VT_API_KEY: secret, VT_BASE_URL: custom.url }, cwd: dir }
        )
        outputs.push(result.stdout, result.stderr)
      }
      const wrong = await runCli(["files", "in.txt", "-o", "out2"], {
        env: { VT_API_KEY: `${secret}-wrong`, VT_BASE_URL: custom.url },
        cwd: dir
      })
      expect(wrong.code).toBe(3)
      outputs.push(wrong.stdout, wrong.stderr)
      const walk = (p: string): Array<string> =>
        fs.statSync(p).isDirectory() ? fs.readdirSync(p).flatMap((name) => walk(path.join(p, name))) : [p]
      for (const file of walk(dir)) outputs.push(fs.readFileSync(file, "utf8"))
      expect(outputs.join("\n")).toContain("requesting")
      expect(outputs.join("\n")).not.toContain(secret)
      expect(JSON.stringify(custom.requests)).not.toContain(secret)
    } finally {
      await custom.close()
    }
  }, 120_000)
})

describe("reliability on S3", () => {
  it("survives 20 SIGKILLs over 1,000 ids into S3: every object complete, saved once", async () => {
    const bucket = "crash-bucket"
    const store = await startS3rver(bucket)
    try {
      const dir = tempDir()
      const ids = hashes(1000, true, "crash-s3")
      fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\n")
      server.update({ latencyMs: 3 })
      const concurrency = 8
      const args = [
        "files",
        "in.txt",
        "-o",
        `s3://${bucket}/runs/one`,
        "--tier",
        "premium",
        "--concurrency",
        String(concurrency),
        "--no-progress"
      ]
      const env = { VT_API_KEY: key, VT_BASE_URL: server.url, ...store.env }
      const kills = await killRepeatedly(args, env, dir)
      const final = await runCli(args, { env, cwd: dir })
      expect(final.code).toBe(0)
      expect(kills).toBeGreaterThanOrEqual(20)
      for (const id of ids) {
        const object = await store.client.send(new GetObjectCommand({ Bucket: bucket, Key: `runs/one/${id}.json` }))
        const body = Buffer.from(await object.Body!.transformToByteArray())
        expect(Buffer.compare(body, Buffer.from(VtEmulator.fileDocument(id)))).toBe(0)
      }
      // Nothing else under the prefix: s3rver keeps one "._S3rver_object" file per object.
      const objects = fs.readdirSync(path.join(store.directory, bucket, "runs", "one"))
        .filter((name) => name.endsWith("._S3rver_object"))
      expect(objects).toHaveLength(ids.length)
      const requested = fileRequests().map((r) => r.id)
      expect(new Set(requested).size).toBe(ids.length)
      expect(requested.length - ids.length).toBeLessThanOrEqual(kills * concurrency)
    } finally {
      await store.close()
    }
  }, 400_000)
})
