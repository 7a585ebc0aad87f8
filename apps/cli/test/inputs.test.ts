// Inputs at the edges, on the built CLI: pipes, FIFOs, /dev/stdin and process substitutions read once as they
// stream (also on a terminal, where the progress bar counts the lines of regular files only), and inputs that are
// not lists at all (/dev/zero, a binary file, an endless line) stopped with a message in bounded memory. The same
// for the small files read whole: --api-key-file and .env.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cliWords, emulatorSuite, hashes, readJsonFiles, runCli, runShell, sh, underTerminal } from "./helpers.js"

const key = "inputs-test-key-Qm4c81Zr0x"
const suite = emulatorSuite(key, "inputs")
const scratch = suite.scratch

// A heap far below what an input read whole would take: a run that buffers /dev/zero dies of it (exit 134).
const boundedHeap = { NODE_OPTIONS: "--max-old-space-size=96" }

const common = () => ["-o", "out", "--log-dir", "log", "--base-url", suite.server.url, "--tier", "premium"]
const words = (args: ReadonlyArray<string>) => args.map(sh).join(" ")
const fileRequests = () => suite.server.requests.filter((r) => r.path.includes("/files/"))

/** A list of known and unknown hashes in `<dir>/list.txt`. */
const list = (dir: string) => {
  const known = hashes(12, true, "inputs")
  const unknown = hashes(3, false, "inputs")
  fs.writeFileSync(path.join(dir, "list.txt"), [...known, ...unknown].join("\n") + "\n")
  return { known, unknown }
}

const expectAllKept = (dir: string, ids: { known: Array<string>; unknown: Array<string> }) => {
  expect(readJsonFiles(path.join(dir, "out"))).toEqual(ids.known.map((id) => `${id}.json`).sort())
  expect(readJsonFiles(path.join(dir, "out", "_not_found"))).toEqual(ids.unknown.map((id) => `${id}.json`).sort())
}

describe("a pipe, a FIFO, /dev/stdin or a process substitution is read once, as it streams", () => {
  it("on a terminal, `cat list | vt-harvest files /dev/stdin` saves every id", async () => {
    const dir = scratch()
    const ids = list(dir)
    const result = await underTerminal(`cat list.txt | ${cliWords} files /dev/stdin ${words(common())}`, {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("summary: saved 12, not found 3, skipped 0, invalid 0, failed 0, requests 15")
    expectAllKept(dir, ids)
    expect(fileRequests()).toHaveLength(15)
  }, 40_000)

  it(
    "on a terminal with NO_COLOR, the progress line still erases itself: no colour, the summary line clean",
    async () => {
      const dir = scratch()
      list(dir)
      const paced = [...common().filter((arg) => arg !== "--tier" && arg !== "premium"), "--per-minute", "300"]
      const result = await underTerminal(`${cliWords} files list.txt ${words(paced)}`, {
        cwd: dir,
        env: { VT_API_KEY: key, NO_COLOR: "1" }
      })
      expect(result.code, result.stdout).toBe(0)
      // Each redraw and the last clear go back to the start of the line and erase it (ESC [ K is no colour).
      expect(result.stdout).toContain("\r\u001b[K")
      expect(result.stdout).not.toMatch(/\u001b\[[0-9;]*m/)
      const summary = result.stdout.split(/\r?\n/).find((line) => line.includes("summary: saved"))
      expect(summary?.replace(/^[\s\S]*\u001b\[K/, "")).toMatch(/^summary: saved 12, not found 3, .*requests 15$/)
    },
    40_000
  )

  it("on a terminal, a FIFO whose writer comes later is read to its end: no hang, every id saved", async () => {
    const dir = scratch()
    const ids = list(dir)
    const result = await underTerminal(
      `mkfifo ids.fifo && { sleep 1; cat list.txt > ids.fifo; } & ${cliWords} files ids.fifo ${words(common())}`,
      { cwd: dir, env: { VT_API_KEY: key } }
    )
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("summary: saved 12, not found 3")
    expectAllKept(dir, ids)
  }, 40_000)

  it("on a terminal, a process substitution <(cmd) is read once: every id saved", async () => {
    const dir = scratch()
    const ids = list(dir)
    const inner = `${cliWords} files <(cat list.txt) ${words(common())}`
    const result = await underTerminal(`bash -c ${sh(inner)}`, { cwd: dir, env: { VT_API_KEY: key } })
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("summary: saved 12, not found 3")
    expectAllKept(dir, ids)
  }, 40_000)
})

describe("an input that is not a list of ids stops the run in bounded memory, with a message", () => {
  it(
    "/dev/zero: exit 1, `line 1 is longer than 1 MiB (binary data…)`, nothing sent, within a 96 MiB heap",
    async () => {
      const dir = scratch()
      const result = await runCli(["files", "/dev/zero", ...common(), "--no-progress"], {
        cwd: dir,
        env: { VT_API_KEY: key, ...boundedHeap }
      })
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(
        "input \"/dev/zero\": line 1 is longer than 1 MiB (binary data: NUL bytes); not a list of ids, stopped"
      )
      expect(result.stderr).toMatch(/summary: saved 0, .*requests \d+/)
      expect(fileRequests()).toHaveLength(0)
    },
    40_000
  )

  it("/dev/zero on a terminal: the run ends (exit 1), no hang", async () => {
    const dir = scratch()
    const result = await underTerminal(`${cliWords} files /dev/zero ${words(common())}`, {
      cwd: dir,
      env: { VT_API_KEY: key, ...boundedHeap }
    })
    expect(result.timedOut).toBe(false)
    expect(result.code).toBe(1)
    expect(result.stdout).toContain("line 1 is longer than 1 MiB (binary data: NUL bytes)")
  }, 40_000)

  it("a binary file: exit 1 at the 9th line holding a NUL byte, named; no request for garbage", async () => {
    const dir = scratch()
    // Bytes as a compiler leaves them: every value, line feeds and NULs among them.
    const garbage = Buffer.alloc(3 * 1024 * 1024)
    for (let i = 0, x = 7; i < garbage.length; i++) garbage[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
    fs.writeFileSync(path.join(dir, "sample.bin"), garbage)
    let ninth = 0
    for (let start = 0, number = 1, nul = 0; nul < 9; number++) {
      const end = garbage.indexOf(10, start)
      if (garbage.subarray(start, end).includes(0) && ++nul === 9) ninth = number
      start = end + 1
    }
    const result = await runCli(["files", "sample.bin", ...common(), "--no-progress"], {
      cwd: dir,
      env: { VT_API_KEY: key, ...boundedHeap }
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `input "sample.bin": line ${ninth} is the 9th line holding a NUL byte: binary data; not a list of ids, stopped`
    )
    expect(fileRequests()).toHaveLength(0)
    expect(result.stderr.split("\n").length).toBeLessThan(400)
  }, 40_000)

  it("a line over 1 MiB (no line break in 200 MiB): exit 1, `line 3 is longer than 1 MiB`, bounded", async () => {
    const dir = scratch()
    const [a, b] = hashes(2, true, "long-line")
    const inner = `{ printf '%s\\n%s\\n' ${a} ${b}; head -c 209715200 /dev/zero | tr '\\0' a; } | ${cliWords} files - ${
      words(common())
    } --no-progress`
    const result = await runShell(inner, { cwd: dir, env: { VT_API_KEY: key, ...boundedHeap } })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("input standard input: line 3 is longer than 1 MiB; not a list of ids, stopped")
    expect(result.stderr).not.toContain("heap out of memory")
  }, 60_000)
})

describe("--api-key-file and .env are read whole but bounded", () => {
  it("--api-key-file /dev/zero: exit 2 at once, `larger than 4 KiB`, nothing sent", async () => {
    const dir = scratch()
    list(dir)
    // Killed after 10 s: a reader that reads without bound takes gigabytes within that time.
    const result = await runShell(`${cliWords} files list.txt ${words(common())} --api-key-file /dev/zero`, {
      cwd: dir,
      env: boundedHeap,
      deadlineMs: 10_000
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("cannot read --api-key-file \"/dev/zero\": larger than 4 KiB")
    expect(suite.server.requests).toHaveLength(0)
  }, 20_000)

  it("--api-key-file <(cmd), a process substitution, supplies the key", async () => {
    const dir = scratch()
    const ids = list(dir)
    const inner = `${cliWords} files list.txt ${words(common())} --no-progress --api-key-file <(printf '%s\\n' ${
      sh(key)
    })`
    const result = await runShell(`bash -c ${sh(inner)}`, { cwd: dir })
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("summary: saved 12, not found 3")
    expectAllKept(dir, ids)
  }, 40_000)

  it("a FIFO .env is passed over, not opened: exit 2 `no API key … (.env ignored: not a regular file)`", async () => {
    const dir = scratch()
    list(dir)
    const result = await runShell(`mkfifo .env && ${cliWords} files list.txt ${words(common())}`, { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("no API key")
    expect(result.stderr).toContain("(.env ignored: not a regular file)")
    expect(suite.server.requests).toHaveLength(0)
  }, 30_000)

  it("a .env larger than 64 KiB is passed over; a small one supplies the key", async () => {
    const dir = scratch()
    const ids = list(dir)
    fs.writeFileSync(path.join(dir, ".env"), `VT_API_KEY=${key}\n` + "#".repeat(70 * 1024) + "\n")
    const big = await runCli(["files", "list.txt", ...common(), "--no-progress"], { cwd: dir })
    expect(big.code).toBe(2)
    expect(big.stderr).toContain("(.env ignored: larger than 64 KiB)")
    fs.writeFileSync(path.join(dir, ".env"), `# the key\nexport VT_API_KEY="${key}"  # quoted\n`)
    const small = await runCli(["files", "list.txt", ...common(), "--no-progress"], { cwd: dir })
    expect(small.code).toBe(0)
    expectAllKept(dir, ids)
  }, 30_000)
})
