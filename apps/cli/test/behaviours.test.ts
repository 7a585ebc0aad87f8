// files --behaviour summary|mitre|all, end to end: the built CLI against the emulator, requests counted in the
// emulator's own log.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { completeRecords, emulatorSuite, hashes, readJsonFiles, runCli, storeFiles, tempDir } from "./helpers.js"

const key = "behaviours-test-key-8b2f60d1"
const suite = emulatorSuite(key, "behaviours")

const files = (dir: string, args: ReadonlyArray<string>) => suite.run(dir, ["files", "in.txt", ...args])

const served = async (id: string, endpoint: string) =>
  Buffer.from(
    await (await fetch(`${suite.server.url}/files/${id}/${endpoint}`, { headers: { "x-apikey": key } })).arrayBuffer()
  )

const paths = () => suite.server.requests.map((r) => r.path.replace("/api/v3/files/", "")).sort()

describe("files --behaviour", () => {
  it("keeps the summary and the MITRE trees of each known file, resumes, and asks only what a saved one lacks", async () => {
    const dir = tempDir()
    const known = hashes(3, true, "beh")
    const unknown = hashes(1, false, "beh")
    fs.writeFileSync(path.join(dir, "in.txt"), [...known, ...unknown].join("\n"))
    const out = path.join(dir, "out")

    // Reports only, first: then the behaviours alone are fetched for reports already saved.
    const plain = await files(dir, [])
    expect(plain.stderr).toContain("summary: saved 3, not found 1, skipped 0, invalid 0, failed 0, requests 4")
    suite.server.clearLog()
    const summaries = await files(dir, ["--behaviour", "summary"])
    expect(summaries.code).toBe(0)
    expect(summaries.stderr).toContain("summary: saved 3, not found 0, skipped 1, invalid 0, failed 0, requests 3")
    expect(paths()).toEqual(known.map((id) => `${id}/behaviour_summary`).sort())
    for (const id of known) {
      expect(
        Buffer.compare(
          fs.readFileSync(path.join(out, "_behaviours", "summary", `${id}.json`)),
          await served(id, "behaviour_summary")
        )
      )
        .toBe(0)
    }

    // --behaviour all on a fresh store: the report and both parts, three requests per known file, one per unknown.
    const fresh = tempDir()
    fs.writeFileSync(path.join(fresh, "in.txt"), [...known, ...unknown].join("\n"))
    suite.server.clearLog()
    const all = await files(fresh, ["--behaviour", "all"])
    expect(all.code).toBe(0)
    expect(all.stderr).toContain("summary: saved 3, not found 1, skipped 0, invalid 0, failed 0, requests 10")
    expect(all.stderr).toContain("behaviours under")
    for (const part of ["summary", "mitre"]) {
      expect(readJsonFiles(path.join(fresh, "out", "_behaviours", part))).toEqual(
        known.map((id) => `${id}.json`).sort()
      )
    }
    expect(
      Buffer.compare(
        fs.readFileSync(path.join(fresh, "out", "_behaviours", "mitre", `${known[0]}.json`)),
        await served(known[0], "behaviour_mitre_trees")
      )
    ).toBe(0)

    // A rerun sends nothing; a lost part costs its one request, the report is not asked again.
    suite.server.clearLog()
    const again = await files(fresh, ["--behaviour", "all"])
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 4, invalid 0, failed 0, requests 0")
    fs.rmSync(path.join(fresh, "out", "_behaviours", "mitre", `${known[1]}.json`))
    const report = fs.statSync(path.join(fresh, "out", `${known[1]}.json`)).mtimeMs
    const repaired = await files(fresh, ["--behaviour", "all"])
    expect(repaired.stderr).toContain("summary: saved 1, not found 0, skipped 3, invalid 0, failed 0, requests 1")
    expect(paths()).toEqual([`${known[1]}/behaviour_mitre_trees`])
    expect(fs.statSync(path.join(fresh, "out", `${known[1]}.json`)).mtimeMs).toBe(report)
  })

  it("SIGKILL between a part and its report: nothing partial; the rerun asks only what is not kept, then nothing", async () => {
    const known = hashes(4, true, "behkill")
    const [unknown] = hashes(1, false, "behkill")
    // Three requests per known file (the report, the summary, the MITRE trees, in that order), one for the unknown.
    const ids = [known[0], unknown, known[1], known[2], known[3]]
    const args = ["--behaviour", "all"]
    const dir = suite.scratch()
    const reference = suite.scratch()
    for (const d of [dir, reference]) fs.writeFileSync(path.join(d, "in.txt"), ids.join("\n"))
    expect((await files(reference, args)).code).toBe(0)

    suite.server.clearLog()
    suite.server.update({ latencyMs: 300 })
    // Killed once the MITRE trees of the fourth id are asked: its summary is kept, its report not yet.
    const killed = await suite.killedWhen(dir, ["files", "in.txt", ...args], () => suite.server.requests.length >= 10)
    suite.server.update({ latencyMs: 0 })
    expect(killed.signal).toBe("SIGKILL")
    const out = path.join(dir, "out")
    const left = completeRecords(out)
    expect([...left.keys()].filter((name) => !name.startsWith("_behaviours"))).toEqual(
      [`${known[0]}.json`, `${known[1]}.json`, path.join("_not_found", `${unknown}.json`)].sort()
    )
    expect(left.has(path.join("_behaviours", "summary", `${known[2]}.json`))).toBe(true)
    const expected = completeRecords(path.join(reference, "out"))
    for (const [name, bytes] of left) expect(Buffer.compare(bytes, expected.get(name)!), name).toBe(0)

    suite.server.clearLog()
    const rerun = await files(dir, args)
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(rerun.stderr).toContain("summary: saved 2, not found 0, skipped 3, invalid 0, failed 0, requests 5")
    // Nothing for an id done, nor for the summary kept of the one killed mid-way.
    expect(paths()).toEqual([
      known[2],
      `${known[2]}/behaviour_mitre_trees`,
      known[3],
      `${known[3]}/behaviour_summary`,
      `${known[3]}/behaviour_mitre_trees`
    ].sort())
    const resumed = completeRecords(out)
    expect([...resumed.keys()]).toEqual([...expected.keys()])
    for (const [name, bytes] of resumed) expect(Buffer.compare(bytes, expected.get(name)!), name).toBe(0)
    expect(storeFiles(out).temporaries).toEqual([])

    suite.server.clearLog()
    const again = await files(dir, args)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 5, invalid 0, failed 0, requests 0")
    expect(suite.server.requests).toHaveLength(0)
  })

  it("is refused for an unknown part and by the other commands (exit 2, nothing sent)", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true, "beh").join("\n"))
    expect((await files(dir, ["--behaviour", "sandboxes"])).code).toBe(2)
    const urls = await runCli(["urls", "in.txt", "--behaviour", "all", "--base-url", suite.server.url], {
      env: { VT_API_KEY: key },
      cwd: dir
    })
    expect(urls.code).toBe(2)
    expect(suite.server.requests).toHaveLength(0)
  })
})
