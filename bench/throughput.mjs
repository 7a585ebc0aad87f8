// (b) Premium throughput: `vt-harvest files --tier premium --no-progress` on ids the emulator knows (~40 KB
// reports), into a directory store, at several concurrencies, against the raw ceiling measured in the same run by
// autocannon fetching the same URLs (GET /api/v3/files/<id> with the x-apikey header, ids rotating) at the same
// concurrency. The emulator runs in its own process on a free loopback port.
//
// A survey at every concurrency uses BENCH_SURVEY_IDS ids (default 4,000); the concurrency where the CLI was
// fastest is then measured again with BENCH_IDS ids (default 20,000), CLI and autocannon alike.
//
//   node bench/throughput.mjs
import autocannon from "autocannon"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as L from "./lib.mjs"

const concurrencies = (process.env.BENCH_CONCURRENCIES ?? "1,8,32,64").split(",").map(Number)
const surveyIds = Number(process.env.BENCH_SURVEY_IDS ?? 4_000)
const fullIds = Number(process.env.BENCH_IDS ?? 20_000)

const loadBefore = L.load()
const emulator = await L.startEmulator()
const storeParent = L.storeParent()
const work = L.scratch("throughput", storeParent)
const diskWork = storeParent === os.tmpdir() ? undefined : L.scratch("throughput-disk")
const storeFs = L.fileSystemOf(work.dir)
const diskFs = diskWork === undefined ? undefined : L.fileSystemOf(diskWork.dir)
const ids = L.knownIds(fullIds, "throughput")
const bytes = L.reportBytes(ids)

/**
 * autocannon: `amount` requests over `connections` keep-alive connections, ids taken in turn from the list. The rate
 * is counted from the start to the last response (autocannon's own duration is rounded to its 1 s sampling tick).
 */
const raw = async (count, connections) => {
  await emulator.reset()
  let next = 0
  let last = 0n
  const started = process.hrtime.bigint()
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon({
      url: emulator.origin,
      connections,
      amount: count,
      timeout: 30,
      headers: { "x-apikey": L.apiKey },
      requests: [{
        method: "GET",
        setupRequest: (request) => ({ ...request, path: `/api/v3/files/${ids[next++ % count]}` })
      }]
    }, (error, result) => (error ? reject(error) : resolve(result)))
    instance.on("response", () => {
      last = process.hrtime.bigint()
    })
  })
  const seconds = Number(last - started) / 1e9
  if (result["2xx"] !== count || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`autocannon: ${result["2xx"]} of ${count} answered 2xx, ${result.errors} errors`)
  }
  return { perSecond: count / seconds, seconds }
}

/** The CLI on the first `count` ids: wall time from spawn to exit, and the rate the emulator saw. */
const cli = async (count, concurrency, scratch = work) => {
  await emulator.reset()
  const dir = path.join(scratch.dir, `cli-${count}-${concurrency}`)
  fs.mkdirSync(dir)
  const input = path.join(dir, "ids.txt")
  L.writeLines(input, count, (i) => ids[i])
  const args = L.filesArgs(input, dir, emulator.url, "--concurrency", String(concurrency), "--no-progress")
  try {
    const result = await L.runCliMeasured(args, { env: L.cliEnv(), cwd: dir, timeoutMs: 30 * 60_000 })
    L.expectExit(result, `vt-harvest ${args.join(" ")}`)
    const summary = L.summary(result.stderr)
    if (summary?.saved !== count) throw new Error(`expected ${count} saved: ${result.stderr.slice(-500)}`)
    const requests = (await emulator.requests()).filter((r) => r.path.includes("/files/"))
    if (requests.length !== count) throw new Error(`the emulator saw ${requests.length} file requests, not ${count}`)
    const span = (requests.at(-1).at - requests[0].at) / 1000
    return {
      perSecond: count / (result.ms / 1000),
      seconds: result.ms / 1000,
      steadyPerSecond: span > 0 ? (count - 1) / span : NaN,
      maxRssKiB: result.maxRssKiB
    }
  } finally {
    // 20,000 reports are about 800 MB: removed as soon as they are counted.
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const rows = []
try {
  // Warm-up, not recorded: every URL once, so that neither the emulator's JIT nor a first sight of an id counts.
  await raw(fullIds, 32)
  await raw(Math.min(surveyIds, fullIds), 1)
  const survey = []
  for (const c of concurrencies) {
    const count = Math.min(surveyIds, fullIds)
    const ceiling = await raw(count, c)
    L.log(`raw c=${c}: ${L.fmt(ceiling.perSecond)} req/s`)
    const measured = await cli(count, c)
    L.log(`cli c=${c}: ${L.fmt(measured.perSecond)} reports/s`)
    survey.push({ c, count, ceiling, measured })
  }
  const best = survey.reduce((a, b) => (b.measured.perSecond > a.measured.perSecond ? b : a))
  for (const s of survey) rows.push(s)
  if (fullIds > best.count) {
    const ceiling = await raw(fullIds, best.c)
    L.log(`raw c=${best.c}: ${L.fmt(ceiling.perSecond)} req/s (${fullIds} ids)`)
    const measured = await cli(fullIds, best.c)
    L.log(`cli c=${best.c}: ${L.fmt(measured.perSecond)} reports/s (${fullIds} ids)`)
    rows.push({ c: best.c, count: fullIds, ceiling, measured, best: true })
  } else {
    best.best = true
  }
  if (diskWork !== undefined) {
    // The same run with the store on the disk, for comparison (not the target's row).
    const ceiling = await raw(fullIds, best.c)
    const measured = await cli(fullIds, best.c, diskWork)
    L.log(`cli c=${best.c}: ${L.fmt(measured.perSecond)} reports/s (${fullIds} ids, store on disk)`)
    rows.push({ c: best.c, count: fullIds, ceiling, measured, disk: true })
  }
} finally {
  await emulator.stop()
  work.remove()
  diskWork?.remove()
}

const pct = (a, b) => `${((100 * a) / b).toFixed(1)} %`
const table = rows.map(({ best, c, ceiling, count, disk, measured }) =>
  `| ${c}${best ? " (best)" : ""}${disk ? " (store on disk)" : ""} | ${L.fmt(count)} | ${L.fmt(ceiling.perSecond)} | ${
    L.fmt(measured.perSecond)
  } | ${L.fmt(measured.steadyPerSecond)} | ${best ? "**" : ""}${pct(measured.perSecond, ceiling.perSecond)}${
    best ? "**" : ""
  } | ${measured.maxRssKiB === undefined ? "?" : L.mib(measured.maxRssKiB)} |`
)
const final = rows.find((r) => r.best)

L.writeSection(
  "throughput",
  `## (b) Premium throughput against the raw ceiling

${L.preamble("node bench/throughput.mjs", loadBefore)}
- Emulator: \`packages/vt-emulator/bin/vt-emulator.js\` in its own process on 127.0.0.1 (free port), no limits,
  no faults; every id known: 200 with a report of ${L.fmt(bytes)} bytes on average.
- CLI: \`vt-harvest files ids.txt -o <tmp>/out --log-dir <tmp>/log --base-url <emulator> --tier premium
  --concurrency c --no-progress\`, a new store each run (fs sink, removed afterwards) on ${storeFs}${
    diskFs === undefined ? "" : `; the last row stores on ${diskFs} instead`
  }. "CLI reports/s" is ids ÷
  wall time from spawn to exit (start-up included); "steady" is the rate the emulator saw between the first and
  the last file request.
- Raw ceiling: autocannon in the benchmark's process, \`c\` keep-alive connections, the same ${
    L.fmt(fullIds)
  } URLs in turn
  (GET /api/v3/files/<id>, x-apikey header), no body parsing or storage.
- ${L.fmt(surveyIds)} ids at every concurrency (the survey), then ${
    L.fmt(fullIds)
  } ids at the concurrency where the CLI was fastest (both the CLI and autocannon again).

| concurrency | ids | raw ceiling req/s | CLI reports/s | CLI steady reports/s | CLI ÷ ceiling | CLI peak RSS |
|---|---|---|---|---|---|---|
${table.join("\n")}

Target: ≥ 60 % of the ceiling at the best concurrency — ${
    final !== undefined && final.measured.perSecond / final.ceiling.perSecond >= 0.6 ? "met" : "**missed**"
  } (${final === undefined ? "?" : pct(final.measured.perSecond, final.ceiling.perSecond)}).
`
)
