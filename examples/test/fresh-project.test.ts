/**
 * "Copy any example into a fresh project": each example's main.ts is copied into an empty directory outside the
 * workspace, given the dependencies its README's `pnpm add` lines name (the vt-harvest packages as the tarballs
 * `pnpm pack` makes, everything else from the registry at the versions this repository uses, through pnpm's
 * store), installed, type-checked against the packed type declarations, and run against the emulator.
 */
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Services } from "./harness.js"
import { bucket, examples, examplesDir, listKeys, rootDir, run, runExample, startServices } from "./harness.js"

const pnpm = path.join(rootDir, "node_modules", "pnpm", "bin", "pnpm.cjs")
const manifest = JSON.parse(fs.readFileSync(path.join(examplesDir, "package.json"), "utf8")) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}
const rootManifest = JSON.parse(fs.readFileSync(path.join(rootDir, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>
}

// The environment of pnpm itself: none of the settings the outer `pnpm test` passes down to its scripts.
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|PNPM_SCRIPT|VT_|AWS_)/i.test(name)))

/** The packages a README tells a user to add: `pnpm add a b c` (dependencies) and `pnpm add -D d` (dev). */
export const installLines = (readme: string) => {
  const lines = readme.split("\n").map((line) => line.trim()).filter((line) => line.startsWith("pnpm add "))
  const names = (dev: boolean) =>
    lines.filter((line) => / -D\b/.test(line) === dev).flatMap((line) =>
      line.replace(/#.*$/, "").split(/\s+/).slice(2).filter((word) => word !== "" && word !== "-D")
    )
  return { dependencies: names(false), devDependencies: names(true) }
}

let services: Services
let packs: string
const tarballs = new Map<string, string>()

beforeAll(async () => {
  services = await startServices()
  packs = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-packs-"))
  for (const name of fs.readdirSync(path.join(rootDir, "packages")).sort()) {
    const dir = path.join(rootDir, "packages", name)
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string }
    const packed = await run(process.execPath, [pnpm, "pack", "--pack-destination", packs], {
      cwd: dir,
      env: cleanEnv()
    })
    expect(packed.code, packed.stderr).toBe(0)
    const tarball = packed.stdout.trim().split("\n").at(-1)!.trim()
    expect(fs.existsSync(tarball), tarball).toBe(true)
    tarballs.set(pkg.name, tarball)
  }
})

afterAll(async () => {
  await services?.close()
  if (packs !== undefined) fs.rmSync(packs, { recursive: true, force: true })
})

const versionOf = (name: string): string => {
  const version = manifest.dependencies[name] ?? manifest.devDependencies[name] ?? rootManifest.devDependencies[name]
  if (version === undefined) throw new Error(`a README names ${name}, which the examples do not depend on`)
  return version
}

/** A fresh project holding one example, installed as its README says. */
const freshProject = async (example: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vt-harvest-${example}-`))
  const readme = fs.readFileSync(path.join(examplesDir, example, "README.md"), "utf8")
  const wanted = installLines(readme)
  expect(wanted.dependencies.length, `${example}/README.md has no "pnpm add" line`).toBeGreaterThan(0)
  const spec = (name: string) => tarballs.has(name) ? `file:${tarballs.get(name)}` : versionOf(name)
  fs.copyFileSync(path.join(examplesDir, example, "main.ts"), path.join(dir, "main.ts"))
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify(
      {
        name: `fresh-${example}`,
        private: true,
        type: "module",
        dependencies: Object.fromEntries(wanted.dependencies.map((name) => [name, spec(name)])),
        // To type-check the copy as a user of TypeScript would.
        devDependencies: Object.fromEntries(
          [...wanted.devDependencies, "typescript", "@types/node"].map((name) => [name, spec(name)])
        ),
        // The packages depend on each other by version; the tarballs stand in for the registry.
        pnpm: { overrides: Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`])) }
      },
      null,
      2
    )
  )
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        skipLibCheck: true,
        types: ["node"]
      },
      include: ["main.ts"]
    })
  )
  // The store the workspace install filled serves everything: no network needed for packages it holds.
  const installed = await run(
    process.execPath,
    [pnpm, "install", "--prefer-offline", "--no-frozen-lockfile", "--config.auto-install-peers=true"],
    { cwd: dir, env: cleanEnv(), timeoutMs: 120_000 }
  )
  expect(installed.code, `${installed.stdout}\n${installed.stderr}`).toBe(0)
  const typecheck = await run(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc")], {
    cwd: dir,
    env: cleanEnv()
  })
  expect(typecheck.code, typecheck.stdout).toBe(0)
  // Through the exports maps: each package's root imports; its internals do not.
  const ours = wanted.dependencies.filter((name) => tarballs.has(name))
  const probe = await run(process.execPath, [
    "--input-type=module",
    "-e",
    `for (const name of ${JSON.stringify(ours)}) {
      await import(name)
      const error = await import(name + "/internal/anything").then(() => undefined, (e) => e)
      if (error?.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw new Error(name + "/internal/* is importable")
    }`
  ], { cwd: dir, env: cleanEnv() })
  expect(probe.code, probe.stderr).toBe(0)
  return dir
}

describe.each(examples)("%s in a fresh project", (example) => {
  it("installs from the packed packages, type-checks and runs against the emulator", async () => {
    const dir = await freshProject(example)
    const work = services.tempDir(`fresh-${example}`)
    const input = path.join(work, "hashes.txt")
    const hashes = [
      "44d88612fea8a8f36de82e1278abb02f",
      "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    ]
    fs.writeFileSync(input, hashes.join("\n"))
    const known = hashes.filter((hash) => VtEmulator.isKnown(hash))
    const env: Record<string, Record<string, string>> = {
      "stream-to-fs": { VT_INPUT: input, VT_OUT: path.join(work, "out"), VT_PER_MINUTE: "60000" },
      "fs-and-s3": {
        VT_INPUT: input,
        VT_OUT: path.join(work, "out"),
        VT_S3_OUT: `s3://${bucket}/fresh`,
        VT_PER_MINUTE: "60000"
      },
      "ndjson-sink": { VT_INPUT: input, VT_NDJSON: path.join(work, "reports.ndjson"), VT_PER_MINUTE: "60000" },
      "scan-folder": {
        VT_SCAN_DIR: path.join(work, "scan"),
        VT_CSV: path.join(work, "verdicts.csv"),
        VT_POLL_SECONDS: "0.1",
        VT_PER_MINUTE: "60000"
      },
      "enrich": { VT_STORE: path.join(work, "store"), VT_OUT: path.join(work, "out"), VT_PER_MINUTE: "60000" }
    }
    fs.mkdirSync(path.join(work, "scan"))
    fs.writeFileSync(path.join(work, "scan", "sample.bin"), "a sample\n")
    fs.mkdirSync(path.join(work, "store"))
    fs.writeFileSync(path.join(work, "store", `${known[0]}.json`), VtEmulator.fileDocument(known[0]))

    const result = await runExample(services, example, env[example], { cwd: dir, main: "main.ts" })
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
    switch (example) {
      case "stream-to-fs":
        expect(fs.readdirSync(path.join(work, "out")).filter((name) => name.endsWith(".json")).length).toBe(
          known.length
        )
        break
      case "fs-and-s3":
        expect((await listKeys(services.s3, "fresh/")).length).toBe(2)
        break
      case "ndjson-sink":
        expect(fs.readFileSync(path.join(work, "reports.ndjson"), "utf8").trim().split("\n").length).toBe(2)
        break
      case "scan-folder":
        expect(fs.readFileSync(path.join(work, "verdicts.csv"), "utf8")).toContain("sample.bin,")
        break
      case "enrich":
        expect(JSON.parse(fs.readFileSync(path.join(work, "out", `${known[0]}.json`), "utf8")).data.relationships)
          .toHaveProperty("contacted_domains")
        break
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
