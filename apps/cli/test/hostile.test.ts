// The guarantees of DESIGN.md ("each one has a hostile end-to-end test"), checked on the built CLI against a server
// that answers the way proxies, broken servers and malicious ones do. Every test asserts figures: requests the
// server received, the exit status, the bytes stored, the peak memory of the process, the time a run took.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Result } from "./helpers.js"
import { hashes, readJsonFiles, runLog, startCli, tempDir } from "./helpers.js"
import type { FileHandler, Handler, HostileServer } from "./hostileServer.js"
import * as Hostile from "./hostileServer.js"

const KEY = "hostile-key-Vq83mZ1xR7tL0p"
const MiB = 1024 * 1024

const dirs: Array<string> = []
const scratch = () => {
  const dir = tempDir("vt-harvest-hostile-")
  dirs.push(dir)
  return dir
}
/** Directories made immutable (chattr +i) by a test, made mutable again before the temporary directories go. */
const immutable = new Set<string>()
const mutable = (dir: string) => {
  if (immutable.delete(dir)) spawnSync("chattr", ["-i", dir])
}
afterAll(() => {
  for (const dir of [...immutable]) mutable(dir)
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The largest resident set the process has had so far (VmHWM), in bytes; undefined once it is gone. */
const peakRss = (pid: number): number | undefined => {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

interface Watched extends Result {
  /** From spawn to exit. */
  readonly elapsedMs: number
  /** The highest VmHWM read while the process ran (read every 20 ms). */
  readonly peakRssBytes: number
  /** Whether the watcher had to SIGKILL it (deadline passed or memory above the guard). */
  readonly killed: "deadline" | "memory" | undefined
}

/**
 * Runs the CLI to its end, reading its peak RSS all along. A run that outlives `deadlineMs`, or whose RSS passes
 * `memoryGuardBytes` (so that a CLI that buffers an endless body cannot take the machine down), is SIGKILLed.
 * `stopAfter`: answers when to send SIGTERM (the tests of a run that is meant to pause).
 */
const watch = async (
  args: ReadonlyArray<string>,
  options: {
    readonly cwd: string
    readonly env?: Record<string, string>
    readonly deadlineMs: number
    readonly memoryGuardBytes?: number
    readonly stopAfter?: () => Promise<void>
  }
): Promise<Watched> => {
  const started = Date.now()
  const { child, done } = startCli(args, { cwd: options.cwd, env: { VT_API_KEY: KEY, ...options.env } })
  const pid = child.pid ?? -1
  let peak = 0
  let killed: Watched["killed"]
  let exited = false
  const finished = done.finally(() => (exited = true))
  const poll = (async () => {
    while (!exited) {
      peak = Math.max(peak, peakRss(pid) ?? 0)
      if (killed === undefined && peak > (options.memoryGuardBytes ?? 1536 * MiB)) {
        killed = "memory"
        child.kill("SIGKILL")
      }
      if (killed === undefined && Date.now() - started > options.deadlineMs) {
        killed = "deadline"
        child.kill("SIGKILL")
      }
      await sleep(20)
    }
  })()
  if (options.stopAfter !== undefined) {
    await Promise.race([options.stopAfter(), finished])
    if (!exited) child.kill("SIGTERM")
  }
  const result = await finished
  await poll
  const watched = { ...result, elapsedMs: Date.now() - started, peakRssBytes: peak, killed }
  // HOSTILE_DEBUG=1 shows what each run did, to see why a guarantee does not hold.
  if ((process.env.HOSTILE_DEBUG ?? "") !== "") {
    const { stderr, stdout: _stdout, ...figures } = watched
    console.log(JSON.stringify({ args: args.slice(0, 2), ...figures }), `\n${stderr.slice(-3000)}`)
  }
  return watched
}

/** A working directory with `in.txt` holding the ids, and the arguments of `files` against the server. */
const filesRun = (server: HostileServer, ids: ReadonlyArray<string>, extra: ReadonlyArray<string> = []) => {
  const dir = scratch()
  fs.writeFileSync(path.join(dir, "in.txt"), ids.join("\n") + "\n")
  const args = [
    "files",
    "in.txt",
    "-o",
    "out",
    "--base-url",
    server.url,
    "--tier",
    "premium",
    "--no-progress",
    "--log-dir",
    "log",
    ...extra
  ]
  return { dir, out: path.join(dir, "out"), args }
}

/** Every regular file under a directory with its size. */
const filesUnder = (dir: string): Array<{ readonly file: string; readonly size: number }> => {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    return entry.isDirectory() ? filesUnder(file) : [{ file, size: fs.statSync(file).size }]
  })
}

/** Resolves once the server has received `count` file report requests (or after `timeoutMs`). */
const untilFileRequests = async (server: HostileServer, count: number, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (server.fileRequests().length < count && Date.now() < deadline) await sleep(20)
}

const byId =
  (handlers: Record<string, FileHandler>, fallback: FileHandler = Hostile.answers.report): FileHandler =>
  (request, response, context) => (handlers[context.id] ?? fallback)(request, response, context)

const asFile = (handler: Handler): FileHandler => (request, response) => handler(request, response)

/** `count` distinct SHA-256 (or MD5) ids the emulator's documents describe. */
const ofLength = (length: number) => (count: number, tag: string): Array<string> => {
  const ids = hashes(count * 8, true, tag).filter((id) => id.length === length).slice(0, count)
  if (ids.length !== count) throw new Error(`only ${ids.length} ids of length ${length} for ${tag}`)
  return ids
}
const sha256s = ofLength(64)
const md5s = ofLength(32)

const expectSaved = (out: string, ids: ReadonlyArray<string>) => {
  expect(readJsonFiles(out)).toEqual(ids.map((id) => `${id}.json`).sort())
  for (const id of ids) {
    expect(Buffer.compare(fs.readFileSync(path.join(out, `${id}.json`)), Buffer.from(VtEmulator.fileDocument(id))))
      .toBe(0)
  }
}

describe("a refused key stops the run: exit 3, nothing sent after the refusal", () => {
  const cases: ReadonlyArray<readonly [string, Handler]> = [
    ["an HTML 401 from a proxy", Hostile.answers.html(401, "Authorization Required")],
    ["an HTML 403 from a proxy", Hostile.answers.html(403, "Forbidden")],
    ["a JSON 401 WrongCredentialsError", Hostile.answers.error(401, "WrongCredentialsError", "Wrong API key")],
    ["a JSON 403 ForbiddenError", Hostile.answers.error(403, "ForbiddenError", "You are not allowed")]
  ]
  it.each(cases)("%s on the first file request: exit 3, exactly 1 file request for 10 ids", async (_name, handler) => {
    const server = await Hostile.start({ files: asFile(handler) })
    try {
      const ids = sha256s(10, "refused")
      const { args, dir, out } = filesRun(server, ids, ["--concurrency", "1"])
      const result = await watch(args, { cwd: dir, deadlineMs: 50_000 })
      expect(result.code).toBe(3)
      expect(server.fileRequests()).toHaveLength(1)
      // Nothing at all (no other id, no quota request) after the refused request.
      const refused = server.requests.indexOf(server.fileRequests()[0])
      expect(server.requests.slice(refused + 1).map((r) => `${r.method} ${r.path}`)).toEqual([])
      expect(readJsonFiles(out)).toEqual([])
    } finally {
      await server.close()
    }
  }, 60_000)
})

describe("a 429 without a VirusTotal error document is a spent quota: every worker pauses", () => {
  const cases: ReadonlyArray<readonly [string, Handler]> = [
    ["an empty body", Hostile.answers.fixed(429, "")],
    ["a text body", Hostile.answers.fixed(429, "Too Many Requests\n", { "content-type": "text/plain" })]
  ]
  // The pause after a 429 on a premium key whose window is unknown is one minute (QuotaPolicy.quotaWindow) and no flag
  // shortens it: the run is watched for 5 s after its first file request, then stopped with SIGTERM.
  it.each(cases)(
    "429 with %s to the first 2 requests at concurrency 3: at most 3 file requests in 5 s, then SIGTERM: exit 143",
    async (_name, handler) => {
      const server = await Hostile.start({
        files: (request, response, context) =>
          (context.index < 2 ? asFile(handler) : Hostile.answers.report)(request, response, context)
      })
      try {
        const ids = sha256s(10, "bare-429")
        const { args, dir, out } = filesRun(server, ids, ["--concurrency", "3"])
        const result = await watch(args, {
          cwd: dir,
          deadlineMs: 50_000,
          stopAfter: async () => {
            await untilFileRequests(server, 1)
            await sleep(5_000)
          }
        })
        const requested = server.fileRequests().map((r) => r.path)
        // The 3 workers' first requests may all be in flight when the first 429 arrives; none is sent after it.
        expect(requested.length).toBeLessThanOrEqual(3)
        expect(new Set(requested).size).toBe(requested.length)
        expect(result.code).toBe(143)
        expect(readJsonFiles(out).length).toBeLessThanOrEqual(1)
        expect(runLog(dir)).toMatch(/waiting until \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z to request again/)
      } finally {
        await server.close()
      }
    },
    60_000
  )
})

describe("answers are bounded: size after decompression, gzip ratio, memory", () => {
  it("an endless 200 body: that id fails, nothing stored for it, peak RSS < 300 MB, exit 1 within 50 s", async () => {
    const [endless, ...normal] = sha256s(3, "endless")
    const server = await Hostile.start({ files: byId({ [endless]: Hostile.answers.endless }) })
    try {
      const { args, dir, out } = filesRun(server, [endless, ...normal])
      const result = await watch(args, { cwd: dir, deadlineMs: 50_000 })
      expect(result.killed).toBeUndefined()
      expect(result.peakRssBytes).toBeGreaterThan(0)
      expect(result.peakRssBytes).toBeLessThan(300 * 1000 * 1000)
      expect(result.code).toBe(1)
      expect(result.elapsedMs).toBeLessThan(50_000)
      expectSaved(out, normal)
      expect(filesUnder(out).filter(({ file }) => path.basename(file).startsWith(endless))).toEqual([])
      expect(result.stderr).toMatch(/failed 1\b/)
    } finally {
      await server.close()
    }
  }, 60_000)

  describe("a gzip bomb", () => {
    let bomb: Buffer
    const [bombed, ...normal] = sha256s(3, "bomb")
    beforeAll(async () => {
      bomb = await Hostile.gzipBomb(bombed, 400 * MiB)
    }, 60_000)

    it(
      "~400 KB of gzip inflating to 400 MiB: nothing stored for it, no file > 64 MiB, others saved, exit 1",
      async () => {
        expect(bomb.length).toBeLessThan(1 * MiB)
        const server = await Hostile.start({
          files: byId({
            [bombed]: asFile(
              Hostile.answers.fixed(200, bomb, { "content-type": "application/json", "content-encoding": "gzip" })
            )
          })
        })
        try {
          const { args, dir, out } = filesRun(server, [bombed, ...normal])
          const result = await watch(args, { cwd: dir, deadlineMs: 50_000 })
          expect(result.killed).toBeUndefined()
          expect(result.code).toBe(1)
          expect(filesUnder(out).filter(({ size }) => size > 64 * MiB)).toEqual([])
          expect(filesUnder(out).filter(({ file }) => path.basename(file).startsWith(bombed))).toEqual([])
          expectSaved(out, normal)
          expect(result.peakRssBytes).toBeLessThan(300 * 1000 * 1000)
          expect(result.stderr).toMatch(/failed 1\b/)
        } finally {
          await server.close()
        }
      },
      60_000
    )
  })
})

describe("a 200 is stored only if it is the object asked for", () => {
  it("another data.id, data.type \"url\", an MD5 whose attributes differ: none stored, 3 failed, exit 1", async () => {
    const [asked, other, typed, ok] = sha256s(4, "wrong-object")
    const [md5, otherMd5] = md5s(2, "wrong-object")
    const server = await Hostile.start({
      files: byId({
        [asked]: (request, response) => Hostile.answers.report(request, response, { index: 0, id: other }),
        [typed]: asFile(
          Hostile.answers.fixed(200, JSON.stringify({ data: { id: typed, type: "url", attributes: {} } }), {
            "content-type": "application/json"
          })
        ),
        [md5]: (request, response) => Hostile.answers.report(request, response, { index: 0, id: otherMd5 })
      })
    })
    try {
      const { args, dir, out } = filesRun(server, [asked, typed, md5, ok])
      const result = await watch(args, { cwd: dir, deadlineMs: 50_000 })
      expect(result.code).toBe(1)
      expectSaved(out, [ok])
      expect(filesUnder(out).map(({ file }) => path.relative(out, file))).toEqual([`${ok}.json`])
      expect(result.stderr).toMatch(/saved 1\b/)
      expect(result.stderr).toMatch(/failed 3\b/)
    } finally {
      await server.close()
    }
  }, 60_000)

  it("a 200 whose body is an HTML page, then the report: asked again with backoff, saved, exit 0", async () => {
    const [id] = sha256s(1, "html-200")
    const page = Hostile.answers.html(200, "OK")
    const server = await Hostile.start({
      files: (request, response, context) =>
        context.index === 0 ? page(request, response) : Hostile.answers.report(request, response, context)
    })
    try {
      const { args, dir, out } = filesRun(server, [id])
      const result = await watch(args, { cwd: dir, deadlineMs: 50_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(server.fileRequests()).toHaveLength(2)
      expectSaved(out, [id])
      expect(runLog(dir)).toContain("retrying after ResponseDecodeError")
    } finally {
      await server.close()
    }
  }, 60_000)

  /** `comment add` on a file against a server whose POSTs `answer` answers: the run and the POSTs it sent. */
  const commentAdd = async (answer: Handler, extra: ReadonlyArray<string> = []) => {
    const server = await Hostile.start({
      other: (request, response) => {
        request.resume()
        request.on("end", () => answer(request, response))
      }
    })
    try {
      const result = await watch(
        ["comment", "add", "files", "44d88612fea8a8f36de82e1278abb02f", "hello", "--base-url", server.url, ...extra],
        { cwd: scratch(), deadlineMs: 50_000 }
      )
      return { result, posts: server.requests.filter((r) => r.method === "POST").length }
    } finally {
      await server.close()
    }
  }

  /** A 200 whose body starts, then is cut off (`destroy`) or never goes on. */
  const partial = (destroy: boolean): Handler => (_request, response) => {
    response.writeHead(200, { "content-type": "application/json", "content-length": 500 })
    response.write("{\"data\": {\"type\": \"comment\", \"id\": \"f-")
    if (destroy) setTimeout(() => response.destroy(), 20)
  }

  it(
    "a POST answered 200 with its body cut short: sent once, never again (the comment may be posted), exit 1",
    async () => {
      const cut = await commentAdd(partial(true))
      expect(cut.result.code, cut.result.stderr).toBe(1)
      expect(cut.posts).toBe(1)
      expect(cut.result.stderr).toContain("may have acted on it: not sent again")
      // A 200 whose body then stalls past --timeout: as cut short, not sent again.
      const stalled = await commentAdd(partial(false), ["--tier", "premium", "--timeout", "1"])
      expect(stalled.result.code, stalled.result.stderr).toBe(1)
      expect(stalled.posts).toBe(1)
      expect(stalled.result.stderr).toContain("then no complete body within 1s")
      expect(stalled.result.stderr).toContain("may have acted on it: not sent again")
      // A connection reset before any answer is no answer to the POST: sent again, and the retry is not told in
      // Effect's own log format.
      let answered = 0
      const created = Hostile.answers.fixed(
        200,
        JSON.stringify({ data: { type: "comment", id: "f-x-1", attributes: { text: "hello", date: 1 } } }),
        { "content-type": "application/json" }
      )
      const reset = await commentAdd(
        (request, response) => answered++ === 0 ? void request.socket.destroy() : created(request, response),
        ["--tier", "premium"]
      )
      expect(reset.result.code, reset.result.stderr).toBe(0)
      expect(reset.result.stdout).toBe("f-x-1\n")
      expect(reset.posts).toBe(2)
      expect(reset.result.stderr).not.toMatch(/fiber=|timestamp=/)
    },
    60_000
  )

  it(
    "an analysis answered with another id, another type or an unsafe id: none stored, each failed, exit 1",
    async () => {
      const asked = ["d3JvbmdpZDAx", "dHlwZWZpbGUx", "cGF0aC8uLi8x"]
      const answered: Record<string, object> = {
        [asked[0]]: { type: "analysis", id: "b3RoZXJpZDAx", attributes: { status: "completed", stats: {} } },
        [asked[1]]: { type: "file", id: asked[1], attributes: { status: "completed", stats: {} } },
        [asked[2]]: { type: "analysis", id: "../../PWNED", attributes: { status: "completed", stats: {} } }
      }
      const server = await Hostile.start({
        other: (request, response) => {
          const id = decodeURIComponent((request.url ?? "").split("/").pop() ?? "")
          const body = answered[id]
          if (body === undefined) return Hostile.answers.error(404, "NotFoundError")(request, response)
          Hostile.answers.fixed(200, JSON.stringify({ data: body }), { "content-type": "application/json" })(
            request,
            response
          )
        }
      })
      try {
        const dir = scratch()
        const result = await watch(
          ["analysis", ...asked, "-o", "out", "--log-dir", "log", "--base-url", server.url, "--tier", "premium"],
          { cwd: dir, deadlineMs: 50_000 }
        )
        expect(result.code, result.stderr).toBe(1)
        expect(filesUnder(path.join(dir, "out"))).toEqual([])
        expect(result.stderr.match(/not the object asked for/g)).toHaveLength(3)
        expect(result.stdout).not.toContain("PWNED")
        expect(result.stdout).not.toContain("b3RoZXJpZDAx")
      } finally {
        await server.close()
      }
    },
    60_000
  )

  it("--overwrite answered with another object: the report already stored stays byte-identical, exit 1", async () => {
    const [id, other] = sha256s(2, "overwrite-wrong")
    const server = await Hostile.start()
    try {
      const { args, dir, out } = filesRun(server, [id])
      const first = await watch(args, { cwd: dir, deadlineMs: 25_000 })
      expect(first.code).toBe(0)
      const stored = fs.readFileSync(path.join(out, `${id}.json`))
      expect(Buffer.compare(stored, Buffer.from(VtEmulator.fileDocument(id)))).toBe(0)
      const before = fs.statSync(path.join(out, `${id}.json`))
      server.setFiles((request, response) => Hostile.answers.report(request, response, { index: 0, id: other }))
      const second = await watch([...args, "--overwrite"], { cwd: dir, deadlineMs: 25_000 })
      expect(server.fileRequests().length).toBeGreaterThanOrEqual(2)
      expect(second.code).toBe(1)
      expect(Buffer.compare(fs.readFileSync(path.join(out, `${id}.json`)), stored)).toBe(0)
      expect(fs.statSync(path.join(out, `${id}.json`)).ino).toBe(before.ino)
      expect(filesUnder(out).map(({ file }) => path.relative(out, file))).toEqual([`${id}.json`])
    } finally {
      await server.close()
    }
  }, 60_000)
})

const opensslAvailable = spawnSync("openssl", ["version"]).status === 0
if (!opensslAvailable) console.warn("hostile.test.ts: openssl not found, the TLS test is skipped")

describe("a TLS failure stops the run at once, with a hint", () => {
  let tls: { key: Buffer; cert: Buffer } | undefined
  beforeAll(() => {
    if (!opensslAvailable) return
    const dir = scratch()
    const made = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-days",
      "1",
      "-keyout",
      path.join(dir, "key.pem"),
      "-out",
      path.join(dir, "cert.pem")
    ])
    if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`)
    tls = { key: fs.readFileSync(path.join(dir, "key.pem")), cert: fs.readFileSync(path.join(dir, "cert.pem")) }
  }, 30_000)

  it.skipIf(!opensslAvailable)(
    "a self-signed certificate, 5 ids: exit 1 in < 10 s, NODE_EXTRA_CA_CERTS named, no retry (requires openssl)",
    async () => {
      const server = await Hostile.start({ tls: tls! })
      try {
        const ids = sha256s(5, "tls")
        const { args, dir, out } = filesRun(server, ids)
        const result = await watch(args, { cwd: dir, deadlineMs: 14_000 })
        expect(result.killed).toBeUndefined()
        expect(result.elapsedMs).toBeLessThan(10_000)
        expect(result.code).toBe(1)
        expect(result.stderr).toContain("NODE_EXTRA_CA_CERTS")
        // At most one handshake for the quota request and one per id: nothing retried.
        expect(server.connections()).toBeLessThanOrEqual(1 + ids.length)
        expect(server.fileRequests()).toHaveLength(0)
        expect(readJsonFiles(out)).toEqual([])
      } finally {
        await server.close()
      }
    },
    20_000
  )
})

/** Whether a file can be created in `dir` (the probe is removed at once). */
const canCreateIn = (dir: string) => {
  const probe = path.join(dir, `.hostile-probe-${process.pid}`)
  try {
    fs.writeFileSync(probe, "")
    fs.rmSync(probe, { force: true })
    return true
  } catch {
    return false
  }
}

/**
 * Makes an existing directory refuse new entries: permissions do not stop root, so as root it is made immutable
 * (`chattr +i`: EPERM even for root, while its sub-directories stay writable); otherwise its mode becomes 0555.
 * Answers false when the directory still takes files (the test is then skipped).
 */
const refuseNewFiles = (dir: string): boolean => {
  if (process.getuid?.() === 0) {
    if (spawnSync("chattr", ["+i", dir]).status !== 0) return false
    immutable.add(dir)
  } else {
    fs.chmodSync(dir, 0o555)
  }
  return !canCreateIn(dir)
}

/** An existing directory of sysfs or procfs that refuses new entries even to root (mkdir of _not_found included). */
const systemDirectory = ["/sys/kernel", "/sys/fs", "/proc/driver"].find((dir) => {
  try {
    return fs.statSync(dir).isDirectory() && !canCreateIn(dir)
  } catch {
    return false
  }
})

describe("no quota is spent on reports that cannot be kept: the store is proven writable first", () => {
  /** Runs `files` on 5 ids whose reports the server has (or, with notFound, does not have) into `out`. */
  const runInto = async (out: (dir: string) => string, options: { readonly notFound?: boolean } = {}) => {
    const server = await Hostile.start(
      options.notFound === true ? { files: asFile(Hostile.answers.error(404, "NotFoundError", "not found")) } : {}
    )
    try {
      const ids = sha256s(5, "store")
      const { args, dir } = filesRun(server, ids)
      const outAt = args.indexOf("out")
      const target = out(dir)
      const result = await watch(args.map((arg, i) => (i === outAt ? target : arg)), { cwd: dir, deadlineMs: 25_000 })
      return { result, fileRequests: server.fileRequests().length, target }
    } finally {
      await server.close()
    }
  }

  it("-o under a regular file: exit status != 0, 0 file requests", async () => {
    const { fileRequests, result } = await runInto((dir) => {
      fs.writeFileSync(path.join(dir, "afile"), "not a directory\n")
      return path.join(dir, "afile", "out")
    })
    expect(result.code).not.toBe(0)
    expect(result.code).not.toBeNull()
    expect(fileRequests).toBe(0)
  }, 60_000)

  it(
    `-o a system directory that refuses new entries (${systemDirectory ?? "none here"}): exit != 0, 0 file requests`,
    async (context) => {
      if (systemDirectory === undefined) return context.skip()
      const { fileRequests, result } = await runInto(() => systemDirectory)
      expect(result.code).not.toBe(0)
      expect(result.code).not.toBeNull()
      expect(fileRequests).toBe(0)
    },
    60_000
  )

  it(
    "-o an existing directory that refuses new files, its _not_found/ writable: exit != 0, 0 file requests",
    async (context) => {
      let store = ""
      const { fileRequests, result } = await runInto((dir) => {
        store = path.join(dir, "store")
        fs.mkdirSync(path.join(store, "_not_found"), { recursive: true })
        if (!refuseNewFiles(store)) context.skip()
        return store
      })
      mutable(store)
      expect(result.code).not.toBe(0)
      expect(result.code).not.toBeNull()
      expect(fileRequests).toBe(0)
      expect(readJsonFiles(store)).toEqual([])
    },
    60_000
  )

  it(
    "-o a writable directory whose _not_found/ refuses new files, every id unknown: exit != 0, 0 file requests",
    async (context) => {
      let notFound = ""
      const { fileRequests, result, target } = await runInto((dir) => {
        const store = path.join(dir, "store")
        notFound = path.join(store, "_not_found")
        fs.mkdirSync(notFound, { recursive: true })
        if (!refuseNewFiles(notFound)) context.skip()
        return store
      }, { notFound: true })
      mutable(notFound)
      expect(result.code).not.toBe(0)
      expect(result.code).not.toBeNull()
      expect(fileRequests).toBe(0)
      expect(fs.readdirSync(notFound)).toEqual([])
      expect(readJsonFiles(target)).toEqual([])
    },
    60_000
  )
})

describe("the key goes only to the API's origin", () => {
  it("scan of a 33 MiB file: the upload_url on 127.0.0.2 gets no request (so never the key), exit 1", async () => {
    const foreign = await Hostile.start({
      host: "127.0.0.2",
      other: (request, response) => {
        request.on("end", () => Hostile.answers.error(400, "BadRequestError", "not here")(request, response))
        request.resume()
      }
    })
    // The upload URL names another host of the loopback network (127.0.0.2) and another port.
    const api = await Hostile.start({
      files: asFile(Hostile.answers.error(404, "NotFoundError", "File not found")),
      uploadUrl: Hostile.answers.fixed(200, JSON.stringify({ data: `${foreign.origin}/upload` }), {
        "content-type": "application/json"
      })
    })
    try {
      const dir = scratch()
      const sample = path.join(dir, "big.bin")
      const content = Buffer.alloc(33 * MiB, 0x5a)
      crypto.randomFillSync(content, 0, 4096)
      fs.writeFileSync(sample, content)
      const sha256 = crypto.createHash("sha256").update(content).digest("hex")
      const result = await watch(
        [
          "scan",
          sample,
          "-o",
          "out",
          "--base-url",
          api.url,
          "--tier",
          "premium",
          "--no-progress",
          "--log-dir",
          "log"
        ],
        { cwd: dir, deadlineMs: 50_000 }
      )
      expect(foreign.requests.filter((r) => r.apiKey !== undefined)).toEqual([])
      expect(JSON.stringify(foreign.requests)).not.toContain(KEY)
      expect(foreign.requests.map((r) => `${r.method} ${r.path}`)).toEqual([])
      // It did ask the API: the lookup, then the upload URL.
      expect(api.requests.some((r) => r.path === `/api/v3/files/${sha256}`)).toBe(true)
      expect(api.requests.some((r) => r.path.startsWith("/api/v3/files/upload_url"))).toBe(true)
      expect(result.code).toBe(1)
      expect(filesUnder(path.join(dir, "out")).filter(({ file }) => !file.includes("_not_found"))).toEqual([])
    } finally {
      await api.close()
      await foreign.close()
    }
  }, 60_000)

  it("a 302 to another port: the target gets no request, the id fails, the other is saved, exit 1", async () => {
    const foreign = await Hostile.start({ files: Hostile.answers.report, other: Hostile.answers.fixed(200, "{}") })
    const [redirected, normal] = sha256s(2, "redirect")
    const server = await Hostile.start({
      files: byId({ [redirected]: asFile(Hostile.answers.redirect(`${foreign.origin}/x`)) })
    })
    try {
      const { args, dir, out } = filesRun(server, [redirected, normal])
      const result = await watch(args, { cwd: dir, deadlineMs: 50_000 })
      expect(foreign.requests.filter((r) => r.apiKey !== undefined)).toEqual([])
      expect(foreign.requests.map((r) => `${r.method} ${r.path}`)).toEqual([])
      expect(result.code).toBe(1)
      expectSaved(out, [normal])
      expect(result.stderr).toMatch(/failed 1\b/)
    } finally {
      await server.close()
      await foreign.close()
    }
  }, 60_000)
})

/** Text with JSON `\uXXXX` escapes, `\/` and URL `%XX` escapes decoded: the key hidden in any of those spellings. */
const unescape = (text: string) =>
  text
    .replace(/\\u([0-9a-fA-F]{4})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/\\\//g, "/")
    .replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))

describe("redaction happens at output, never before parsing", () => {
  it(
    "a key that is part of an error code (\"Exceed\"): a 429 QuotaExceededError is read as one, its code intact",
    async () => {
      const shortKey = "Exceed"
      const server = await Hostile.start({
        files: asFile(
          Hostile.answers.error(429, "QuotaExceededError", `Quota exceeded for the key ${shortKey} (hourly)`)
        )
      })
      try {
        const ids = sha256s(2, "short-key")
        const { args, dir, out } = filesRun(server, ids, ["--concurrency", "1"])
        const result = await watch(args, {
          cwd: dir,
          env: { VT_API_KEY: shortKey },
          deadlineMs: 50_000,
          stopAfter: async () => {
            await untilFileRequests(server, 1)
            await sleep(5_000)
          }
        })
        const output = `${result.stdout}\n${result.stderr}\n${runLog(dir)}`
        // Paused (one minute, or until the window the quota endpoint names), not failed: stopped by the SIGTERM.
        expect(server.fileRequests()).toHaveLength(1)
        expect(result.code).toBe(143)
        expect(output).toContain("QuotaExceededError")
        expect(output).not.toMatch(/Quota\S*redacted\S*Error/i)
        expect(result.stderr).toMatch(/failed 0\b/)
        // The key as a word of its own (the server's message echoes it) is never shown.
        expect(output).not.toMatch(/\bExceed\b/i)
        expect(readJsonFiles(out)).toEqual([])
      } finally {
        await server.close()
      }
    },
    60_000
  )

  it(
    "error bodies echoing the key JSON-escaped, raw, URL-encoded, base64 or hex: the key is on no output in any spelling",
    async () => {
      const secret = "abc+Def/0123-hostile-secret-9Xq"
      const escapeFirst = `\\u${secret.charCodeAt(0).toString(16).padStart(4, "0")}${secret.slice(1)}`
      const escapeAll = [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`)
        .join("")
      const bodies: ReadonlyArray<readonly [string, string]> = [
        ["application/json", `{"error":{"code":"BadRequestError","message":"bad key ${escapeFirst}"}}`],
        ["application/json", `{"error":{"code":"BadRequestError","message":"bad key ${escapeAll}"}}`],
        ["text/plain", `bad key ${secret}\n`],
        ["application/json", `{"error":{"code":"BadRequestError","message":"bad key ${encodeURIComponent(secret)}"}}`],
        [
          "application/json",
          `{"error":{"code":"BadRequestError","message":"bad key ${secret.slice(0, 10)}${escapeAll.slice(60)}"}}`
        ],
        ["text/plain", `you sent authorization: Basic ${Buffer.from(`user:${secret}`).toString("base64")}\n`],
        ["text/plain", `token ${Buffer.from(`${secret}`).toString("base64url")} refused\n`],
        ["text/plain", `key bytes ${Buffer.from(secret).toString("hex").toUpperCase()}\n`],
        // Wrapped as MIME wraps base64 (76 characters a line), and as a hex dump.
        [
          "text/plain",
          `echo:\r\n${
            Buffer.from(`x-apikey: ${secret} x-apikey: ${secret}`).toString("base64").match(/.{1,76}/g)!.join("\r\n")
          }\r\n`
        ],
        ["text/plain", `dump ${Buffer.from(secret).toString("hex").match(/../g)!.join(":")} end\n`],
        // After a word of hex letters; base64 in a JSON array of lines, and in groups of four.
        [
          "application/json",
          `{"error":{"code":"BadRequestError","message":"key received ${Buffer.from(secret).toString("hex")}"}}`
        ],
        [
          "application/json",
          JSON.stringify({ lines: Buffer.from(`k=${secret};k=${secret}`).toString("base64").match(/.{1,20}/g) })
        ],
        ["text/plain", `${Buffer.from(`:${secret}`).toString("base64").match(/.{1,4}/g)!.join(" ")}\n`]
      ]
      // The key's bytes as base64 at each of the three offsets a longer text may put them at, and as hex.
      const encodings = [0, 1, 2].flatMap((start) => {
        const bytes = Buffer.from(secret.slice(start, start + 24))
        return [bytes.toString("base64"), bytes.toString("base64url")]
      }).concat(Buffer.from(secret).toString("hex"))
      // What is left once line breaks and separators are dropped: no piece of an encoded key either.
      const squeezed = (text: string) => text.replace(/\r?\n|[:" ,]/g, "").toLowerCase()
      const ids = sha256s(bodies.length, "escaped-key")
      const server = await Hostile.start({
        files: (request, response, { id }) => {
          const [type, body] = bodies[ids.indexOf(id)]
          Hostile.answers.fixed(400, body, { "content-type": type })(request, response)
        }
      })
      try {
        const { args, dir } = filesRun(server, ids, ["--concurrency", "1"])
        const result = await watch(args, { cwd: dir, env: { VT_API_KEY: secret }, deadlineMs: 50_000 })
        expect(result.code).toBe(1)
        expect(server.fileRequests()).toHaveLength(bodies.length)
        expect(server.fileRequests().every((r) => r.apiKey === secret)).toBe(true)
        expect(result.stderr).toMatch(new RegExp(`failed ${bodies.length}\\b`))
        const log = runLog(dir)
        expect(log).toContain("400")
        for (const text of [result.stdout, result.stderr, log]) {
          expect(unescape(text).toLowerCase()).not.toContain(secret.toLowerCase())
          expect(text).not.toContain(escapeFirst)
          expect(text.toLowerCase()).not.toContain(escapeAll.toLowerCase())
          for (const encoded of encodings) expect(squeezed(text)).not.toContain(encoded.toLowerCase())
        }
      } finally {
        await server.close()
      }
    },
    60_000
  )
})
