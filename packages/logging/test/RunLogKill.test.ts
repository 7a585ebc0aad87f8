import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as NPath from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = NPath.resolve(NPath.dirname(fileURLToPath(import.meta.url)), "..")

// Logs in bursts with no pause before the kill: anything buffered in memory would be lost.
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
  process.kill(process.pid, "SIGKILL")
})
Effect.runPromise(program.pipe(
  Effect.provide(Layer.merge(RunLog.layer({ directory: process.argv[1], format: "text" }), Logger.remove(Logger.defaultLogger))),
  Effect.provide(NodeContext.layer)
))
`

describe("RunLog.layer in a killed process", () => {
  it("keeps every line logged before SIGKILL (uses the built dist/)", () => {
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
      assert.strictEqual(lines.length, 500)
      assert.match(lines[499], / -     INFO - line 499$/)
    } finally {
      NFS.rmSync(dir, { recursive: true, force: true })
    }
  })
})
