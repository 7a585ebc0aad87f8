import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as NPath from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = NPath.resolve(NPath.dirname(fileURLToPath(import.meta.url)), "..")

// Logs in bursts, then yields to I/O once and is killed: every line logged before the process yielded is in the
// file, whole, and the lines of the burst cut short by the kill (no yield since) are the only ones that may be lost.
const script = `
import { RunLog } from "./dist/index.js"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
const program = Effect.gen(function*() {
  for (let i = 0; i < 500; i++) {
    yield* Effect.log("line " + i)
    if (i % 50 === 0) yield* Effect.sleep("1 millis")
  }
  yield* Effect.sleep("1 millis")
  for (let i = 500; i < 520; i++) yield* Effect.log("line " + i)
  process.kill(process.pid, "SIGKILL")
})
Effect.runPromise(program.pipe(
  Effect.provide(Layer.merge(RunLog.layer({ directory: process.argv[1], format: "text" }), Logger.remove(Logger.defaultLogger))),
  Effect.provide(NodeContext.layer)
))
`

// Logs and ends with process.exit at once, without yielding: the pending lines are written on the way out.
const exitScript = `
import { RunLog } from "./dist/index.js"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
const program = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.log("line " + i)
  process.exit(0)
})
Effect.runPromise(program.pipe(
  Effect.provide(Layer.merge(RunLog.layer({ directory: process.argv[1], format: "text" }), Logger.remove(Logger.defaultLogger))),
  Effect.provide(NodeContext.layer)
))
`

describe("RunLog.layer in a killed process", () => {
  it("keeps every line logged before the process last yielded, whole, through SIGKILL (uses the built dist/)", () => {
    const dir = NFS.mkdtempSync(NPath.join(OS.tmpdir(), "runlog-kill-"))
    try {
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", script, dir], {
        cwd: packageDir,
        encoding: "utf8",
        timeout: 30_000
      })
      assert.strictEqual(result.signal, "SIGKILL", result.stderr)
      const [name] = NFS.readdirSync(dir)
      const lines = NFS.readFileSync(NPath.join(dir, name), "utf8").split("\n")
      assert.strictEqual(lines.pop(), "", "the last line is complete")
      assert.isAtLeast(lines.length, 500)
      assert.isAtMost(lines.length, 520)
      lines.forEach((line, i) => assert.match(line, new RegExp(` -     INFO - line ${i}$`)))
    } finally {
      NFS.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("writes the lines still pending when the process exits with process.exit (uses the built dist/)", () => {
    const dir = NFS.mkdtempSync(NPath.join(OS.tmpdir(), "runlog-exit-"))
    try {
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", exitScript, dir], {
        cwd: packageDir,
        encoding: "utf8",
        timeout: 30_000
      })
      assert.strictEqual(result.status, 0, result.stderr)
      const [name] = NFS.readdirSync(dir)
      const lines = NFS.readFileSync(NPath.join(dir, name), "utf8").split("\n")
      assert.strictEqual(lines.pop(), "")
      assert.strictEqual(lines.length, 20)
      lines.forEach((line, i) => assert.match(line, new RegExp(` -     INFO - line ${i}$`)))
    } finally {
      NFS.rmSync(dir, { recursive: true, force: true })
    }
  })
})
