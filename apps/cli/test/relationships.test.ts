// files|urls|domains|ips --relationships a,b [--relationship-pages N|all], end to end: the built CLI against the
// emulator, requests counted in the emulator's own log.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { completeRecords, emulatorSuite, hashes, readJsonFiles, startCli, storeFiles, tempDir } from "./helpers.js"

const key = "relationships-test-key-4e7d21c9"
const suite = emulatorSuite(key, "relationships")

const harvest = (dir: string, args: ReadonlyArray<string>) => suite.run(dir, [...args])

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const readJson = (file: string): any => JSON.parse(fs.readFileSync(file, "utf8"))

const relationshipsOf = (file: string): Record<string, { data: Array<{ id: string }>; meta: { count: number } }> =>
  readJson(file).data.relationships

/** Every descriptor of a relationship, as the emulator's descriptors route serves them (40 a page). */
const allDescriptors = async (collection: string, id: string, name: string) => {
  const answer = await fetch(`${suite.server.url}/${collection}/${id}/relationships/${name}?limit=40`, {
    headers: { "x-apikey": key }
  })
  return ((await answer.json()) as { data: Array<unknown> }).data
}

const sha256Ids = (count: number) => hashes(count * 6, true, "rel").filter((id) => id.length === 64).slice(0, count)

describe("--relationships", () => {
  it("N ids with two relationships cost N requests; a rerun sends none; one more relationship fetches again", async () => {
    const dir = tempDir()
    const ids = sha256Ids(5)
    const unknown = hashes(1, false, "rel")
    fs.writeFileSync(path.join(dir, "in.txt"), [...ids, ...unknown].join("\n"))
    const first = await harvest(dir, ["files", "in.txt", "--relationships", "contacted_domains,comments"])
    expect(first.code).toBe(0)
    expect(first.stderr).toContain("summary: saved 5, not found 1, skipped 0, invalid 0, failed 0, requests 6")
    expect(suite.server.requests.map((r) => r.path).sort()).toEqual(
      [...ids, ...unknown].map((id) => `/api/v3/files/${id}`).sort()
    )
    const out = path.join(dir, "out")
    for (const id of ids) {
      const relationships = relationshipsOf(path.join(out, `${id}.json`))
      expect(Object.keys(relationships)).toEqual(["contacted_domains", "comments"])
      expect(relationships.contacted_domains.meta.count).toBe(
        VtEmulator.relationshipCount("files", id, "contacted_domains")
      )
      // The report as VirusTotal answers it: the plain report plus its relationships member.
      const { relationships: _, ...attributesAndAll } = readJson(path.join(out, `${id}.json`)).data
      expect(attributesAndAll).toEqual(JSON.parse(Buffer.from(VtEmulator.fileDocument(id)).toString("utf8")).data)
    }
    expect(fs.existsSync(path.join(out, "_relationships"))).toBe(false)

    suite.server.clearLog()
    const again = await harvest(dir, ["files", "in.txt", "--relationships", "comments,contacted_domains"])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 6, invalid 0, failed 0, requests 0")
    expect(suite.server.requests).toHaveLength(0)

    // Asking one relationship more: each saved report lacks it, so each is fetched again (one request) and replaced.
    const more = await harvest(dir, ["files", "in.txt", "--relationships", "contacted_domains,comments,dropped_files"])
    expect(more.code).toBe(0)
    expect(more.stderr).toContain("summary: saved 5, not found 0, skipped 1, invalid 0, failed 0, requests 5")
    expect(suite.server.requests).toHaveLength(5)
    for (const id of ids) {
      expect(Object.keys(relationshipsOf(path.join(out, `${id}.json`)))).toEqual([
        "contacted_domains",
        "comments",
        "dropped_files"
      ])
    }
    const log = fs.readdirSync(path.join(dir, "log")).sort().at(-1)!
    expect(fs.readFileSync(path.join(dir, "log", log), "utf8")).toContain(
      `the saved report of ${ids[0]} lacks relationships dropped_files`
    )
    // Without --relationships a saved report is a saved report, whatever it carries.
    suite.server.clearLog()
    const plain = await harvest(dir, ["files", "in.txt"])
    expect(plain.stderr).toContain("requests 0")
  })

  it("urls, domains and ips take it too, one request per id", async () => {
    const dir = tempDir()
    const url = Array.from({ length: 20 }, (_, i) => `https://rel-${i}.example.com/x`).find(VtEmulator.isKnownUrl)!
    const domain = Array.from({ length: 20 }, (_, i) => `rel-${i}.example.com`).find(VtEmulator.isKnown)!
    const ip = Array.from({ length: 40 }, (_, i) => `203.0.113.${i + 1}`).find(VtEmulator.isKnown)!
    fs.writeFileSync(path.join(dir, "urls.txt"), url)
    fs.writeFileSync(path.join(dir, "domains.txt"), domain)
    fs.writeFileSync(path.join(dir, "ips.txt"), ip)
    const urlKey = crypto.createHash("sha256").update(url).digest("hex")
    for (
      const [command, input, names, saved] of [
        ["urls", "urls.txt", "last_serving_ip_address,contacted_ips", urlKey],
        ["domains", "domains.txt", "resolutions,subdomains", domain],
        ["ips", "ips.txt", "resolutions", ip]
      ] as const
    ) {
      suite.server.clearLog()
      const result = await harvest(dir, [command, input, "--relationships", names])
      expect(result.code).toBe(0)
      expect(result.stderr).toContain("saved 1, not found 0, skipped 0, invalid 0, failed 0, requests 1")
      expect(Object.keys(relationshipsOf(path.join(dir, "out", `${saved}.json`)))).toEqual(names.split(","))
    }
  })

  it("--relationship-pages all follows each cursor, keeps the rest under _relationships/, and resumes", async () => {
    const dir = tempDir()
    const ids = sha256Ids(3)
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n"))
    const names = ["contacted_domains", "similar_files"]
    const args = ["files", "in.txt", "--relationships", names.join(","), "--relationship-pages", "all"]
    const result = await harvest(dir, args)
    expect(result.code).toBe(0)
    // One report request per id, plus one page of 40 per relationship holding more than the first 10 (all of them:
    // each holds 10 to 40).
    const further = ids.flatMap((id) =>
      names.filter((name) => VtEmulator.relationshipCount("files", id, name) > 10).map((name) => ({ id, name }))
    )
    expect(result.stderr).toContain(
      `saved 3, not found 0, skipped 0, invalid 0, failed 0, requests ${3 + further.length}`
    )
    const out = path.join(dir, "out")
    for (const id of ids) {
      const relationships = relationshipsOf(path.join(out, `${id}.json`))
      for (const name of names) {
        const file = path.join(out, "_relationships", name, `${id}.json`)
        const expected = await allDescriptors("files", id, name)
        if (VtEmulator.relationshipCount("files", id, name) <= 10) {
          expect(fs.existsSync(file)).toBe(false)
          continue
        }
        const rest = readJson(file)
        expect([...relationships[name].data, ...rest.data]).toEqual(expected)
        expect(rest.meta).toEqual({ pages: 1, count: expected.length })
      }
    }
    expect(readJsonFiles(path.join(out, "_relationships", names[0]))).toEqual(ids.map((id) => `${id}.json`).sort())

    suite.server.clearLog()
    const again = await harvest(dir, args)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 3, invalid 0, failed 0, requests 0")

    // A report whose further pages are gone (a run killed between them? a user's rm) is fetched again, pages too.
    fs.rmSync(path.join(out, "_relationships", names[0], `${ids[1]}.json`))
    const repaired = await harvest(dir, args)
    expect(repaired.stderr).toContain("saved 1, not found 0, skipped 2")
    expect(fs.existsSync(path.join(out, "_relationships", names[0], `${ids[1]}.json`))).toBe(true)
  })

  it("killed mid-run, nothing partial is kept and every saved report has its pages; the rerun asks only the rest", async () => {
    const dir = tempDir()
    const ids = sha256Ids(12)
    fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n"))
    const names = ["contacted_domains", "similar_files"]
    const args = ["files", "in.txt", "--relationships", names.join(","), "--relationship-pages", "all"]
    suite.server.update({ latencyMs: 100 })
    try {
      const { child, done } = startCli([
        ...args,
        "-o",
        "out",
        ...suite.fast(dir)
      ], { env: { VT_API_KEY: key }, cwd: dir })
      // Mid-item: after a report request and some of its pages.
      while (suite.server.requests.length < 8) await new Promise((resolve) => setTimeout(resolve, 10))
      child.kill("SIGTERM")
      const result = await done
      expect(result.code).toBe(143)
    } finally {
      suite.server.update({ latencyMs: 0 })
    }
    const out = path.join(dir, "out")
    const hidden = (dir: string): Array<string> =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? hidden(path.join(dir, entry.name)) : entry.name.startsWith(".") ? [entry.name] : []
      )
    expect(hidden(out)).toEqual([])
    const saved = readJsonFiles(out)
    expect(saved.length).toBeGreaterThan(0)
    expect(saved.length).toBeLessThan(ids.length)
    for (const name of saved) {
      for (const relationship of names) {
        if (VtEmulator.relationshipCount("files", name.replace(".json", ""), relationship) <= 10) continue
        expect(fs.existsSync(path.join(out, "_relationships", relationship, name))).toBe(true)
      }
    }
    suite.server.clearLog()
    const rerun = await harvest(dir, args)
    expect(rerun.code).toBe(0)
    expect(rerun.stderr).toContain(`saved ${ids.length - saved.length}, not found 0, skipped ${saved.length}`)
    const asked = new Set(suite.server.requests.map((r) => r.id))
    for (const name of saved) expect(asked.has(name.replace(".json", ""))).toBe(false)
  })

  for (
    const { command, names, pages, candidates } of [
      {
        command: "files",
        names: ["contacted_domains", "similar_files"],
        pages: "all",
        candidates: hashes(200, true, "relkill").filter((id) => id.length === 64)
      },
      {
        command: "domains",
        names: ["resolutions", "subdomains"],
        pages: "1",
        candidates: Array.from({ length: 200 }, (_, i) => `relkill-${i}.example.net`).filter(VtEmulator.isKnown)
      }
    ]
  ) {
    it(`${command} --relationship-pages ${pages}, SIGKILL between a page and its report: nothing partial; the rerun asks only the ids not saved, then nothing`, async () => {
      // Ids with further pages in both relationships: three requests each (the report, a page of each), in that order.
      const ids = candidates.filter((id) => names.every((name) => VtEmulator.relationshipCount(command, id, name) > 10))
        .slice(0, 6)
      const args = [command, "in.txt", "--relationships", names.join(","), "--relationship-pages", pages]
      const dir = suite.scratch()
      const reference = suite.scratch()
      for (const d of [dir, reference]) fs.writeFileSync(path.join(d, "in.txt"), ids.join("\n"))
      expect((await harvest(reference, args)).code).toBe(0)

      suite.server.clearLog()
      suite.server.update({ latencyMs: 300 })
      // Killed once the third id's second page is asked: its first page is kept, its report not yet.
      const killed = await suite.killedWhen(dir, args, () => suite.server.requests.length >= 9)
      suite.server.update({ latencyMs: 0 })
      expect(killed.signal).toBe("SIGKILL")
      const out = path.join(dir, "out")
      const left = completeRecords(out)
      expect([...left.keys()].filter((name) => !name.includes(path.sep))).toEqual(
        ids.slice(0, 2).map((id) => `${id}.json`).sort()
      )
      expect(left.has(path.join("_relationships", names[0], `${ids[2]}.json`))).toBe(true)
      const expected = completeRecords(path.join(reference, "out"))
      for (const [name, bytes] of left) expect(Buffer.compare(bytes, expected.get(name)!), name).toBe(0)

      suite.server.clearLog()
      const rerun = await harvest(dir, args)
      expect(rerun.code, rerun.stderr).toBe(0)
      expect(rerun.stderr).toContain("summary: saved 4, not found 0, skipped 2, invalid 0, failed 0, requests 12")
      // Nothing for an id saved; the one killed mid-way is asked again whole: its report, then its pages from that.
      const asked = (id: string) => suite.server.requests.filter((r) => r.id === id).map((r) => r.path)
      for (const id of ids.slice(0, 2)) expect(asked(id)).toEqual([])
      for (const id of ids.slice(2)) {
        expect(asked(id)).toEqual([
          `/api/v3/${command}/${id}`,
          ...names.map((name) => `/api/v3/${command}/${id}/relationships/${name}`)
        ])
      }
      const resumed = completeRecords(out)
      expect([...resumed.keys()]).toEqual([...expected.keys()])
      for (const [name, bytes] of resumed) expect(Buffer.compare(bytes, expected.get(name)!), name).toBe(0)
      expect(storeFiles(out).temporaries).toEqual([])

      suite.server.clearLog()
      const again = await harvest(dir, args)
      expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 6, invalid 0, failed 0, requests 0")
      expect(suite.server.requests).toHaveLength(0)
    })
  }

  it("unusable names or page counts exit 2 before anything is sent; no link is followed out of --out", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), sha256Ids(1).join("\n"))
    for (
      const extra of [
        ["--relationships", "../etc"],
        ["--relationships", "Contacted_Domains"],
        ["--relationships", ","],
        ["--relationship-pages", "all"],
        ["--relationships", "comments", "--relationship-pages", "0"],
        ["--relationships", "comments", "--relationship-pages", "some"]
      ]
    ) {
      const result = await harvest(dir, ["files", "in.txt", ...extra])
      expect(result.code, extra.join(" ")).toBe(2)
      expect(result.stderr).toMatch(/--relationship/)
    }
    const elsewhere = tempDir()
    fs.mkdirSync(path.join(dir, "out"), { recursive: true })
    fs.symlinkSync(elsewhere, path.join(dir, "out", "_relationships"))
    const linked = await harvest(dir, [
      "files",
      "in.txt",
      "--relationships",
      "comments",
      "--relationship-pages",
      "1"
    ])
    expect(linked.code).toBe(2)
    expect(linked.stderr).toContain(`refusing ${path.join(dir, "out", "_relationships")}: a symbolic link`)
    expect(fs.readdirSync(elsewhere)).toEqual([])
    expect(suite.server.requests).toHaveLength(0)
  })
})
