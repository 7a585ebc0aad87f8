// `pnpm test`: every package's tests through turbo (build first), then one closing line for the whole
// repository, counted from each package's vitest JSON report: "tests: N passed, N failed".
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const dirs = [
  ...["packages", "apps"].flatMap((top) =>
    fs.existsSync(path.join(root, top))
      ? fs.readdirSync(path.join(root, top)).map((name) => path.join(root, top, name))
      : []
  ),
  // The examples are one workspace package of their own.
  path.join(root, "examples")
]
const report = (dir) => path.join(dir, ".vitest", "results.json")
for (const dir of dirs) fs.rmSync(report(dir), { force: true })

const turbo = spawnSync(
  "turbo",
  [
    "run",
    "test",
    ...process.argv.slice(2),
    "--",
    "--reporter=default",
    "--reporter=json",
    "--outputFile.json=.vitest/results.json"
  ],
  { cwd: root, stdio: "inherit", shell: process.platform === "win32" }
)

let passed = 0
let failed = 0
let skipped = 0
for (const dir of dirs) {
  if (!fs.existsSync(report(dir))) continue
  const results = JSON.parse(fs.readFileSync(report(dir), "utf8"))
  passed += results.numPassedTests
  failed += results.numFailedTests
  skipped += results.numPendingTests + results.numTodoTests
}
console.log(`\ntests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)
process.exit(turbo.status ?? 1)
