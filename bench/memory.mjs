// (c) Peak RSS of the CLI process against the size of its input.
//
// Resumed runs (the realistic big input: a list mostly harvested already), 100,000 and 1,000,000 lines of SHA-256
// hashes that are all saved in the store already, mixed with what real lists contain: a comment every 100 lines, a
// blank line every 100, a malformed line every 50, and a duplicate (upper-cased) of the previous hash every 10.
// Every line goes through the whole pipeline (read, parse, validate, the in-flight check, the store lookup, the
// counters) and nothing is requested. Stores are pre-populated with one empty `<hash>.json` per hash (the sink only
// checks that a record exists).
//   - "input": the hashes cycle through 1,000 saved ones, so the store is the same small one for both lengths and
//     only the input grows;
//   - "store": every hash distinct, the store holding exactly the input's hashes (86,001 and 860,001 records), as
//     after a real earlier run: the input and the store grow together.
//
// Fetching runs: 10,000 and 100,000 distinct hashes (about 19 % unknown to the emulator: 404, a not-found record),
// really fetched from the emulator with --tier premium --concurrency 32 into an empty store.
//
// Peak RSS comes from /usr/bin/time -v ("Maximum resident set size"), else from process.resourceUsage().maxRSS
// reported by bench/maxrss.mjs preloaded with --import.
//
//   node bench/memory.mjs    (BENCH_RESUME_LINES=100000,1000000 BENCH_FETCH_IDS=10000,100000 to change the sizes)
import * as fs from "node:fs"
import * as path from "node:path"
import * as L from "./lib.mjs"

const resumeSizes = (process.env.BENCH_RESUME_LINES ?? "100000,1000000").split(",").map(Number)
const fetchSizes = (process.env.BENCH_FETCH_IDS ?? "10000,100000").split(",").map(Number).filter((n) => n > 0)

const loadBefore = L.load()
const emulator = await L.startEmulator()
const work = L.scratch("memory")

/** The lines of the resumed-run input: what each line holds, and which distinct hash it names. */
const lineOf = (ids) => {
  let distinct = 0
  return (i) => {
    if (i % 100 === 0) return `# comment ${i}`
    if (i % 100 === 1) return ""
    if (i % 50 === 2) return `not-a-hash-${i}`
    if (i % 10 === 3 && distinct > 0) return ids[(distinct - 1) % ids.length].toUpperCase() // a duplicate
    return ids[distinct++ % ids.length]
  }
}
const expectedCounts = (lines) => {
  let invalid = 0
  let valid = 0
  let distinct = 0
  for (let i = 0; i < lines; i++) {
    if (i % 100 === 0 || i % 100 === 1) continue
    if (i % 50 === 2) invalid++
    else {
      valid++
      if (!(i % 10 === 3 && distinct > 0)) distinct++
    }
  }
  return { invalid, valid, distinct }
}

const cliArgs = (input, dir, extra) => [
  "files",
  input,
  "-o",
  path.join(dir, "out"),
  "--log-dir",
  path.join(dir, "log"),
  "--base-url",
  emulator.url,
  "--no-progress",
  ...extra
]

const resumeRows = []
const fetchRows = []
try {
  // ---- resumed runs
  const populate = (out, ids, from) => {
    fs.mkdirSync(out, { recursive: true })
    const started = Date.now()
    for (let i = from; i < ids.length; i++) fs.closeSync(fs.openSync(path.join(out, `${ids[i]}.json`), "w"))
    return (Date.now() - started) / 1000
  }
  const resumed = async (scenario, lines, ids, dir, storeSize) => {
    const input = path.join(dir, `in-${lines}.txt`)
    L.writeLines(input, lines, lineOf(ids))
    const expected = expectedCounts(lines)
    L.log(`resumed run (${scenario}) over ${L.fmt(lines)} lines, ${L.fmt(storeSize)} records in the store`)
    const result = await L.runCliMeasured(cliArgs(input, dir, ["--tier", "premium"]), {
      env: L.cliEnv(),
      cwd: dir,
      timeoutMs: 30 * 60_000
    })
    L.expectExit(result, `resumed run over ${lines} lines`)
    const summary = L.summary(result.stderr)
    if (
      summary === undefined || summary.skipped !== expected.valid || summary.invalid !== expected.invalid ||
      summary.saved !== 0 || summary.failed !== 0
    ) {
      throw new Error(`resumed run over ${lines} lines: unexpected summary ${JSON.stringify(summary)}`)
    }
    resumeRows.push({ scenario, lines, expected, storeSize, summary, result })
    fs.rmSync(input)
    fs.rmSync(path.join(dir, "log"), { recursive: true, force: true })
  }

  // "input": a small store, only the input grows.
  const few = L.anyIds(1_000, "memory-resume")
  const small = path.join(work.dir, "input")
  populate(path.join(small, "out"), few, 0)
  for (const lines of resumeSizes) await resumed("input", lines, few, small, few.length)
  fs.rmSync(small, { recursive: true, force: true })

  // "store": the store holds exactly the input's hashes; it grows from one length to the next.
  const all = L.anyIds(expectedCounts(Math.max(...resumeSizes)).distinct, "memory-resume")
  const grown = path.join(work.dir, "store")
  let stored = 0
  for (const lines of [...resumeSizes].sort((a, b) => a - b)) {
    const { distinct } = expectedCounts(lines)
    L.log(`pre-populating the store up to ${L.fmt(distinct)} records`)
    resumeRows.populateSeconds = (resumeRows.populateSeconds ?? 0) +
      populate(path.join(grown, "out"), all.slice(0, distinct), stored)
    stored = distinct
    await resumed("store", lines, all.slice(0, distinct), grown, distinct)
  }
  const started = Date.now()
  fs.rmSync(grown, { recursive: true, force: true })
  L.log(`removed the store in ${((Date.now() - started) / 1000).toFixed(0)} s`)

  // ---- fetching runs
  for (const count of fetchSizes) {
    const dir = path.join(work.dir, `fetch-${count}`)
    fs.mkdirSync(dir)
    const input = path.join(dir, "ids.txt")
    const fetchIds = L.anyIds(count, "memory-fetch")
    L.writeLines(input, count, (i) => fetchIds[i])
    await emulator.reset()
    L.log(`fetching run of ${L.fmt(count)} ids`)
    const result = await L.runCliMeasured(
      cliArgs(input, dir, ["--tier", "premium", "--concurrency", "32"]),
      { env: L.cliEnv(), cwd: dir, timeoutMs: 60 * 60_000 }
    )
    L.expectExit(result, `fetching run of ${count} ids`)
    const summary = L.summary(result.stderr)
    if (summary === undefined || summary.saved + summary.notFound !== count) {
      throw new Error(`fetching run of ${count} ids: unexpected summary ${JSON.stringify(summary)}`)
    }
    fetchRows.push({ count, summary, result })
    fs.rmSync(dir, { recursive: true, force: true })
  }
} finally {
  await emulator.stop()
  work.remove()
}

const rss = (row) => row.result.maxRssKiB
const ratio = (rows) => rows.length >= 2 ? rss(rows.at(-1)) / rss(rows[0]) : undefined
const source = resumeRows[0]?.result.rssSource ?? fetchRows[0]?.result.rssSource ?? "?"
const verdict = (ok) => (ok ? "met" : "**missed**")
const judge = (scenario) => {
  const rows = resumeRows.filter((r) => r.scenario === scenario)
  const r = ratio(rows)
  const top = rows.at(-1)
  if (top === undefined) return "?"
  return `RSS(${L.fmt(top.lines)}) ÷ RSS(${L.fmt(rows[0].lines)}) = ${r?.toFixed(2) ?? "?"} (target ≤ 1.3: ${
    verdict(r !== undefined && r <= 1.3)
  }); RSS at ${L.fmt(top.lines)} lines ${L.mib(rss(top))} (target ≤ 200 MiB: ${verdict(rss(top) <= 200 * 1024)})`
}

L.writeSection(
  "memory",
  `## (c) Peak RSS against input size

${L.preamble("node bench/memory.mjs", loadBefore)}
- Peak RSS of the CLI process (Node included) from ${source}.
- **Resumed runs** (\`vt-harvest files in.txt --tier premium --no-progress\`, the emulator as --base-url): SHA-256
  hashes that are all saved already, plus a comment and a blank line every 100 lines, a malformed line every 50 and
  a duplicate (upper-cased) of the previous hash every 10. Every valid line costs one store lookup (then "skipped"),
  each malformed line is logged (stderr and run log), nothing is requested. Stores are pre-populated with empty
  \`<hash>.json\` files (${resumeRows.populateSeconds?.toFixed(0) ?? "?"} s for the largest).
  - *input*: the hashes cycle through 1,000 saved ones: the same small store for both lengths, only the input grows.
  - *store*: every hash distinct and the store holding exactly the input's hashes, as after a real earlier run:
    the input and the store grow together.
- **Fetching runs** (\`--tier premium --concurrency 32\`): distinct hashes really fetched from the emulator into an
  empty directory store (about 81 % saved reports of ~40 KB, 19 % not-found records).

| scenario | lines | valid / invalid | records in the store at start | outcome | wall time | peak RSS |
|---|---|---|---|---|---|---|
${
    resumeRows.map((r) =>
      `| resumed, ${r.scenario} | ${L.fmt(r.lines)} | ${L.fmt(r.expected.valid)} / ${L.fmt(r.expected.invalid)} | ${
        L.fmt(r.storeSize)
      } | skipped ${L.fmt(r.summary.skipped)}, requests ${r.summary.requests} | ${
        (r.result.ms / 1000).toFixed(1)
      } s | **${L.mib(rss(r))}** |`
    ).join("\n")
  }
${
    fetchRows.map((r) =>
      `| fetching | ${L.fmt(r.count)} | ${L.fmt(r.count)} / 0 | 0 | saved ${L.fmt(r.summary.saved)}, not found ${
        L.fmt(r.summary.notFound)
      }, requests ${L.fmt(r.summary.requests)} | ${(r.result.ms / 1000).toFixed(1)} s | **${L.mib(rss(r))}** |`
    ).join("\n")
  }

- Resumed, input: ${judge("input")}.
- Resumed, store: ${judge("store")}.
${
    fetchRows.length < 2
      ? `- Fetching: one size only (BENCH_FETCH_IDS=${fetchSizes.join(",")}), no ratio.`
      : `- Fetching: RSS(${L.fmt(fetchRows.at(-1).count)}) ÷ RSS(${L.fmt(fetchRows[0].count)}) = ${
        ratio(fetchRows)?.toFixed(2) ?? "?"
      }.`
  }
`
)
