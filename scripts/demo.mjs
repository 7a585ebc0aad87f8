// The Quick start's main job on the embedded default: start the bundled VirusTotal emulator on loopback,
// then run `vt-harvest files` on the sample list exactly as a user would, into vt_reports/ with a log in log/.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const demoKey = "demo-key-for-the-local-emulator"
const server = await VtEmulator.start({ apiKeys: [demoKey] })
console.error(`vt-emulator (a local VirusTotal) listening on ${server.url}`)

const args = [
  path.join(root, "apps/cli/bin/vt-harvest.js"),
  "files",
  "examples/sample-hashes.txt",
  "--out",
  "vt_reports",
  "--log-dir",
  "log",
  "--base-url",
  server.url,
  // The public tier's pacing, sped up so the demo takes seconds: 300 requests a minute, one at a time.
  "--per-minute",
  "300",
  ...process.argv.slice(2)
]
console.error(`$ vt-harvest ${args.slice(1).join(" ")}`)
const child = spawn(process.execPath, args, {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, VT_API_KEY: demoKey }
})
const code = await new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))))
await server.close()
console.error(
  code === 0
    ? `\nDone: reports are in ${path.join(root, "vt_reports")}/ (unknown hashes in vt_reports/_not_found/), ` +
      `the run log in ${path.join(root, "log")}/. Run it again: nothing is requested twice.`
    : `\nvt-harvest exited with status ${code}`
)
process.exit(code)
