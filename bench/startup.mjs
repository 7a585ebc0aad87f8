// (a) Cold start: `vt-harvest --help`, `--version`, `files --help` and a whole one-id run against the emulator, each
// spawned N times as a user would run them (a new Node process every time), against `node -e 0` (Node itself) in
// the same rounds: every command is run right after a run of `node -e 0` (A B A B …), and its ratio to that run is
// taken pair by pair, so that a change of load on the shared machine falls on both sides of the ratio. The unbundled
// tsc output (dist/bin.js) is measured in the same rounds for comparison.
//
//   node bench/startup.mjs            (BENCH_STARTUP_RUNS=n to change N, default 10)
import * as fs from "node:fs"
import * as path from "node:path"
import * as L from "./lib.mjs"

const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 10)
const unbundled = path.join(L.root, "apps/cli/dist/bin.js")
const bundle = path.join(L.root, "apps/cli/dist/vt-harvest.cjs")
for (const file of [bundle, unbundled]) {
  if (!fs.existsSync(file)) throw new Error(`${path.relative(L.root, file)} is missing: run corepack pnpm build first`)
}

const loadBefore = L.load()
const emulator = await L.startEmulator()
const work = L.scratch("startup")
const id = L.knownIds(1, "startup")[0]
const input = path.join(work.dir, "one.txt")
fs.writeFileSync(input, `${id}\n`)

let runNumber = 0
const oneId = (entry) => async () => {
  // A new store every time, so that every run really fetches and saves the report.
  const dir = path.join(work.dir, `run-${runNumber++}`)
  const args = [
    "files",
    input,
    "-o",
    path.join(dir, "out"),
    "--log-dir",
    path.join(dir, "log"),
    "--base-url",
    emulator.url
  ]
  const result = await L.run(process.execPath, [entry, ...args], { env: L.cliEnv(), cwd: work.dir, timeoutMs: 30_000 })
  L.expectExit(result, `vt-harvest ${args.join(" ")}`)
  if (!fs.existsSync(path.join(dir, "out", `${id}.json`))) throw new Error("the one-id run saved nothing")
  return result.ms
}
const help = (entry) => async () => {
  const result = await L.run(process.execPath, [entry, "--help"], { env: L.cliEnv(), timeoutMs: 30_000 })
  L.expectExit(result, `${entry} --help`)
  if (!result.stdout.includes("vt-harvest")) throw new Error("--help printed no usage")
  return result.ms
}

const version = async () => {
  const result = await L.run(process.execPath, [L.cliBin, "--version"], { env: L.cliEnv(), timeoutMs: 30_000 })
  L.expectExit(result, "vt-harvest --version")
  if (!/^\d+\.\d+\.\d+\n/.test(result.stdout)) throw new Error(`--version printed ${JSON.stringify(result.stdout)}`)
  return result.ms
}
const commandHelp = async () => {
  const result = await L.run(process.execPath, [L.cliBin, "files", "--help"], { env: L.cliEnv(), timeoutMs: 30_000 })
  L.expectExit(result, "vt-harvest files --help")
  if (!result.stdout.startsWith("USAGE\n  vt-harvest files")) throw new Error("files --help printed no usage")
  return result.ms
}
// The same environment as the CLI's runs: Node's own start depends on it (NODE_EXTRA_CA_CERTS, for one, makes Node
// read a certificate bundle at every start).
const node = async () => (await L.run(process.execPath, ["-e", "0"], { env: L.cliEnv() })).ms

const cases = [
  { name: "`vt-harvest --help`", fn: help(L.cliBin), target: 2 },
  { name: "`vt-harvest --version`", fn: version, target: 2 },
  { name: "`vt-harvest files --help`", fn: commandHelp },
  { name: "`vt-harvest files one.txt` (1 id)", fn: oneId(L.cliBin), target: 2 },
  { name: "`node apps/cli/dist/bin.js --help` (unbundled tsc output)", fn: help(unbundled) },
  { name: "`node apps/cli/dist/bin.js files one.txt` (1 id, unbundled)", fn: oneId(unbundled) }
]
const times = cases.map(() => [])
const nodeTimes = []
const ratios = cases.map(() => [])
try {
  // One untimed round first: the files are then in the page cache, as they are for anyone who runs the CLI twice.
  await node()
  for (const c of cases) await c.fn()
  for (let round = 0; round < runs; round++) {
    for (const [i, c] of cases.entries()) {
      const base = await node()
      const ms = await c.fn()
      nodeTimes.push(base)
      times[i].push(ms)
      ratios[i].push(ms / base)
    }
    L.log(`startup round ${round + 1}/${runs}`)
  }
} finally {
  await emulator.stop()
  work.remove()
}

const nodeStats = L.stats(nodeTimes)
const rows = [
  `| \`node -e 0\` (Node itself; run before every command below) | ${nodeStats.n} | ${L.ms(nodeStats.min)} | **${
    L.ms(nodeStats.median)
  }** | ${L.ms(nodeStats.max)} | | | | |`,
  ...cases.map((c, i) => {
    const s = L.stats(times[i])
    const r = L.stats(ratios[i])
    const verdict = c.target === undefined
      ? ""
      : r.median <= c.target
      ? `≤ ${c.target}×: met`
      : `≤ ${c.target}×: missed`
    return `| ${c.name} | ${s.n} | ${L.ms(s.min)} | **${L.ms(s.median)}** | ${L.ms(s.max)} | ${r.min.toFixed(2)} | **${
      r.median.toFixed(2)
    }** | ${r.max.toFixed(2)} | ${verdict} |`
  })
]
const kib = (file) => `${(fs.statSync(file).size / 1024).toFixed(0)} KiB`
const dist = path.join(L.root, "apps/cli/dist")
const program = path.join(dist, "program.cjs")
const cache = fs.readdirSync(dist).find((name) => /^program\.cjs\.v8-.*\.cache$/.test(name))

L.writeSection(
  "startup",
  `## (a) Cold start

${L.preamble("node bench/startup.mjs", loadBefore)}
- Wall time from spawn to exit of a new Node process, ${runs} runs of each command, interleaved, after one untimed
  round (files in the page cache). The one-id run fetches a report from the emulator (its own process, loopback)
  into a new store each time, with the default (public) tier, including the quota probe at start.
- Loaded for \`--help\` and \`--version\`: the bundle's entry (dist/vt-harvest.cjs, ${
    kib(bundle)
  }: the help of every command, rendered from a model written at build time); for any other command line also the
  program (dist/program.cjs, ${kib(program)}) with the code V8 compiled of it at build time (${
    cache === undefined ? "none: compiled at every start" : `dist/${cache}, ${kib(path.join(dist, cache))}`
  }); the AWS SDK (${kib(path.join(dist, "aws-sdk.cjs"))}), PostgreSQL's client (${
    kib(path.join(dist, "pg.cjs"))
  }) and undici's root (${kib(path.join(dist, "undici.cjs"))}, for a proxy) only by the runs that use them.
- Ratio: the command's wall time ÷ that of the \`node -e 0\` run just before it, pair by pair; both get the same
  environment (PATH, HOME and the key only).

| command | runs | min | median | max | ratio min | ratio median | ratio max | target |
|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`
)
