// `pnpm check-publish`: proves that the packages can be released, without releasing anything and without
// consuming the pending changesets.
//
// On a throwaway copy of the working tree (the files git tracks or would track, plus each package's built dist/):
//   1. `changeset version` must succeed: every public package gets a new version and a CHANGELOG.md written from
//      the pending changesets; private packages (the root, examples) are left alone;
//   2. `pnpm -r publish --dry-run` must succeed for every public package and publish no private one;
//   3. each package is packed, and its tarball must hold package.json, README.md, CHANGELOG.md, what `exports`
//      and `bin` point at, no build info, no tests; its package.json must have real versions instead of
//      `workspace:` ranges, `./internal/*` blocked, public access and the repository directory.
// Prints one line per package: version before → after, tarball size, number of files.
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { gunzipSync } from "node:zlib"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const pnpm = path.join(root, "node_modules", "pnpm", "bin", "pnpm.cjs")
const changeset = path.join(root, "node_modules", "@changesets", "cli", "bin.js")
const problems = []
const problem = (message) => problems.push(message)

// pnpm and changesets read settings from npm_* variables that an outer `pnpm run` passes down.
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
const exec = (args, cwd) => {
  const result = spawnSync(process.execPath, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  if (result.status !== 0) {
    console.error(
      `${path.basename(args[0])} ${args.slice(1).join(" ")} failed in ${cwd}:\n${result.stdout}\n${result.stderr}`
    )
    process.exit(1)
  }
  return result.stdout
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"))
const workspaceDirs = (base) =>
  ["packages", "apps"].flatMap((top) =>
    fs.readdirSync(path.join(base, top)).map((name) => path.join(top, name)).filter((dir) =>
      fs.existsSync(path.join(base, dir, "package.json"))
    )
  )
const publicDirs = workspaceDirs(root).filter((dir) => readJson(path.join(root, dir, "package.json")).private !== true)

// The copy: what git tracks or would track (so local, uncommitted work is checked too), and the build output.
const copy = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-publish-"))
try {
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8"
  }).split("\0").filter((file) => file !== "" && fs.existsSync(path.join(root, file)))
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true })
    fs.copyFileSync(path.join(root, file), path.join(copy, file))
    fs.chmodSync(path.join(copy, file), fs.statSync(path.join(root, file)).mode)
  }
  for (const dir of publicDirs) {
    if (!fs.existsSync(path.join(root, dir, "dist"))) {
      console.error(`${dir}/dist is missing: build first (corepack pnpm build)`)
      process.exit(1)
    }
    fs.cpSync(path.join(root, dir, "dist"), path.join(copy, dir, "dist"), { recursive: true })
  }

  const before = new Map(workspaceDirs(copy).map((dir) => [dir, readJson(path.join(copy, dir, "package.json"))]))
  const pending = fs.readdirSync(path.join(copy, ".changeset")).filter((name) => name.endsWith(".md"))

  // 1. The version step, as a release would run it.
  exec([changeset, "version"], copy)
  const after = new Map(workspaceDirs(copy).map((dir) => [dir, readJson(path.join(copy, dir, "package.json"))]))
  const left = fs.readdirSync(path.join(copy, ".changeset")).filter((name) =>
    name.endsWith(".md") && name !== "README.md"
  )
  if (pending.length > 0 && left.length > 0) problem(`changeset version left ${left.join(", ")} unconsumed`)
  for (const [dir, manifest] of after) {
    const old = before.get(dir)
    if (manifest.private === true) {
      if (manifest.version !== old.version) problem(`${manifest.name} is private but was versioned`)
      continue
    }
    if (pending.length > 0 && manifest.version === old.version) problem(`${manifest.name} was not versioned`)
    const changelog = path.join(copy, dir, "CHANGELOG.md")
    if (!fs.existsSync(changelog) || !fs.readFileSync(changelog, "utf8").includes(`## ${manifest.version}`)) {
      problem(`${manifest.name}: CHANGELOG.md has no entry for ${manifest.version}`)
    }
  }

  // 2. The publish step: pnpm needs the workspace installed to turn workspace: ranges into versions.
  exec([pnpm, "install", "--frozen-lockfile", "--prefer-offline", "--ignore-scripts", "--reporter=silent"], copy)
  const published = exec([pnpm, "-r", "publish", "--dry-run", "--no-git-checks", "--reporter=append-only"], copy)
  const publishedNames = [...published.matchAll(/^\+ (@?[^@\s]+)@(\S+)$/gm)].map((match) => match[1])
  for (const [, manifest] of after) {
    const listed = publishedNames.includes(manifest.name)
    if (manifest.private === true && listed) problem(`${manifest.name} is private but would be published`)
    if (manifest.private !== true && !listed) problem(`${manifest.name} would not be published`)
  }

  // 3. The tarballs themselves.
  const packs = path.join(copy, ".packs")
  const rows = []
  for (const dir of publicDirs) {
    const manifest = after.get(dir)
    const info = JSON.parse(exec([pnpm, "pack", "--json", "--pack-destination", packs], path.join(copy, dir)))
    const entries = readTarball(info.filename)
    const names = new Set(entries.keys())
    const packed = JSON.parse(entries.get("package.json"))
    const say = (message) => problem(`${manifest.name}: ${message}`)

    for (const required of ["package.json", "README.md", "CHANGELOG.md"]) {
      if (!names.has(required)) say(`the tarball has no ${required}`)
    }
    for (const name of names) {
      if (name.endsWith(".tsbuildinfo")) say(`the tarball holds build info (${name})`)
      if (name.startsWith("test/")) say(`the tarball holds tests (${name})`)
    }
    const targets = (value) =>
      typeof value === "string" ? [value] : value === null ? [] : Object.values(value).flatMap(targets)
    for (const [subpath, target] of Object.entries(packed.exports ?? {})) {
      for (const file of targets(target)) {
        if (!file.includes("*") && !names.has(path.posix.normalize(file))) {
          say(`exports "${subpath}" → ${file} is missing`)
        }
      }
    }
    if (packed.exports !== undefined) {
      if (packed.exports["./internal/*"] !== null) say(`exports does not block "./internal/*"`)
      if (typeof packed.exports["."]?.types !== "string") say(`exports "." has no types`)
    }
    for (const [bin, file] of Object.entries(packed.bin ?? {})) {
      if (!names.has(path.posix.normalize(file))) say(`bin ${bin} → ${file} is missing`)
    }
    if (JSON.stringify(packed).includes("workspace:")) say("package.json still holds workspace: ranges")
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const [name, range] of Object.entries(packed[field] ?? {})) {
        const target = [...after.values()].find((m) => m.name === name)
        if (target !== undefined && range !== `^${target.version}`) {
          say(`${field} ${name}@${range}, not ^${target.version}`)
        }
      }
    }
    if (packed.publishConfig?.access !== "public") say("publishConfig.access is not public")
    if (packed.repository?.directory !== dir) say(`repository.directory is not ${dir}`)
    if (packed.license === undefined) say("no license")

    rows.push({
      name: manifest.name,
      version: `${before.get(dir).version} → ${manifest.version}`,
      size: `${(fs.statSync(info.filename).size / 1024).toFixed(1)} KiB`,
      files: `${names.size} files`
    })
  }

  const width = (key) => Math.max(...rows.map((row) => row[key].length))
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(width("name"))}  ${row.version.padEnd(width("version"))}  ${
        row.size.padStart(width("size"))
      }  ${row.files}`
    )
  }
} finally {
  fs.rmSync(copy, { recursive: true, force: true })
}

if (problems.length > 0) {
  console.error(`\ncheck-publish: ${problems.length} problem(s)\n${problems.map((p) => `- ${p}`).join("\n")}`)
  process.exit(1)
}
console.log("check-publish: changeset version and pnpm -r publish --dry-run succeed; every tarball is complete")

/** The regular files of a .tgz, by path inside `package/`. */
function readTarball(file) {
  const data = gunzipSync(fs.readFileSync(file))
  const entries = new Map()
  for (let offset = 0; offset + 512 <= data.length;) {
    const header = data.subarray(offset, offset + 512)
    if (header.every((byte) => byte === 0)) break
    const text = (start, length) => header.subarray(start, start + length).toString("utf8").replace(/\0.*$/s, "")
    const size = parseInt(text(124, 12).trim() || "0", 8)
    const name = [text(345, 155), text(0, 100)].filter((part) => part !== "").join("/")
    const type = text(156, 1)
    if (type === "0" || type === "") {
      entries.set(name.replace(/^package\//, ""), data.subarray(offset + 512, offset + 512 + size).toString("utf8"))
    }
    offset += 512 + Math.ceil(size / 512) * 512
  }
  return entries
}
