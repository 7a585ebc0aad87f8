// (d) Quota utilisation: the emulator enforces BENCH_QUOTA_PER_MINUTE requests per UTC minute (default 60) and the
// CLI is told the same limit (--per-minute, premium tier otherwise: 16 in flight); the input holds as many ids as
// fit in BENCH_QUOTA_SECONDS of spacing (default 39 s: 40 ids at 60 a minute), so an ideal client finishes
// (count − 1) × spacing after its first request. The run is made BENCH_QUOTA_RUNS times (default 3), each on a reset
// emulator; the emulator's request log (GET /_emulator/requests) says how many requests were made, when, and
// whether any was refused (429).
//
//   node bench/quota.mjs
import * as path from "node:path"
import * as L from "./lib.mjs"

const perMinute = Number(process.env.BENCH_QUOTA_PER_MINUTE ?? 60)
const seconds = Number(process.env.BENCH_QUOTA_SECONDS ?? 39)
const runs = Number(process.env.BENCH_QUOTA_RUNS ?? 3)
const spacingMs = Math.ceil(60_000 / perMinute)
// Starts are spacingMs apart from the first one: this many fill `seconds`.
const count = Math.floor((seconds * 1000) / spacingMs) + 1

const loadBefore = L.load()
const emulator = await L.startEmulator(["--per-minute", String(perMinute)])
const work = L.scratch("quota")
let result
let requests
const walls = []
const refusals = []
try {
  const ids = L.knownIds(count, "quota")
  const input = path.join(work.dir, "ids.txt")
  L.writeLines(input, count, (i) => ids[i])
  for (let round = 1; round <= runs; round++) {
    await emulator.reset()
    const dir = path.join(work.dir, `run-${round}`)
    const args = L.filesArgs(input, dir, emulator.url, "--per-minute", String(perMinute), "--no-progress")
    L.log(`run ${round}/${runs}: ${count} ids at ${perMinute}/min: about ${Math.round((count * spacingMs) / 1000)} s`)
    result = await L.run(process.execPath, [L.cliBin, ...args], {
      env: L.cliEnv(),
      cwd: work.dir,
      timeoutMs: (seconds + 120) * 1000
    })
    L.expectExit(result, `vt-harvest ${args.join(" ")}`)
    requests = (await emulator.requests()).filter((r) => r.path.includes("/files/"))
    walls.push(result.ms)
    refusals.push(requests.filter((r) => r.status === 429).length)
    L.log(`run ${round}/${runs}: ${(result.ms / 1000).toFixed(2)} s, ${refusals.at(-1)} × 429`)
  }
} finally {
  await emulator.stop()
  work.remove()
}

// The last run's request log is analysed below; every run's wall time and refusals are in the first table.
const ideal = (count - 1) * spacingMs
const wallStats = L.stats(walls)
const refused = requests.filter((r) => r.status === 429).length
const made = requests.length
const first = requests[0].at
const last = requests.at(-1).at
const span = last - first
// Between the first and the last start, a client spacing its starts exactly 60 s / perMinute apart makes
// span / spacing + 1 requests: that is what the limit allows in that time.
const allowedInSpan = span / spacingMs + 1
// Over the whole run (spawn to exit, start-up included): perMinute per minute of wall time, plus the first request.
const allowedInRun = result.ms / spacingMs + 1
const gaps = requests.slice(1).map((r, i) => r.at - requests[i].at)
const gapStats = L.stats(gaps)
// Requests per UTC clock minute (the emulator's window), for the minutes wholly inside the run.
const minutes = new Map()
for (const r of requests) minutes.set(Math.floor(r.at / 60_000), (minutes.get(Math.floor(r.at / 60_000)) ?? 0) + 1)
const whole = [...minutes].filter(([m]) => m * 60_000 >= first && (m + 1) * 60_000 <= last)
const pct = (a, b) => `${((100 * a) / b).toFixed(2)} %`
const summary = L.summary(result.stderr)

L.writeSection(
  "quota",
  `## (d) Quota utilisation at a per-minute limit

${L.preamble("node bench/quota.mjs", loadBefore)}
- Emulator: \`vt-emulator --per-minute ${perMinute}\` (its own process, loopback): a 429 QuotaExceededError once a
  key has made ${perMinute} requests in a UTC clock minute.
- CLI: \`vt-harvest files ids.txt --tier premium --per-minute ${perMinute} --no-progress\` (16 in flight; starts
  spaced ${spacingMs} ms apart by the quota gate) on ${count} known ids, ${runs} runs, each on a reset emulator.
- Ideal: a client that sends its first request at once and every later one exactly ${spacingMs} ms after the one
  before finishes (${count} − 1) × ${spacingMs} ms = ${(ideal / 1000).toFixed(2)} s after its start (plus the answer
  of the last request); the wall time is the CLI's whole run, spawn to exit, start-up included.

| measure | min | median | max |
|---|---|---|---|
| wall time of the run | ${(wallStats.min / 1000).toFixed(2)} s | **${(wallStats.median / 1000).toFixed(2)} s** | ${
    (wallStats.max / 1000).toFixed(2)
  } s |
| over the ideal (${(ideal / 1000).toFixed(2)} s) | ${((wallStats.min - ideal) / 1000).toFixed(2)} s | **${
    ((wallStats.median - ideal) / 1000).toFixed(2)
  } s** | ${((wallStats.max - ideal) / 1000).toFixed(2)} s |
| 429 refusals | ${Math.min(...refusals)} | **${L.stats(refusals).median}** | ${Math.max(...refusals)} |

Target: within 1 s of the ideal, with no 429 — ${
    wallStats.max - ideal <= 1000 && Math.max(...refusals) === 0 ? "met in every run" : "**missed**"
  }.

The last run, from the emulator's request log (\`GET /_emulator/requests\`, file requests only; the quota probe at
start is neither counted nor limited); CLI summary: ${
    summary === undefined ? "?" : `saved ${summary.saved}, failed ${summary.failed}`
  }:

| measure | value |
|---|---|
| requests made | ${made} |
| 429 refusals | **${refused}** |
| first → last request start | ${(span / 1000).toFixed(2)} s |
| allowed between the first and the last start (1 + span ÷ ${spacingMs} ms) | ${allowedInSpan.toFixed(1)} |
| **utilisation over that span** | **${pct(made, allowedInSpan)}** |
| allowed over the whole run, start-up included (1 + wall ÷ ${spacingMs} ms) | ${allowedInRun.toFixed(1)} |
| utilisation over the whole run | ${pct(made, allowedInRun)} |
| gap between starts, min / median / max | ${gapStats.min} / ${gapStats.median} / ${gapStats.max} ms |
| requests in each whole UTC minute of the run | ${whole.map(([, n]) => n).join(", ") || "none"} (limit ${perMinute}) |

Utilisation ≥ 99.5 % with no 429 — ${
    made / allowedInSpan >= 0.995 && refused === 0 ? "met" : "**missed**"
  } over the span between the first and the last request${
    made / allowedInRun >= 0.995 ? " and over the whole run" : "; over the whole run " + pct(made, allowedInRun)
  }.
`
)
