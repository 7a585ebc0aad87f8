// (a) Cold start: `vt-harvest --help`, and a whole one-id run against the emulator, each spawned N times as a user
// would run them (a new Node process every time). The unbundled tsc output (dist/bin.js) and `node -e 0` are measured
// in the same rounds for comparison. Runs of the different commands are interleaved, so that a change of load on
// the machine spreads over all of them.
//
//   node bench/startup.mjs            (BENCH_STARTUP_RUNS=n to change N, default 10)
import * as fs from "node:fs"
import * as path from "node:path"
import * as L from "./lib.mjs"

const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 10)
const unbundled = path.join(L.root, "apps/cli/dist/bin.js")
const bundle = path.join(L.root, "apps/cli/dist/vt-harvest.mjs")
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

const cases = [
  { name: "`node -e 0` (Node itself, for reference)", fn: async () => (await L.run(process.execPath, ["-e", "0"])).ms },
  { name: "`vt-harvest --help` (bundle: bin/vt-harvest.js)", fn: help(L.cliBin), target: 300 },
  { name: "`node apps/cli/dist/bin.js --help` (unbundled tsc output)", fn: help(unbundled) },
  { name: "`vt-harvest files one.txt` (1 id, bundle)", fn: oneId(L.cliBin) },
  { name: "`node apps/cli/dist/bin.js files one.txt` (1 id, unbundled)", fn: oneId(unbundled) }
]
const times = cases.map(() => [])
try {
  // One untimed round first: the files are then in the page cache, as they are for anyone who runs the CLI twice.
  for (const c of cases) await c.fn()
  for (let round = 0; round < runs; round++) {
    for (const [i, c] of cases.entries()) times[i].push(await c.fn())
    L.log(`startup round ${round + 1}/${runs}`)
  }
} finally {
  await emulator.stop()
  work.remove()
}

const rows = cases.map((c, i) => {
  const s = L.stats(times[i])
  const verdict = c.target === undefined
    ? ""
    : s.median <= c.target
    ? `≤ ${c.target} ms: met`
    : `≤ ${c.target} ms: missed`
  return `| ${c.name} | ${s.n} | ${L.ms(s.min)} | **${L.ms(s.median)}** | ${L.ms(s.max)} | ${verdict} |`
})
const bundleBytes = fs.statSync(bundle).size
const chunkDir = path.join(L.root, "apps/cli/dist/chunks")
// The chunks the entry imports statically (and what they import): loaded at every start.
const eager = new Set()
const follow = (file) => {
  for (const [, name] of fs.readFileSync(file, "utf8").matchAll(/from\s*"\.{1,2}\/(?:chunks\/)?([\w.-]+\.mjs)"/g)) {
    if (!eager.has(name) && fs.existsSync(path.join(chunkDir, name))) {
      eager.add(name)
      follow(path.join(chunkDir, name))
    }
  }
}
follow(bundle)
const eagerBytes = [...eager].reduce((sum, name) => sum + fs.statSync(path.join(chunkDir, name)).size, 0)

L.writeSection(
  "startup",
  `## (a) Cold start

${L.preamble("node bench/startup.mjs", loadBefore)}
- Wall time from spawn to exit of a new Node process, ${runs} runs of each command, interleaved, after one untimed
  round (files in the page cache). The one-id run fetches a report from the emulator (its own process, loopback)
  into a new store each time, with the default (public) tier, including the quota probe at start.
- Bundle loaded at start: dist/vt-harvest.mjs ${(bundleBytes / 1024).toFixed(0)} KiB + ${eager.size} shared chunk(s)
  ${(eagerBytes / 1024).toFixed(0)} KiB; the S3 sink and the AWS SDK are in chunks loaded only for \`--out s3://…\`.

| command | runs | min | median | max | target |
|---|---|---|---|---|---|
${rows.join("\n")}
`
)
