// Several CLI processes on one key: the quota ledger and the claims shared through PostgreSQL (--quota-store), and
// --shard. The scenario of the README: 4 processes, one list of 400 ids, a key allowed 60 requests a minute.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Postgres from "../../../packages/report-sink-pg/test/postgres.js"
import { hashes, runCli, startCli, tempDir } from "./helpers.js"

let database: Postgres.Server
const emulators: Array<VtEmulator.Server> = []

beforeAll(async () => {
  database = await Postgres.start()
}, 120_000)
afterAll(async () => {
  for (const server of emulators) server.close()
  await database?.stop()
})

/** A database of its own on the test server, by URL. */
const freshDatabase = async (name: string): Promise<string> => {
  const client = new pg.Client({ connectionString: database.url })
  await client.connect()
  await client.query(`CREATE DATABASE ${name}`)
  await client.end()
  return database.url.replace(/\/postgres$/, `/${name}`)
}

const sql = async <R extends pg.QueryResultRow>(url: string, text: string): Promise<Array<R>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text)).rows
  } finally {
    await client.end()
  }
}

const emulator = async (key: string, options: Partial<VtEmulator.Options> = {}) => {
  const server = await VtEmulator.start({ apiKeys: [key], ...options })
  emulators.push(server)
  return server
}

/** How often each id of `/files/{id}` was requested. */
const requestsById = (server: VtEmulator.Server): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const r of server.requests) {
    if (r.path.includes("/files/") && r.id !== undefined) counts.set(r.id, (counts.get(r.id) ?? 0) + 1)
  }
  return counts
}

const refusals = (server: VtEmulator.Server) => server.requests.filter((r) => r.status === 429).length

const list = (tag: string) => {
  const ids = [...hashes(300, true, tag), ...hashes(100, false, tag)]
  const dir = tempDir()
  fs.writeFileSync(path.join(dir, "ids.txt"), ids.join("\n") + "\n")
  return { dir, ids }
}

describe("--quota-store postgres:// (4 processes, one key allowed 60 a minute, 400 ids)", () => {
  const args = (server: VtEmulator.Server, url: string) => [
    "files",
    "ids.txt",
    "--out",
    url,
    "--quota-store",
    url,
    "--base-url",
    server.url,
    "--tier",
    "premium",
    "--per-minute",
    "60",
    "--concurrency",
    "4",
    "--no-progress"
  ]

  it.concurrent("together they keep the key's minute: 0 × 429, each id requested once, all saved", async () => {
    const key = "shared-ledger-key-all-4"
    const server = await emulator(key, { perMinute: 60 })
    const url = await freshDatabase("shared_all")
    const { dir, ids } = list("shared-all")
    const workers = Array.from({ length: 4 }, () => startCli(args(server, url), { env: { VT_API_KEY: key }, cwd: dir }))
    const results = await Promise.all(workers.map((w) => w.done))
    for (const result of results) expect(result.code, result.stderr).toBe(0)
    expect(refusals(server)).toBe(0)
    const counts = requestsById(server)
    expect(counts.size).toBe(400)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    const rows = await sql<{ kind: string; n: string }>(
      url,
      "SELECT kind, count(*) AS n FROM vt_harvest.reports GROUP BY kind ORDER BY kind"
    )
    expect(rows.map((r) => [r.kind, Number(r.n)])).toEqual([["not-found", 100], ["saved", 300]])
    // Every process says how many it started; together, one per id.
    const started = results.map((r) => Number(/requests (\d+)/.exec(r.stderr)?.[1]))
    expect(started.reduce((a, b) => a + b, 0)).toBe(400)
    // Never more than 60 starts in any minute, whoever sent them.
    const times = server.requests.filter((r) => r.path.includes("/files/")).map((r) => r.at).sort((a, b) => a - b)
    for (let i = 60; i < times.length; i++) expect(times[i]! - times[i - 60]!).toBeGreaterThanOrEqual(59_000)
    // The ids requested are the list's, each of them.
    expect([...counts.keys()].sort()).toEqual([...ids].sort())

    // A rerun sends nothing.
    const again = await runCli(args(server, url), { env: { VT_API_KEY: key }, cwd: dir })
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("requests 0")
    expect(requestsById(server).size).toBe(400)
  }, 900_000)

  it.concurrent("one of them killed mid-run (SIGKILL): its claims are taken over, nothing lost", async () => {
    const key = "shared-ledger-key-killed"
    const server = await emulator(key, { perMinute: 60 })
    const url = await freshDatabase("shared_killed")
    const { dir } = list("shared-killed")
    const workers = Array.from({ length: 4 }, () => startCli(args(server, url), { env: { VT_API_KEY: key }, cwd: dir }))
    await new Promise((resolve) => setTimeout(resolve, 60_000))
    workers[0]!.child.kill("SIGKILL")
    const results = await Promise.all(workers.map((w) => w.done))
    expect(results[0]!.signal).toBe("SIGKILL")
    for (const result of results.slice(1)) expect(result.code, result.stderr).toBe(0)
    expect(refusals(server)).toBe(0)
    const counts = requestsById(server)
    expect(counts.size).toBe(400)
    // Only the ids the killed process had in flight (at most its concurrency) were requested again.
    const twice = [...counts.values()].filter((n) => n > 1)
    expect(twice.every((n) => n === 2)).toBe(true)
    expect(twice.length).toBeLessThanOrEqual(4)
    const rows = await sql<{ n: string }>(url, "SELECT count(*) AS n FROM vt_harvest.reports")
    expect(Number(rows[0]!.n)).toBe(400)
    // Nobody's claims are left behind by the processes that ended.
    const left = await sql<{ owner: string }>(url, "SELECT DISTINCT owner FROM vt_harvest.claims")
    expect(left.length).toBeLessThanOrEqual(1)
    const tookOver = results.slice(1).some((r) => /took over .* whose claim expired/.test(r.stderr))
    expect(tookOver || twice.length === 0).toBe(true)
  }, 900_000)
})

describe("--quota-store and --out naming one database in other words", () => {
  it("with and without the password in it, postgres:// and postgresql://: each id requested once", async () => {
    const key = "shared-ledger-key-spellings"
    const server = await emulator(key)
    const url = await freshDatabase("shared_spellings")
    const bare = url.replace(/^postgres:\/\/postgres:[^@]*@/, "postgresql://postgres@")
    expect(bare).not.toContain(database.password)
    const ids = hashes(60, true, "spellings")
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "ids.txt"), ids.join("\n") + "\n")
    const args = (store: string) => [
      "files",
      "ids.txt",
      ...["--out", store, "--quota-store", store, "--base-url", server.url, "--tier", "premium"],
      ...["--per-minute", "1200", "--concurrency", "2", "--no-progress"]
    ]
    const workers = [
      startCli(args(url), { env: { VT_API_KEY: key }, cwd: dir }),
      startCli(args(bare), { env: { VT_API_KEY: key, PGPASSWORD: database.password }, cwd: dir })
    ]
    const results = await Promise.all(workers.map((w) => w.done))
    for (const result of results) expect(result.code, result.stderr).toBe(0)
    const counts = requestsById(server)
    expect(counts.size).toBe(60)
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([])
  }, 120_000)
})

describe("--shard i/n", () => {
  it("splits one list into n parts that together hold every id once; a bad shard is exit 2", async () => {
    const key = "shard-key"
    const server = await emulator(key)
    const { dir, ids } = list("shard")
    const out = path.join(dir, "out")
    const common = ["files", "ids.txt", "-o", out, "--base-url", server.url, "--per-minute", "60000", "--no-progress"]
    const results = await Promise.all(
      [1, 2, 3].map((i) => runCli([...common, "--shard", `${i}/3`], { env: { VT_API_KEY: key }, cwd: dir }))
    )
    for (const result of results) expect(result.code, result.stderr).toBe(0)
    const counts = requestsById(server)
    expect(counts.size).toBe(ids.length)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    const started = results.map((r) => Number(/requests (\d+)/.exec(r.stderr)?.[1]))
    expect(started.reduce((a, b) => a + b, 0)).toBe(ids.length)
    // Each part is a real share, not all or nothing.
    for (const n of started) expect(n).toBeGreaterThan(ids.length / 6)
    for (const bad of ["0/3", "4/3", "1/0", "a/b", "1"]) {
      const result = await runCli([...common, "--shard", bad], { env: { VT_API_KEY: key }, cwd: dir })
      expect(result.code, bad).toBe(2)
      expect(result.stderr).toContain("--shard takes i/n")
    }
  }, 120_000)

  it(
    "--quota-store that is not a postgres:// URL, or a database that cannot be reached: exit 2, nothing sent",
    async () => {
      const key = "quota-store-bad"
      const server = await emulator(key)
      const { dir } = list("bad-store")
      const common = ["files", "ids.txt", "-o", "out", "--base-url", server.url, "--no-progress"]
      const notPg = await runCli([...common, "--quota-store", "/tmp/ledger"], { env: { VT_API_KEY: key }, cwd: dir })
      expect(notPg.code).toBe(2)
      expect(notPg.stderr).toContain("--quota-store must name a PostgreSQL database")
      const closed = await runCli([...common, "--quota-store", "postgres://u:secret-pw@127.0.0.1:1/x"], {
        env: { VT_API_KEY: key },
        cwd: dir
      })
      expect(closed.code).toBe(2)
      expect(closed.stderr).toContain("cannot use --quota-store postgres://u:***@127.0.0.1:1/x")
      expect(closed.stderr).not.toContain("secret-pw")
      expect(server.requests.filter((r) => r.path.includes("/files/")).length).toBe(0)
    },
    120_000
  )
})
