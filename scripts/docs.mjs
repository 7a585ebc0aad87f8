// `pnpm api-docs`: the API reference, generated from the doc comments into docs/api/ (Markdown, one file per module).
//
// @effect/docgen runs in every package that has a docgen.json. It fails when a public export has no doc comment,
// no description or no `@since` tag, and it type-checks every `@example` against the package's source, so this
// script is also the check that the doc comments are complete. docgen writes into <package>/docs/; the modules
// are moved to docs/api/<package>/ and an index is written to docs/api/README.md.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const out = path.join(root, "docs", "api")
const bin = path.join(root, "node_modules", ".bin")
const packages = fs.readdirSync(path.join(root, "packages"))
  .map((name) => path.join(root, "packages", name))
  .filter((dir) => fs.existsSync(path.join(dir, "docgen.json")))
  .sort()

const run = (dir) =>
  new Promise((resolve) => {
    let output = ""
    // docgen type-checks examples by spawning `tsc` from the PATH.
    const child = spawn(path.join(bin, "docgen"), [], {
      cwd: dir,
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout.on("data", (chunk) => output += chunk)
    child.stderr.on("data", (chunk) => output += chunk)
    child.on("close", (code) => resolve({ dir, code, output }))
  })

// Two at a time: docgen is CPU-bound (the TypeScript compiler) and the machine may be shared.
const results = []
const queue = [...packages]
await Promise.all([1, 2].map(async () => {
  for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) results.push(await run(dir))
}))

const failed = results.filter((r) => r.code !== 0)
for (const { dir, output } of failed) {
  console.error(`\n${path.relative(root, dir)}: docgen failed\n`)
  // Keep the messages, drop the stack frames.
  console.error(output.split("\n").filter((line) => !/^\s+at /.test(line)).join("\n"))
}
if (failed.length > 0) process.exit(1)

fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })

// docgen writes Jekyll front matter (its opening line sometimes reformatted as `***`), and keeps `{@link X}` as is.
const tidy = (text) =>
  text.replace(/^(?:---|\*\*\*)\n[\s\S]*?\n---\n+/, "").replace(/\{@link\s+([^}\s]+)\s*\}/g, "`$1`")
const firstParagraph = (text) => {
  const match = /## \S+ overview\n\n([\s\S]*?)\n\n/.exec(text)
  return match === null ? "" : match[1].replace(/\s*\n\s*/g, " ")
}

const index = [
  "# API reference",
  "",
  "Generated from the doc comments by `corepack pnpm api-docs` (scripts/docs.mjs, @effect/docgen). Do not edit: change",
  "the comments in `packages/*/src/` instead.",
  ""
]
for (const dir of packages) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
  const generated = path.join(dir, "docs")
  const modules = path.join(generated, "modules")
  const target = path.join(out, path.basename(dir))
  fs.mkdirSync(target, { recursive: true })
  index.push(`## ${manifest.name}`, "", manifest.description ?? "", "")
  index.push(`[README](../../packages/${path.basename(dir)}/README.md)`, "")
  index.push("| module | |", "|---|---|")
  for (const file of fs.readdirSync(modules).sort()) {
    if (!file.endsWith(".ts.md") || file === "index.ts.md") continue
    const name = file.slice(0, -".ts.md".length)
    const text = tidy(fs.readFileSync(path.join(modules, file), "utf8"))
    fs.writeFileSync(path.join(target, `${name}.md`), `# ${manifest.name}/${name}\n\n${text}`)
    index.push(`| [${name}](${path.basename(dir)}/${name}.md) | ${firstParagraph(text).replaceAll("|", "\\|")} |`)
  }
  index.push("")
  fs.rmSync(generated, { recursive: true, force: true })
}
fs.writeFileSync(path.join(out, "README.md"), index.join("\n"))
console.log(`API reference of ${packages.length} packages written to ${path.relative(root, out)}/`)
