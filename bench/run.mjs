// Runs the benchmarks one after the other, each in its own process, and records them in bench/RESULTS.md.
// `corepack pnpm bench` builds first, then runs this; `corepack pnpm bench quota startup` runs only those sections.
// Every section is bounded in time; a section that fails is reported and the others still run.
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const sections = {
  startup: 10 * 60_000,
  throughput: 60 * 60_000,
  breakdown: 10 * 60_000,
  memory: 90 * 60_000,
  quota: 10 * 60_000,
  ledger: 5 * 60_000,
  cpu: 20 * 60_000
}
const wanted = process.argv.slice(2).filter((arg) => arg !== "--")
const unknown = wanted.filter((name) => !(name in sections))
if (unknown.length > 0) {
  process.stderr.write(`unknown section(s): ${unknown.join(", ")}; sections: ${Object.keys(sections).join(", ")}\n`)
  process.exit(2)
}

let current
// A section runs in its own process group (below), so an interrupt is passed on to it.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    if (current !== undefined) process.kill(-current.pid, "SIGTERM")
    process.exit(130)
  })
}

const failed = []
for (const name of wanted.length > 0 ? wanted : Object.keys(sections)) {
  process.stderr.write(`\n== bench/${name}.mjs\n`)
  const started = Date.now()
  const code = await new Promise((resolve) => {
    // Its own process group, so that a section stopped for taking too long takes its emulator and CLI with it.
    const child = spawn(process.execPath, [path.join(here, `${name}.mjs`)], { stdio: "inherit", detached: true })
    current = child
    const timer = setTimeout(() => {
      process.stderr.write(`bench/${name}.mjs: over ${sections[name] / 60_000} minutes, stopped\n`)
      process.kill(-child.pid, "SIGKILL")
    }, sections[name])
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      current = undefined
      resolve(code ?? (signal === null ? 1 : 128))
    })
  })
  process.stderr.write(`== bench/${name}.mjs: exit ${code} after ${Math.round((Date.now() - started) / 1000)} s\n`)
  if (code !== 0) failed.push(name)
}
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(", ")} (their sections of bench/RESULTS.md were not updated)\n`)
  process.exit(1)
}
process.stderr.write("\nresults in bench/RESULTS.md\n")
