// A server that never stops handing out pages, end to end on the built CLI: a relationship followed to its end
// (--relationship-pages all) and every comment of an object are gathered into one record each, in memory until
// kept; each stops at the most one record holds, says so, and keeps what it has.
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hashes, runCli, tempDir } from "./helpers.js"

const key = "endless-test-key-7d2f"
const [hash] = hashes(1, true, "endless")
const cycling = "c1".repeat(32)
let server: http.Server
let url: string
const requests: Array<string> = []
/** What a test does as the server is about to answer the report of an id (before its pages are asked). */
let beforeReport: ((id: string) => void) | undefined

// Pages of 40 descriptors of about 10 KB each (400 KB a page), each naming a new cursor: 16 MiB in about 42 pages.
const page = (cursor: number) =>
  JSON.stringify({
    data: Array.from({ length: 40 }, (_, i) => ({
      type: "domain",
      id: `d${cursor}-${i}.example`,
      context_attributes: { padding: "x".repeat(10_000) }
    })),
    meta: { cursor: `c${cursor + 1}` }
  })

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const target = new URL(request.url ?? "/", "http://x")
    requests.push(target.pathname)
    const cursor = Number((target.searchParams.get("cursor") ?? "c0").slice(1))
    const send = (body: string) => {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(body)
    }
    if (target.pathname.includes(`/files/${cycling}/relationships/`)) {
      // c1 → c2 → c1: a cycle.
      return send(JSON.stringify({
        data: [{ type: "domain", id: `c${cursor}.example` }],
        meta: { cursor: cursor === 1 ? "c2" : "c1" }
      }))
    }
    if (target.pathname.endsWith(`/files/${hash}`) || target.pathname.endsWith(`/files/${cycling}`)) {
      const id = target.pathname.endsWith(hash!) ? hash : cycling
      beforeReport?.(id!)
      return send(JSON.stringify({
        data: {
          type: "file",
          id,
          attributes: {},
          relationships: { contacted_domains: { data: [{ type: "domain", id: "a.example" }], meta: { cursor: "c1" } } }
        }
      }))
    }
    if (target.pathname.endsWith("/intelligence/search") && target.searchParams.get("query") === "odd ids") {
      return send(JSON.stringify({
        data: ["#" + "c".repeat(32), "d".repeat(64)].map((id) => ({ type: "file", id, attributes: {} }))
      }))
    }
    if (target.pathname.endsWith("/intelligence/search")) {
      // Page 1 → page 2 → a new cursor whose page is page 1 again.
      const second = target.searchParams.get("cursor") === "s1"
      return send(JSON.stringify({
        data: [{ type: "file", id: second ? "b".repeat(64) : "a".repeat(64), attributes: {} }],
        meta: { cursor: second ? "s2" : "s1" }
      }))
    }
    if (target.pathname.includes("/relationships/")) return send(page(cursor))
    if (target.pathname.endsWith("/comments")) {
      return send(JSON.stringify({
        data: Array.from({ length: 40 }, (_, i) => ({
          type: "comment",
          id: `f-${cursor}-${i}`,
          attributes: { text: "y".repeat(10_000) }
        })),
        meta: { cursor: `c${cursor + 1}` }
      }))
    }
    if (target.pathname.endsWith("/votes")) {
      // One small vote a page, 1 MiB of something else, and a new cursor: the votes never fill a record, the pages
      // never end.
      return send(JSON.stringify({
        data: [{ type: "vote", id: `v-${cursor}`, attributes: { verdict: "harmless" } }],
        meta: { cursor: `c${cursor + 1}`, padding: "z".repeat(1024 * 1024) }
      }))
    }
    response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const run = (dir: string, args: ReadonlyArray<string>) =>
  runCli([
    ...args,
    "-o",
    "out",
    "--log-dir",
    "log",
    "--base-url",
    url,
    "--tier",
    "premium",
    "--no-quota-probe",
    "--no-progress"
  ], { env: { VT_API_KEY: key }, cwd: dir })

/** The same command again: the record is kept, so it is skipped and nothing is asked. */
const rerunAsksNothing = async (dir: string, args: ReadonlyArray<string>) => {
  requests.length = 0
  const again = await run(dir, args)
  expect(again.code, again.stderr).toBe(0)
  expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 1")
  expect(requests).toEqual([])
}

describe("a server that never stops handing out pages", () => {
  it("--relationship-pages all keeps 16 MiB of pages, says so, and a rerun does not fetch them again", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), `${hash}\n`)
    requests.length = 0
    const args = ["files", "in.txt", "--relationships", "contacted_domains", "--relationship-pages", "all"]
    const result = await run(dir, args)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("summary: saved 1")
    expect(result.stderr).toContain("kept the first")
    const pages = requests.filter((p) => p.includes("/relationships/")).length
    expect(pages).toBeGreaterThan(30)
    expect(pages).toBeLessThan(60)
    const record = JSON.parse(
      fs.readFileSync(path.join(dir, "out", "_relationships", "contacted_domains", `${hash}.json`), "utf8")
    ) as { data: Array<unknown>; meta: { pages: number; cursor: string; truncated: boolean } }
    expect(record.meta.truncated).toBe(true)
    expect(record.meta.pages).toBe(pages)
    expect(record.meta.cursor).toBe(`c${pages + 1}`)
    expect(record.data).toHaveLength(40 * pages)

    await rerunAsksNothing(dir, args)
  })

  it("a relationship whose cursors go round ends at the repeat, kept as truncated: a rerun asks nothing", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), `${cycling}\n`)
    requests.length = 0
    const args = ["files", "in.txt", "--relationships", "contacted_domains", "--relationship-pages", "all"]
    const result = await run(dir, args)
    expect(result.code, result.stderr).toBe(0)
    expect(requests.filter((p) => p.includes("/relationships/"))).toHaveLength(2)
    const said = `contacted_domains of ${cycling}: the server's next page leads back to one already read; stopped there`
    expect(result.stderr).toContain(said)
    expect(fs.readdirSync(path.join(dir, "log")).map((f) => fs.readFileSync(path.join(dir, "log", f), "utf8")).join(""))
      .toContain(said)
    const record = JSON.parse(
      fs.readFileSync(path.join(dir, "out", "_relationships", "contacted_domains", `${cycling}.json`), "utf8")
    ) as { meta: { pages: number; truncated: boolean } }
    expect(record.meta.pages).toBe(2)
    expect(record.meta.truncated).toBe(true)
    await rerunAsksNothing(dir, args)
  })

  it("a link put in place of _relationships mid-run: the next page is not written through it, the run stops", async () => {
    const dir = tempDir()
    const outside = path.join(dir, "outside")
    // Laid out as the store would be, so that a write that follows the link finds its directories.
    fs.mkdirSync(path.join(outside, "contacted_domains", "_not_found"), { recursive: true })
    fs.writeFileSync(path.join(dir, "in.txt"), `${cycling}\n${hash}\n`)
    const relationships = path.join(dir, "out", "_relationships")
    beforeReport = (id) => {
      if (id !== hash) return
      fs.renameSync(relationships, path.join(dir, "moved"))
      fs.symlinkSync(outside, relationships)
    }
    try {
      const result = await run(dir, [
        "files",
        "in.txt",
        "--relationships",
        "contacted_domains",
        "--relationship-pages",
        "2",
        "--concurrency",
        "1"
      ])
      expect(result.code, result.stderr).toBe(1)
      expect(result.stderr).toContain(`refusing ${relationships}: a symbolic link`)
      expect(fs.readdirSync(path.join(outside, "contacted_domains"))).toEqual(["_not_found"])
      // The first id's pages were kept before the link came.
      expect(fs.readdirSync(path.join(dir, "moved", "contacted_domains"))).toContain(`${cycling}.json`)
    } finally {
      beforeReport = undefined
    }
  })

  it("votes on pages of one small item in 1 MiB each: paging stops after 32 MiB of pages, what came is kept", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), `${hash}\n`)
    requests.length = 0
    const result = await run(dir, ["votes", "files", "in.txt"])
    expect(result.code, result.stderr).toBe(0)
    const pages = requests.filter((p) => p.endsWith("/votes")).length
    expect(pages).toBeGreaterThanOrEqual(32)
    expect(pages).toBeLessThanOrEqual(33)
    const record = JSON.parse(fs.readFileSync(path.join(dir, "out", "_votes", `${hash}.json`), "utf8")) as {
      data: Array<unknown>
    }
    expect(record.data).toHaveLength(pages)
    // Said, where the rest of the votes were left.
    const said = `votes of ${hash}: stopped after 32 MiB of pages; the rest is not fetched`
    expect(result.stderr).toContain(said)
    expect(fs.readdirSync(path.join(dir, "log")).map((f) => fs.readFileSync(path.join(dir, "log", f), "utf8")).join(""))
      .toContain(said)
  })

  it("search whose next page leads back to the first: every id printed once, and said", async () => {
    const dir = tempDir()
    requests.length = 0
    const result = await runCli(
      ["search", "p:5+", "--base-url", url, "--tier", "premium", "--no-quota-probe", "--no-progress"],
      { env: { VT_API_KEY: key }, cwd: dir }
    )
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe(`${"a".repeat(64)}\n${"b".repeat(64)}\n`)
    expect(requests).toHaveLength(3)
    expect(result.stderr).toContain("the server's next page leads back to one already read; stopped there")
  })

  it("search prints no line that `files -` would take for a comment: such an id is skipped and said", async () => {
    const result = await runCli(
      ["search", "odd ids", "--base-url", url, "--tier", "premium", "--no-quota-probe", "--no-progress"],
      { env: { VT_API_KEY: key }, cwd: tempDir() }
    )
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe(`${"d".repeat(64)}\n`)
    expect(result.stderr).toContain(
      `skipped a "file" object whose id "#${"c".repeat(32)}" starts with #, which a list of ids reads as a comment`
    )
  })

  it("comments without --limit keeps 16 MiB of comments and says so", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), `${hash}\n`)
    requests.length = 0
    const result = await run(dir, ["comments", "files", "in.txt"])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("kept the first")
    const pages = requests.filter((p) => p.endsWith("/comments")).length
    expect(pages).toBeLessThan(60)
    const record = JSON.parse(fs.readFileSync(path.join(dir, "out", "_comments", `${hash}.json`), "utf8")) as {
      data: Array<unknown>
      meta: { count: number }
    }
    expect(record.data.length).toBe(record.meta.count)
    expect(record.data.length).toBeLessThanOrEqual(40 * pages)
  })
})
