// CPU per report against the plain-Node floor: `vt-harvest files` and bench/floor.mjs (keep-alive GET, JSON check,
// write then rename; nothing else) fetch the same BENCH_CPU_IDS known ids (default 10,000) from the same emulator
// at the same concurrency, each into a new store on a memory file system, in turn (floor, CLI, floor, CLI, …)
// BENCH_CPU_RUNS times each (default 5) after one untimed pair. CPU is the whole process's user + system time
// (main thread, libuv's threads, the garbage collector, start-up included) as /usr/bin/time reports it; the ratio
// is taken pair by pair, so that a change of load on the shared machine falls on both sides of it.
//
//   node bench/cpu.mjs
import * as fs from "node:fs"
import * as path from "node:path"
import * as L from "./lib.mjs"

const count = Number(process.env.BENCH_CPU_IDS ?? 10_000)
const runs = Number(process.env.BENCH_CPU_RUNS ?? 5)
const concurrency = Number(process.env.BENCH_CPU_CONCURRENCY ?? 16)
const floorScript = path.join(L.root, "bench/floor.mjs")
if (L.gnuTime === undefined) throw new Error("bench/cpu.mjs needs /usr/bin/time (Debian: apt-get install time)")

const loadBefore = L.load()
const emulator = await L.startEmulator()
const work = L.scratch("cpu", L.storeParent())
const storeFs = L.fileSystemOf(work.dir)
const ids = L.knownIds(count, "cpu")
const input = path.join(work.dir, "ids.txt")
L.writeLines(input, count, (i) => ids[i])

/** Runs `args` under /usr/bin/time: wall time and the process's user and system seconds. */
const timed = async (args, dir) => {
  const result = await L.run(L.gnuTime, ["-f", "cpu %U %S", process.execPath, ...args], {
    env: L.cliEnv(),
    cwd: dir,
    timeoutMs: 30 * 60_000
  })
  L.expectExit(result, args.join(" "))
  const match = /cpu (\d+\.\d+) (\d+\.\d+)\s*$/.exec(result.stderr)
  if (match === null) throw new Error(`no CPU times in: ${result.stderr.slice(-500)}`)
  return { result, wall: result.ms / 1000, cpu: Number(match[1]) + Number(match[2]) }
}

let round = 0
const floor = async () => {
  const dir = path.join(work.dir, `floor-${round}`)
  fs.mkdirSync(dir)
  try {
    await emulator.reset()
    const measured = await timed(
      [
        floorScript,
        "--base-url",
        emulator.url,
        "--out",
        path.join(dir, "out"),
        "--concurrency",
        String(concurrency),
        input
      ],
      dir
    )
    if (!measured.result.stderr.includes(`floor: saved ${count} of ${count}`)) {
      throw new Error(`the floor did not save every report: ${measured.result.stderr.slice(-500)}`)
    }
    return measured
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
const cli = async () => {
  const dir = path.join(work.dir, `cli-${round}`)
  fs.mkdirSync(dir)
  try {
    await emulator.reset()
    const measured = await timed([
      L.cliBin,
      ...L.filesArgs(input, dir, emulator.url, "--concurrency", String(concurrency), "--no-progress")
    ], dir)
    if (L.summary(measured.result.stderr)?.saved !== count) {
      throw new Error(`the CLI did not save every report: ${measured.result.stderr.slice(-500)}`)
    }
    return measured
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const pairs = []
try {
  // One untimed pair: the emulator's JIT warmed up and every id seen once, for both.
  await floor()
  await cli()
  for (round = 1; round <= runs; round++) {
    const f = await floor()
    const c = await cli()
    pairs.push({ floor: f, cli: c })
    L.log(`cpu pair ${round}/${runs}: floor ${f.cpu.toFixed(2)} s, CLI ${c.cpu.toFixed(2)} s of CPU`)
  }
} finally {
  await emulator.stop()
  work.remove()
}

const perThousand = (seconds) => (seconds * 1000) / count
const row = (name, values, format) => {
  const s = L.stats(values)
  return `| ${name} | ${format(s.min)} | **${format(s.median)}** | ${format(s.max)} |`
}
const seconds = (value) => `${value.toFixed(3)} s`
const ratio = L.stats(pairs.map((p) => p.cli.cpu / p.floor.cpu)).median
L.writeSection(
  "cpu",
  `## (e) CPU per report against the plain-Node floor

${L.preamble("node bench/cpu.mjs", loadBefore)}
- Both fetch the same ${L.fmt(count)} known ids (reports of ${
    L.fmt(L.reportBytes(ids))
  } bytes on average) from the emulator (its own process, loopback, no limits), ${concurrency} requests in flight,
  each run into a new store on ${storeFs}, removed afterwards; ${runs} pairs, floor then CLI, after one untimed pair.
- Floor: \`node bench/floor.mjs --base-url <emulator> --out <dir> --concurrency ${concurrency} ids.txt\`:
  node:http keep-alive agent, the CLI's request headers, \`JSON.parse\` of every answer and a check that it is
  about the id asked for, \`writeFile\` of a temporary file then \`rename\`.
- CLI: \`vt-harvest files ids.txt -o <dir>/out --log-dir <dir>/log --base-url <emulator> --tier premium
  --concurrency ${concurrency} --no-progress\`, all its guarantees on (the quota gate, the check that every answer
  is one JSON document about the id asked for, atomic writes that never follow a symbolic link, the run log).
- CPU: user + system seconds of the whole process (/usr/bin/time), start-up included, per 1,000 reports.

| measure | min | median | max |
|---|---|---|---|
${
    [
      row("floor: CPU s per 1,000 reports", pairs.map((p) => perThousand(p.floor.cpu)), seconds),
      row("CLI: CPU s per 1,000 reports", pairs.map((p) => perThousand(p.cli.cpu)), seconds),
      row("CLI ÷ floor, CPU (pair by pair)", pairs.map((p) => p.cli.cpu / p.floor.cpu), (v) => v.toFixed(2)),
      row("floor: wall s", pairs.map((p) => p.floor.wall), (v) => v.toFixed(2)),
      row("CLI: wall s", pairs.map((p) => p.cli.wall), (v) => v.toFixed(2)),
      row("CLI ÷ floor, wall (pair by pair)", pairs.map((p) => p.cli.wall / p.floor.wall), (v) => v.toFixed(2))
    ].join("\n")
  }

Target: CLI ≤ 1.2 × the floor's CPU per report — ${ratio <= 1.2 ? "met" : "**missed**"} (median ratio ${
    ratio.toFixed(2)
  }).
`
)
