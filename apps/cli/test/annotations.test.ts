// comments|votes <kind> <input>, comment add and vote add, end to end: the built CLI against the emulator, requests
// counted in the emulator's own log.
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { completeRecords, emulatorSuite, hashes, readJsonFiles, runCli, storeFiles } from "./helpers.js"

const key = "annotations-test-key-5c1e09a7"
const suite = emulatorSuite(key, "annotations")

const limits = ["--per-minute", "60000", "--no-quota-probe"]

const harvest = (dir: string, args: ReadonlyArray<string>) =>
  runCli([
    ...args,
    "-o",
    path.join(dir, "out"),
    "--log-dir",
    path.join(dir, "log"),
    "--base-url",
    suite.server.url,
    ...limits,
    "--no-progress"
  ], { env: { VT_API_KEY: key }, cwd: dir })

const post = (args: ReadonlyArray<string>, apiKey = key) =>
  runCli([...args, "--base-url", suite.server.url, "--per-minute", "60000"], { env: { VT_API_KEY: apiKey } })

/** What the emulator holds for an object, asked directly (not through the CLI, not logged as the CLI's). */
const served = async (collection: string, id: string, what: "comments" | "votes") => {
  const response = await fetch(`${suite.server.url}/${collection}/${id}/${what}?limit=40`, {
    headers: { "x-apikey": key }
  })
  return (await response.json()) as { data: Array<{ id: string }>; meta: { count: number } }
}

const readStored = (file: string) =>
  JSON.parse(fs.readFileSync(file, "utf8")) as { data: Array<{ id: string; type: string }>; meta: { count: number } }

describe("comments and votes harvests", () => {
  it("comments files: N ids with one page each cost N requests, an unknown id is recorded, a rerun sends 0", async () => {
    const dir = suite.scratch()
    const known = hashes(3, true, "com")
    const unknown = hashes(1, false, "com")
    fs.writeFileSync(path.join(dir, "in.txt"), [...known, ...unknown, known[0]].join("\n"))
    const expected = await Promise.all(known.map((id) => served("files", id, "comments")))
    suite.server.clearLog()

    const first = await harvest(dir, ["comments", "files", "in.txt"])
    expect(first.code).toBe(0)
    expect(first.stderr).toContain("summary: saved 3, not found 1, skipped 1, invalid 0, failed 0, requests 4")
    expect(suite.server.requests).toHaveLength(4)
    expect(suite.server.requests.every((r) => r.method === "GET" && r.path.endsWith("/comments"))).toBe(true)
    const store = path.join(dir, "out", "_comments")
    expect(readJsonFiles(store)).toEqual(known.map((id) => `${id}.json`).sort())
    for (const [i, id] of known.entries()) {
      const stored = readStored(path.join(store, `${id}.json`))
      expect(stored.meta.count).toBe(expected[i]!.meta.count)
      expect(stored.data.map((c) => c.id)).toEqual(expected[i]!.data.map((c) => c.id))
      expect(stored.data.every((c) => c.type === "comment")).toBe(true)
    }
    expect(readJsonFiles(path.join(store, "_not_found"))).toEqual([`${unknown[0]}.json`])
    // Nothing is written beside the store: --out holds only _comments.
    expect(fs.readdirSync(path.join(dir, "out"))).toEqual(["_comments"])

    suite.server.clearLog()
    const again = await harvest(dir, ["comments", "files", "in.txt"])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 5, invalid 0, failed 0, requests 0")
    expect(suite.server.requests).toHaveLength(0)
  })

  it("comments --limit 2 keeps at most 2 items per id, one request each", async () => {
    const dir = suite.scratch()
    const known = hashes(2, true, "lim")
    fs.writeFileSync(path.join(dir, "in.txt"), known.join("\n"))
    const result = await harvest(dir, ["comments", "files", "in.txt", "--limit", "2"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("summary: saved 2, not found 0, skipped 0, invalid 0, failed 0, requests 2")
    for (const id of known) {
      const stored = readStored(path.join(dir, "out", "_comments", `${id}.json`))
      expect(stored.data).toHaveLength(2)
      expect(stored.meta.count).toBe(2)
    }
    const bad = await harvest(dir, ["comments", "files", "in.txt", "--limit", "0"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--limit must be a whole number from 1")
  })

  it("votes domains: the votes of each domain under _votes/, one request each, a rerun sends 0", async () => {
    const dir = suite.scratch()
    // Two domains the emulator knows (it answers 404 for some names, as VirusTotal does).
    const domains: Array<string> = []
    for (let i = 0; domains.length < 2; i++) {
      const name = `votes-${i}.example.com`
      const answer = await fetch(`${suite.server.url}/domains/${name}`, { headers: { "x-apikey": key } })
      if (answer.status === 200) domains.push(name)
    }
    fs.writeFileSync(path.join(dir, "in.txt"), domains.join("\n"))
    const expected = await Promise.all(domains.map((d) => served("domains", d, "votes")))
    suite.server.clearLog()
    const result = await harvest(dir, ["votes", "domains", "in.txt"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("summary: saved 2, not found 0, skipped 0, invalid 0, failed 0, requests 2")
    for (const [i, domain] of domains.entries()) {
      const stored = readStored(path.join(dir, "out", "_votes", `${domain}.json`))
      expect(stored.meta.count).toBe(expected[i]!.meta.count)
      expect(stored.data.every((v) => v.type === "vote")).toBe(true)
    }
    suite.server.clearLog()
    const again = await harvest(dir, ["votes", "domains", "in.txt"])
    expect(again.stderr).toContain("requests 0")
    expect(suite.server.requests).toHaveLength(0)
  })
})

describe("comments and votes killed mid-run", () => {
  for (const [command, directory] of [["comments", "_comments"], ["votes", "_votes"]] as const) {
    it(`${command} files, SIGKILL mid-run: nothing partial; the rerun asks only the ids not kept, then nothing`, async () => {
      const known = hashes(4, true, `${command}-kill`)
      const [unknown] = hashes(1, false, `${command}-kill`)
      const ids = [known[0], unknown, known[1], known[2], known[3]]
      const args = [command, "files", "in.txt"]
      const dir = suite.scratch()
      const reference = suite.scratch()
      for (const d of [dir, reference]) fs.writeFileSync(path.join(d, "in.txt"), ids.join("\n"))
      expect((await suite.run(reference, args)).code).toBe(0)

      suite.server.clearLog()
      suite.server.update({ latencyMs: 300 })
      // Killed while the third id's items are asked: the first kept, the second recorded as not found.
      const killed = await suite.killedWhen(dir, args, () => suite.server.requests.length >= 3)
      suite.server.update({ latencyMs: 0 })
      expect(killed.signal).toBe("SIGKILL")
      const out = path.join(dir, "out")
      const left = completeRecords(out)
      expect([...left.keys()]).toEqual(
        [path.join(directory, `${known[0]}.json`), path.join(directory, "_not_found", `${unknown}.json`)].sort()
      )
      const expected = completeRecords(path.join(reference, "out"))
      for (const [name, bytes] of left) expect(Buffer.compare(bytes, expected.get(name)!), name).toBe(0)

      suite.server.clearLog()
      const rerun = await suite.run(dir, args)
      expect(rerun.code, rerun.stderr).toBe(0)
      expect(rerun.stderr).toContain("summary: saved 3, not found 0, skipped 2, invalid 0, failed 0, requests 3")
      expect(suite.server.requests.map((r) => r.id)).toEqual(known.slice(1))
      const resumed = completeRecords(out)
      expect([...resumed.keys()]).toEqual([...expected.keys()])
      for (const [name, bytes] of resumed) expect(Buffer.compare(bytes, expected.get(name)!), name).toBe(0)
      expect(storeFiles(out).temporaries).toEqual([])

      suite.server.clearLog()
      const again = await suite.run(dir, args)
      expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 5, invalid 0, failed 0, requests 0")
      expect(suite.server.requests).toHaveLength(0)
    })
  }
})

describe("comment add and vote add", () => {
  it("comment add posts once and prints the new comment's id, which a harvest then finds", async () => {
    const [hash] = hashes(1, true, "post")
    const result = await post(["comment", "add", "files", hash!, "seen in a phishing kit #phishing"])
    expect(result.code).toBe(0)
    const id = result.stdout.trim()
    expect(id).toMatch(/^f-/)
    expect(suite.server.requests).toHaveLength(1)
    expect(suite.server.requests[0]!.method).toBe("POST")
    expect((await served("files", hash!, "comments")).data.map((c) => c.id)).toContain(id)
  })

  it("vote add: the first vote prints its id, a second one is reported as already voted (exit 1), not retried", async () => {
    const first = await post(["vote", "add", "urls", "https://example.com/vote-test", "malicious"])
    expect(first.code).toBe(0)
    expect(first.stdout.trim()).not.toBe("")
    suite.server.clearLog()
    const second = await post(["vote", "add", "urls", "https://example.com/vote-test", "harmless"])
    expect(second.code).toBe(1)
    expect(second.stderr).toContain("already voted")
    expect(second.stdout).toBe("")
    expect(suite.server.requests).toHaveLength(1)
    expect(suite.server.requests[0]!.status).toBe(409)
  })

  it("the id a server answers is printed with its control characters escaped, never raw (OSC, CSI, C1)", async () => {
    const hostile = "c-\u001b]0;PWNED\u0007\u001b[31mred\u009b2J\u0085"
    const server = http.createServer((request, response) => {
      request.resume()
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ data: { type: "comment", id: hostile, attributes: { text: "x" } } }))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3`
      const [hash] = hashes(1, true, "post-hostile")
      const result = await runCli(["comment", "add", "files", hash!, "text", "--base-url", url], {
        env: { VT_API_KEY: key }
      })
      expect(result.code).toBe(0)
      expect(result.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
      expect(result.stdout.trim()).toBe("c-\\u001b]0;PWNED\\u0007\\u001b[31mred\\u009b2J\\u0085")
    } finally {
      server.close()
    }
  })

  it("a refused key is exit 3, an invalid id exit 2 with nothing sent", async () => {
    const refused = await post(["vote", "add", "domains", "example.com", "harmless"], "not-a-key")
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain("the API key was refused")
    expect(suite.server.requests).toHaveLength(1)
    suite.server.clearLog()
    const invalid = await post(["comment", "add", "files", "not-a-hash", "text"])
    expect(invalid.code).toBe(2)
    expect(suite.server.requests).toHaveLength(0)
    const [hash] = hashes(1, true, "post-empty")
    const empty = await post(["comment", "add", "files", hash!, "  "])
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain("the comment is empty; nothing was sent")
    expect(suite.server.requests).toHaveLength(0)
  })
})
