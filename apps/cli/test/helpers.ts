import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, beforeEach, expect } from "vitest"

export const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/vt-harvest.js")

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Spawns the built CLI as a user would: no TTY, a clean environment plus what the test gives. */
/** Spawns the built CLI and hands back the child, for tests that signal it mid-run. */
export const startCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string } = {}
) => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => (stdout += chunk))
  child.stderr.on("data", (chunk) => (stderr += chunk))
  const done = new Promise<Result>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, done }
}

export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly stdin?: string } = {}
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
    child.stdin.end(options.stdin ?? "")
  })

export const tempDir = (prefix = "vt-harvest-cli-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

const hex = (alg: string, seed: string) => crypto.createHash(alg).update(seed).digest("hex")

/** Deterministic hashes the emulator knows (or not), of the three kinds. */
export const hashes = (count: number, known: boolean, tag = "t"): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; out.length < count; i++) {
    const id = hex(["sha256", "md5", "sha1"][i % 3], `${tag}-${i}`)
    if (VtEmulator.isKnown(id) === known) out.push(id)
  }
  return out
}

/** Everything the run logs wrote under `<dir>/log` (the directory the suites' runs log to), oldest first. */
export const runLog = (dir: string): string => {
  const logDir = path.join(dir, "log")
  return fs.existsSync(logDir)
    ? fs.readdirSync(logDir).sort().map((name) => fs.readFileSync(path.join(logDir, name), "utf8")).join("\n")
    : ""
}

export const readJsonFiles = (dir: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith(".json")).sort() : []

/** Quotes a word for a POSIX shell. */
export const sh = (word: string) => `'${word.replaceAll("'", "'\\''")}'`

/** The shell words that run the built CLI (for commands given to a shell, as in {@link underTerminal}). */
export const cliWords = `${sh(process.execPath)} ${sh(bin)}`

/**
 * Runs a shell command under a pseudo-terminal (`script` from util-linux): stdin, stdout and stderr of the command
 * are a TTY, their output comes back merged. A run still going after `deadlineMs` is killed (and says so in `code`).
 */
export const underTerminal = (
  command: string,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly deadlineMs?: number } = {}
): Promise<Result & { readonly timedOut: boolean }> =>
  new Promise((resolve, reject) => {
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: options.cwd ?? process.cwd(),
      env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), TERM: "xterm", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL")
      } catch {
        // already gone
      }
    }, options.deadlineMs ?? 30_000)
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })

/**
 * Runs a shell command (`sh -c`) off a terminal, with a clean environment plus what the test gives; killed after
 * `deadlineMs` (then `code` is null), so that a hang fails the test instead of stalling it.
 */
export const runShell = (
  command: string,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly deadlineMs?: number } = {}
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], {
      cwd: options.cwd ?? process.cwd(),
      env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    let stdout = ""
    let stderr = ""
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL")
      } catch {
        // already gone
      }
    }, options.deadlineMs ?? 20_000)
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

/**
 * The set-up of a test file that runs the CLI against one emulator: started before its tests (accepting `key`),
 * its log and quota cleared before each, stopped after them with every scratch directory `scratch` made.
 */
export const emulatorSuite = (key: string, name: string, options: Omit<VtEmulator.Options, "apiKeys"> = {}) => {
  let server: VtEmulator.Server | undefined
  const dirs: Array<string> = []
  beforeAll(async () => {
    server = await VtEmulator.start({ ...options, apiKeys: [key] })
  })
  afterAll(async () => {
    await server?.close()
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  })
  beforeEach(() => {
    server?.clearLog()
    server?.resetQuota()
    server?.update({ latencyMs: 0 })
  })
  return {
    get server(): VtEmulator.Server {
      if (server === undefined) throw new Error("the emulator is started before the tests")
      return server
    },
    scratch: () => {
      const dir = tempDir(`vt-harvest-${name}-`)
      dirs.push(dir)
      return dir
    },
    /** The options that run the CLI against this emulator as fast as it goes: `<dir>/log`, no probe, no progress. */
    fast: (dir: string) => fast(server!.url, dir),
    /** The CLI in `dir` against this emulator, as fast as it goes, into `<dir>/out`. */
    run: (dir: string, args: ReadonlyArray<string>) =>
      runCli([...args, "-o", path.join(dir, "out"), ...fast(server!.url, dir)], { env: { VT_API_KEY: key }, cwd: dir }),
    /**
     * The CLI as {@link run} starts it, killed with SIGKILL as soon as `when` holds (asked each few milliseconds,
     * typically of the emulator's request log); fails if the run ends before that.
     */
    killedWhen: async (dir: string, args: ReadonlyArray<string>, when: () => boolean): Promise<Result> => {
      const { child, done } = startCli([...args, "-o", path.join(dir, "out"), ...fast(server!.url, dir)], {
        env: { VT_API_KEY: key },
        cwd: dir
      })
      let ended: Result | undefined
      void done.then((result) => (ended = result))
      while (!when()) {
        if (ended !== undefined) throw new Error(`the run ended before it was killed (${ended.code}): ${ended.stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      child.kill("SIGKILL")
      return done
    }
  }
}

const fast = (url: string, dir: string): ReadonlyArray<string> => [
  "--log-dir",
  path.join(dir, "log"),
  "--base-url",
  url,
  "--per-minute",
  "60000",
  "--no-progress",
  "--no-quota-probe"
]

/** A small RFC 4180 reader, to check that CSV output round-trips. */
export const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let field = ""
  let current: Array<string> = []
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") {
        field += "\""
        i++
      } else if (c === "\"") quoted = false
      else field += c
    } else if (c === "\"") quoted = true
    else if (c === ",") {
      current.push(field)
      field = ""
    } else if (c === "\n") {
      current.push(field)
      rows.push(current)
      current = []
      field = ""
    } else field += c
  }
  return rows
}

/**
 * Every file below `dir` (none when it does not exist), by its path relative to `dir`, sorted; the store's
 * temporaries (names starting with `.`, never a record) apart.
 */
export const storeFiles = (dir: string): { readonly records: Array<string>; readonly temporaries: Array<string> } => {
  const records: Array<string> = []
  const temporaries: Array<string> = []
  const walk = (relative: string) => {
    for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const name = path.join(relative, entry.name)
      if (entry.isDirectory()) walk(name)
      else (entry.name.startsWith(".") ? temporaries : records).push(name)
    }
  }
  if (fs.existsSync(dir)) walk("")
  return { records: records.sort(), temporaries: temporaries.sort() }
}

/**
 * What a store below `dir` holds under final names, each record read and parsed: a file there that is not a whole
 * JSON document fails the test. Answers the records by relative path, with their bytes.
 */
export const completeRecords = (dir: string): Map<string, Buffer> => {
  const records = new Map<string, Buffer>()
  for (const name of storeFiles(dir).records) {
    expect(name, "a record's name").toMatch(/\.json$/)
    const bytes = fs.readFileSync(path.join(dir, name))
    expect(() => JSON.parse(bytes.toString("utf8")), `${name} is whole JSON`).not.toThrow()
    records.set(name, bytes)
  }
  return records
}
