// Shared helpers of the benchmarks: the machine, statistics, the emulator and the CLI as child processes, id
// lists, and the sections of bench/RESULTS.md. Plain Node, no test framework; everything stays on 127.0.0.1 and
// every wait is bounded.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
export const cliBin = path.join(root, "apps/cli/bin/vt-harvest.js")
export const emulatorBin = path.join(root, "packages/vt-emulator/bin/vt-emulator.js")
export const resultsFile = path.join(root, "bench/RESULTS.md")
export const apiKey = "bench-key-0123456789abcdef"

/** Whether /usr/bin/time -v can report a child's peak RSS. */
export const gnuTime = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined

// ---------------------------------------------------------------------------------------------------------------
// The machine and statistics

const gib = (bytes) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`

/** One line naming the machine, for every section. */
export const machine = () => {
  const cpus = os.cpus()
  return `${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${gib(os.totalmem())} RAM (${
    gib(os.freemem())
  } free), Node ${process.version}, ${os.type()} ${os.release()}`
}

/** The 1, 5 and 15 minute load averages, as text. */
export const load = () => os.loadavg().map((n) => n.toFixed(2)).join(" / ") + ` (1/5/15 min, ${os.cpus().length} cores)`

export const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const n = sorted.length
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
  return { n, min: sorted[0], median, max: sorted[n - 1] }
}

export const ms = (value) => `${Math.round(value)} ms`
export const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`
export const fmt = (value, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

export const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)

// ---------------------------------------------------------------------------------------------------------------
// Child processes

/** A scratch directory under `parent` (the system's temporary directory by default); `remove` deletes it. */
export const scratch = (name, parent = os.tmpdir()) => {
  const dir = fs.mkdtempSync(path.join(parent, `vt-harvest-bench-${name}-`))
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Runs a command to completion, or kills it (SIGKILL, by its own pid) after `timeoutMs`. Resolves with the exit
 * code, signal, output and wall time.
 */
export const run = (command, args, { env, cwd, timeoutMs = 60_000, stdin } = {}) =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(command, args, {
      cwd: cwd ?? root,
      env: env ?? process.env,
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      if (stdout.length < 1_000_000) stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      if (stderr.length < 1_000_000) stderr += chunk
      // Keep the tail: /usr/bin/time -v writes its report last.
      else stderr = stderr.slice(-500_000) + chunk
    })
    if (stdin !== undefined) child.stdin.end(stdin)
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut, ms: Number(process.hrtime.bigint() - started) / 1e6 })
    })
  })

/**
 * Where the throughput benchmark's stores go: BENCH_STORE_DIR, else a memory file system (/dev/shm) when there is
 * one, else the system's temporary directory. The benchmark compares the pipeline with a load generator that stores
 * nothing; on a disk, what the kernel does for earlier runs' deletions (online discard, journal commits) adds seconds
 * of system time to a run, and the disk row of (b) shows that separately.
 */
export const storeParent = () => {
  if (process.env.BENCH_STORE_DIR) return process.env.BENCH_STORE_DIR
  try {
    fs.accessSync("/dev/shm", fs.constants.W_OK)
    return "/dev/shm"
  } catch {
    return os.tmpdir()
  }
}

/** The file system type of a directory, from /proc/mounts (Linux), or "?". */
export const fileSystemOf = (dir) => {
  try {
    const mounts = fs.readFileSync("/proc/mounts", "utf8").trim().split("\n").map((line) => line.split(" "))
    const real = fs.realpathSync(dir)
    const best = mounts
      .filter(([, mount]) => real === mount || real.startsWith(mount.endsWith("/") ? mount : `${mount}/`))
      .sort((a, b) => b[1].length - a[1].length)[0]
    return best === undefined ? "?" : `${best[2]} (${best[1]})`
  } catch {
    return "?"
  }
}

/**
 * `vt-harvest files <input>` into `<dir>/out` with its log in `<dir>/log`, against the emulator at `url`, on the
 * premium tier; `more` are further options (a concurrency, a per-minute limit…).
 */
export const filesArgs = (input, dir, url, ...more) => [
  "files",
  input,
  "-o",
  path.join(dir, "out"),
  "--log-dir",
  path.join(dir, "log"),
  "--base-url",
  url,
  "--tier",
  "premium",
  ...more
]

/** The environment a CLI run gets: the key and nothing from the caller's VirusTotal settings. */
export const cliEnv = (extra = {}) => {
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.tmpdir(), VT_API_KEY: apiKey, ...extra }
  return env
}

/**
 * Runs `vt-harvest` with its peak RSS measured by `/usr/bin/time -v` (Maximum resident set size, KiB), or by a
 * preloaded module that reports `process.resourceUsage().maxRSS` when `/usr/bin/time` is missing.
 */
export const runCliMeasured = async (args, options = {}) => {
  if (gnuTime !== undefined) {
    const result = await run(gnuTime, ["-v", process.execPath, cliBin, ...args], options)
    const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)
    return { ...result, maxRssKiB: match === null ? undefined : Number(match[1]), rssSource: "/usr/bin/time -v" }
  }
  const report = path.join(os.tmpdir(), `vt-harvest-bench-rss-${process.pid}-${Date.now()}.txt`)
  const result = await run(process.execPath, ["--import", path.join(root, "bench/maxrss.mjs"), cliBin, ...args], {
    ...options,
    env: { ...(options.env ?? process.env), VT_BENCH_MAXRSS_FILE: report }
  })
  const text = fs.existsSync(report) ? fs.readFileSync(report, "utf8") : ""
  fs.rmSync(report, { force: true })
  return {
    ...result,
    maxRssKiB: text === "" ? undefined : Number(text),
    rssSource: "process.resourceUsage().maxRSS"
  }
}

/** The CLI's final summary line, parsed. */
export const summary = (stderr) => {
  const match = /summary: saved (\d+), not found (\d+), skipped (\d+), invalid (\d+), failed (\d+), requests (\d+)/
    .exec(stderr)
  if (match === null) return undefined
  const [saved, notFound, skipped, invalid, failed, requests] = match.slice(1).map(Number)
  return { saved, notFound, skipped, invalid, failed, requests }
}

/** Fails loudly when a run did not end as expected, showing the end of its output. */
export const expectExit = (result, what, code = 0) => {
  if (result.code !== code || result.timedOut) {
    throw new Error(
      `${what}: exit ${result.code}${result.signal ? ` (${result.signal})` : ""}${
        result.timedOut ? " after the time limit" : ""
      }\n${result.stderr.slice(-2000)}`
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The emulator in its own process

/**
 * Starts `vt-emulator` on a free loopback port (`--port 0`) in its own process. `stop()` sends SIGTERM to that
 * process only, then SIGKILL if it is still there after 5 s.
 */
export const startEmulator = (flags = []) =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [emulatorBin, "--host", "127.0.0.1", "--port", "0", "--api-key", apiKey, ...flags],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let out = ""
    let err = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`vt-emulator did not start within 10 s: ${err}`))
    }, 10_000)
    child.stderr.setEncoding("utf8").on("data", (chunk) => (err += chunk))
    child.on("error", reject)
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`vt-emulator exited (${code}): ${err}`))
    })
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      out += chunk
      const match = /listening on (http:\/\/127\.0\.0\.1:(\d+)\/api\/v3)/.exec(out)
      if (match === null) return
      clearTimeout(timer)
      child.removeAllListeners("exit")
      child.stdout.removeAllListeners("data")
      child.stdout.resume()
      const url = match[1]
      const origin = new URL(url).origin
      resolve({
        url,
        origin,
        port: Number(match[2]),
        pid: child.pid,
        /** The request log: `{ method, path, id?, status, at, fault? }` per request, oldest first. */
        requests: async () => (await (await fetch(`${origin}/_emulator/requests`)).json()).requests,
        /** Clears the request log and every key's quota usage. */
        reset: async () => {
          await (await fetch(`${origin}/_emulator/reset`, { method: "POST" })).arrayBuffer()
        },
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done()
            const kill = setTimeout(() => child.kill("SIGKILL"), 5_000)
            child.once("exit", () => {
              clearTimeout(kill)
              done()
            })
            child.kill("SIGTERM")
          })
      })
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// Id lists

const sha256 = (text) => crypto.createHash("sha256").update(text).digest("hex")

/** `count` distinct SHA-256 ids the emulator knows (200 with a report), deterministic for a `tag`. */
export const knownIds = (count, tag) => {
  const ids = []
  for (let i = 0; ids.length < count && i < count * 3; i++) {
    const id = sha256(`${tag}-${i}`)
    if (VtEmulator.isKnown(id)) ids.push(id)
  }
  return ids
}

/** `count` distinct SHA-256 ids, known or not (about 19 % are unknown to the emulator: 404, a not-found record). */
export const anyIds = (count, tag) => {
  const ids = new Array(count)
  for (let i = 0; i < count; i++) ids[i] = sha256(`${tag}-${i}`)
  return ids
}

/** Writes lines to a file in chunks (never one huge string). */
export const writeLines = (file, count, line) => {
  const fd = fs.openSync(file, "w")
  try {
    let chunk = []
    for (let i = 0; i < count; i++) {
      chunk.push(line(i))
      if (chunk.length === 10_000) {
        fs.writeSync(fd, chunk.join("\n") + "\n")
        chunk = []
      }
    }
    if (chunk.length > 0) fs.writeSync(fd, chunk.join("\n") + "\n")
  } finally {
    fs.closeSync(fd)
  }
}

/** The average size in bytes of the report the emulator serves for these ids. */
export const reportBytes = (ids) => {
  const sample = ids.slice(0, 200)
  return sample.reduce((sum, id) => sum + VtEmulator.fileDocument(id).length, 0) / sample.length
}

// ---------------------------------------------------------------------------------------------------------------
// bench/RESULTS.md

const header = `# Benchmark results

Measured by the scripts in \`bench/\` (plain Node, no test framework; not part of \`pnpm test\`). Reproduce all of
them with \`corepack pnpm bench\` from the repository root (it builds first), or one section with
\`corepack pnpm bench <section>\` / \`node bench/<section>.mjs\` after \`corepack pnpm build\`. Each script rewrites
its own section below; the numbers are from the latest run on the machine named in the section. The machine is
shared, so each section records the load average around its measurements.
`

const order = ["overview", "startup", "cpu", "throughput", "breakdown", "bounds", "memory", "quota", "ledger"]

/** Replaces (or adds) the section `name` of bench/RESULTS.md, keeping the others. */
export const writeSection = (name, markdown) => {
  const existing = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, "utf8") : header
  const sections = new Map()
  const pattern = /<!-- section:(\w+) -->\n([\s\S]*?)<!-- \/section:\1 -->\n?/g
  for (const match of existing.matchAll(pattern)) sections.set(match[1], match[2])
  sections.set(name, markdown.endsWith("\n") ? markdown : `${markdown}\n`)
  const names = [...order.filter((n) => sections.has(n)), ...[...sections.keys()].filter((n) => !order.includes(n))]
  const body = names.map((n) => `<!-- section:${n} -->\n${sections.get(n)}<!-- /section:${n} -->\n`).join("\n")
  fs.writeFileSync(resultsFile, `${header}\n${body}`)
  log(`wrote the ${name} section of ${path.relative(root, resultsFile)}`)
}

/** The lines every section starts with: how to reproduce it, the machine, the date and the load. */
export const preamble = (command, loadBefore) =>
  [
    `Reproduce: \`${command}\` (after \`corepack pnpm build\`; \`corepack pnpm bench\` builds and runs every section).`,
    "",
    `- Machine: ${machine()}`,
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- Load average before / after: ${loadBefore} → ${load()}`
  ].join("\n")
