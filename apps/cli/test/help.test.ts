// Help and completion scripts on the built CLI: usage lines that name the program, no line over 100 columns off a
// terminal, none of the library's boilerplate, no --wizard or --log-level, an unknown command an error whatever
// follows it; zsh and fish scripts sourced in the real shells, asked what they complete.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it, vi } from "vitest"
import * as Cli from "../src/Cli.js"
import * as UserConfig from "../src/internal/userConfig.js"
import { cliWords, runCli, sh, tempDir, underTerminal } from "./helpers.js"

const cliDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dirs: Array<string> = []
const scratch = () => {
  const dir = tempDir("vt-harvest-help-")
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const commands = [
  "files",
  "urls",
  "domains",
  "ips",
  "scan",
  "analysis",
  "search",
  "download",
  "comments",
  "votes",
  "comment",
  "vote",
  "quota",
  "summary",
  "config"
]
const kinds = ["files", "urls", "domains", "ips"]

describe("help", () => {
  it("every help: exit 0, usage names the program, lines of at most 100 columns, no boilerplate", async () => {
    const all = [
      [],
      ...commands.map((c) => [c]),
      ["config", "path"],
      ["config", "show"],
      ...kinds.flatMap((kind) => [["comments", kind], ["votes", kind]]),
      ["comment", "add"],
      ["vote", "add"]
    ]
    for (const words of all) {
      const result = await runCli([...words, "--help"])
      expect(result.code, words.join(" ")).toBe(0)
      const text = result.stdout
      const usage = text.split("\n").findIndex((line) => line === "USAGE")
      expect(usage, words.join(" ")).toBeGreaterThanOrEqual(0)
      expect(text.split("\n")[usage + 1], words.join(" ")).toMatch(
        new RegExp(`^  vt-harvest ${words.length === 0 ? "<command>" : words.join(" ")}(?: |$)`)
      )
      for (const line of text.split("\n")) expect([...line].length, line).toBeLessThanOrEqual(100)
      for (
        const boilerplate of [
          "A user-defined piece of text",
          "This setting is optional",
          "An integer.",
          "--wizard",
          "--log-level"
        ]
      ) {
        expect(text, words.join(" ")).not.toContain(boilerplate)
      }
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
    }
    // The premium commands say which exit status a key without the privilege gets, and show examples.
    for (const command of ["search", "download"]) {
      const help = (await runCli([command, "--help"])).stdout
      expect(help, command).toContain("exit 3")
      expect(help, command).toContain("Example: vt-harvest search")
    }
    expect((await runCli(["download", "--help"])).stdout).toContain("--download-dir")
    const files = await runCli(["files", "--help"])
    expect(files.stdout).toContain("  --tier public|premium\n")
    expect(files.stdout).toContain("  -o, --out <text>\n")
    expect((await runCli(["-h"])).stdout).toContain("  config show ")
    for (const words of [["comments", "urls"], ["votes", "ips"], ["comment", "add"], ["vote", "add"]]) {
      expect((await runCli([...words, "--help"])).stdout).toContain(`Example: vt-harvest ${words.join(" ")} `)
    }
  })

  it("the options that widen a harvest each show an example of the command whose help it is", async () => {
    /** The lines of an option's entry in a help text, from its name to the next option. */
    const entry = (help: string, option: string) => {
      const lines = help.split("\n")
      const start = lines.findIndex((line) => line.startsWith(`  ${option} `) || line === `  ${option}`)
      expect(start, option).toBeGreaterThanOrEqual(0)
      const end = lines.findIndex((line, i) => i > start && /^ {2}-/.test(line))
      return lines.slice(start, end).join("\n")
    }
    const inputs: Record<string, string> = {
      files: "hashes.txt",
      urls: "urls.txt",
      domains: "domains.txt",
      ips: "ips.txt"
    }
    for (const kind of kinds) {
      const help = (await runCli([kind, "--help"])).stdout
      for (const option of ["--relationships", "--relationship-pages"]) {
        expect(entry(help, option), `${kind} ${option}`).toContain(`Example: vt-harvest ${kind} ${inputs[kind]} --`)
      }
      for (const command of ["comments", "votes"]) {
        const help = (await runCli([command, kind, "--help"])).stdout
        expect(entry(help, "--limit"), `${command} ${kind}`).toContain(
          `Example: vt-harvest ${command} ${kind} ${inputs[kind]} --limit `
        )
      }
    }
    expect(entry((await runCli(["files", "--help"])).stdout, "--behaviour")).toContain(
      "Example: vt-harvest files hashes.txt --behaviour "
    )
    expect(entry((await runCli(["urls", "--help"])).stdout, "--submit-unknown")).toContain(
      "Example: vt-harvest urls urls.txt --submit-unknown"
    )
  })

  it("--wizard and --log-level are refused at once (exit 2), also off a terminal with stdin open", async () => {
    for (
      const args of [["--wizard"], ["files", "--wizard"], ["--log-level", "debug", "quota"], [
        "quota",
        "--log-level=debug"
      ]]
    ) {
      const started = Date.now()
      const result = await runCli(args, { stdin: "" })
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr).toMatch(/^vt-harvest: unknown option --(?:wizard|log-level); see vt-harvest --help\n$/)
      expect(result.stdout).toBe("")
      expect(Date.now() - started).toBeLessThan(5_000)
    }
  })

  it("an unknown option given with its value (--api-key=…) is named without the value, which may be a secret", async () => {
    for (const args of [["files", "in.txt", "--api-key=SECRET-4f2a"], ["--token=SECRET-4f2a", "quota"]]) {
      const result = await runCli(args, { env: { VT_API_KEY: "k" } })
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr + result.stdout).not.toContain("SECRET-4f2a")
      expect(result.stderr).toMatch(
        /^vt-harvest: unknown option "--(?:api-key|token)" \(its value is not shown\); see /
      )
    }
    // The value of an option that takes one is not an option, whatever it looks like.
    const value = await runCli(["files", "in.txt", "--api-key-file", "--x=y"], { env: { VT_API_KEY: "k" } })
    expect(value.code).toBe(2)
    expect(value.stderr).not.toContain("unknown option")
    expect(value.stderr).toContain("--api-key-file")
    // A known option with its value is left to the parser.
    const known = await runCli(["files", "missing.txt", "--out=o", "--no-progress"], { env: { VT_API_KEY: "k" } })
    expect(known.code).toBe(2)
    expect(known.stderr).toContain("cannot read input")
  })

  it("an argument the parser quotes back reaches a terminal escaped: no sequence of it is run", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), "")
    for (const hostile of ["--b\u001b[2Jx", "extra\u001b]0;owned\u0007"]) {
      const result = await underTerminal(`${cliWords} files in.txt ${sh(hostile)}`, {
        cwd: dir,
        env: { VT_API_KEY: "k" }
      })
      expect(result.code, result.stdout).toBe(2)
      expect(result.stdout).toContain("Received unknown argument")
      expect(result.stdout).toContain("\\u001b")
      expect(result.stdout).not.toContain("\u001b[2J")
      expect(result.stdout).not.toContain("\u001b]0;")
    }
  })

  it("an unknown command is an error whatever follows it: `vt-harvest fetch --help` exits 2", async () => {
    for (const args of [["fetch", "--help"], ["fetch"], ["serach", "hashes.txt"]]) {
      const result = await runCli(args)
      expect(result.code, args.join(" ")).toBe(2)
      expect(result.stderr).toContain(`unknown command "${args[0]}"; see vt-harvest --help`)
      expect(result.stdout).toBe("")
    }
  })

  it("the commands a command line may start with are the declared ones", () => {
    expect(Cli.commandNames).toEqual(Cli.helpModel().commands.map((c) => c.path[0]))
    expect(Cli.commandNames).toEqual(commands)
  })

  it("the bundle's entry answers help and --version byte for byte as the program does", async () => {
    // The program (Cli.run, here in this process from the sources) reads the commands' declarations and renders
    // from them; the bundle's entry (src/main.ts) renders from the model the build wrote into it, without loading
    // the program. Only the version differs: the sources say "development".
    const version = JSON.parse(fs.readFileSync(path.join(cliDir, "package.json"), "utf8")).version
    const program = async (args: ReadonlyArray<string>) => {
      const out: Array<string> = []
      const log = vi.spyOn(console, "log").mockImplementation((...parts: Array<unknown>) => {
        out.push(`${parts.join(" ")}\n`)
      })
      try {
        const status = await Effect.runPromise(
          Cli.run(["node", "vt-harvest", ...args]).pipe(
            Effect.provideService(UserConfig.Current, { path: "", exists: false, values: new Map(), problems: [] }),
            Effect.provide(NodeContext.layer)
          )
        )
        return { status, stdout: out.join("").replace(/^development\n/, `${version}\n`) }
      } finally {
        log.mockRestore()
      }
    }
    const all = [
      ["--help"],
      ["-h"],
      ["--version"],
      [],
      ...commands.map((c) => [c, "--help"]),
      ["config", "path", "--help"],
      ["config", "show", "-h"],
      ...kinds.flatMap((kind) => [["comments", kind, "--help"], ["votes", kind, "--help"]]),
      ["comment", "add", "--help"],
      ["vote", "add", "--help"],
      ["files", "hashes.txt", "--tier", "premium", "-h"],
      ["--tier", "premium", "--help"],
      ["files", "-h", "--", "--version"],
      ["--version", "--help"]
    ]
    for (const args of all) {
      const entry = await runCli(args)
      const full = await program(args)
      expect(entry.code, args.join(" ")).toBe(full.status)
      expect(entry.stdout, args.join(" ")).toBe(
        full.stdout.replace(/^vt-harvest development:/, `vt-harvest ${version}:`)
      )
      expect(entry.stderr, args.join(" ")).toBe("")
    }
  })
})

const shellDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "shell")
const has = (shell: string) => spawnSync(shell, ["-c", "exit 0"]).status === 0
if (!has("zsh") || !has("fish")) console.warn("help.test.ts: zsh or fish missing (apt-get install zsh fish); skipped")

/** A directory to complete in: a directory and a file, and the script for `shell`. */
const completionDir = async (shell: "zsh" | "fish") => {
  const dir = scratch()
  fs.mkdirSync(path.join(dir, "reports_dir"))
  fs.writeFileSync(path.join(dir, "hashes.txt"), "")
  const script = await runCli(["--completions", shell])
  expect(script.code).toBe(0)
  const file = path.join(scratch(), shell === "zsh" ? "_vt-harvest" : "vt-harvest.fish")
  fs.writeFileSync(file, script.stdout)
  return { dir, file }
}

describe("completion scripts", () => {
  it.skipIf(!has("fish"))("fish: commands, subcommands, option values, files and directories", async () => {
    const { dir, file } = await completionDir("fish")
    const complete = (line: string) => {
      const result = spawnSync("fish", ["--no-config", "-c", `source ${file}; complete -C ${JSON.stringify(line)}`], {
        cwd: dir,
        encoding: "utf8",
        timeout: 20_000
      })
      expect(result.status, result.stderr).toBe(0)
      return result.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]).sort()
    }
    expect(complete("vt-harvest ")).toEqual([...commands].sort())
    expect(complete("vt-harvest config ")).toEqual(["path", "show"])
    expect(complete("vt-harvest comments ")).toEqual([...kinds].sort())
    expect(complete("vt-harvest vote ")).toEqual(["add"])
    expect(complete("vt-harvest files --tier ")).toEqual(["premium", "public"])
    expect(complete("vt-harvest urls --log-format ")).toEqual(["json", "text"])
    expect(complete("vt-harvest files --out ")).toEqual(["reports_dir/"])
    expect(complete("vt-harvest files --log-dir ")).toEqual(["reports_dir/"])
    expect(complete("vt-harvest files ")).toEqual(["hashes.txt", "reports_dir/"])
    expect(complete("vt-harvest scan ")).toEqual(["hashes.txt", "reports_dir/"])
    expect(complete("vt-harvest summary ")).toEqual(["reports_dir/"])
    expect(complete("vt-harvest download ")).toEqual(["hashes.txt", "reports_dir/"])
    expect(complete("vt-harvest download --download-dir ")).toEqual(["reports_dir/"])
    expect(complete("vt-harvest search --format ")).toEqual(["ids", "ndjson"])
    expect(complete("vt-harvest files --per-minute ")).toEqual([])
    expect(complete("vt-harvest files --api-key-file ")).toEqual(["hashes.txt", "reports_dir/"])
    // What a harvest may add per id, each where it applies.
    expect(complete("vt-harvest files --behaviour ")).toEqual(["all", "mitre", "summary"])
    expect(complete("vt-harvest domains --beh")).toEqual([])
    expect(complete("vt-harvest urls --sub")).toEqual(["--submit-unknown"])
    expect(complete("vt-harvest files --sub")).toEqual([])
    for (const kind of kinds) {
      expect(complete(`vt-harvest ${kind} --relationship`)).toEqual(["--relationship-pages", "--relationships"])
    }
    expect(complete("vt-harvest comments urls --li")).toEqual(["--limit"])
    expect(complete("vt-harvest votes ips --li")).toEqual(["--limit"])
    expect(complete("vt-harvest files --tie")).toEqual(["--tier"])
  }, 60_000)

  it.skipIf(!has("zsh"))("zsh: commands, subcommands, option values, files and directories", async () => {
    const { dir, file } = await completionDir("zsh")
    const complete = (line: string) => {
      const result = spawnSync("zsh", [path.join(shellDir, "capture.zsh"), file, line], {
        cwd: dir,
        encoding: "utf8",
        timeout: 20_000
      })
      expect(result.status, result.stderr).toBe(0)
      return [...new Set(result.stdout.split("\n").filter((l) => l !== ""))].sort()
    }
    expect(complete("vt-harvest ")).toEqual([...commands].sort())
    expect(complete("vt-harvest config ")).toEqual(["path", "show"])
    expect(complete("vt-harvest comments ")).toEqual([...kinds].sort())
    expect(complete("vt-harvest vote ")).toEqual(["add"])
    expect(complete("vt-harvest files --tier ")).toEqual(["premium", "public"])
    expect(complete("vt-harvest urls --log-format ")).toEqual(["json", "text"])
    expect(complete("vt-harvest files --out ")).toContain("reports_dir")
    expect(complete("vt-harvest files -o ")).toContain("reports_dir")
    expect(complete("vt-harvest files ")).toEqual(["hashes.txt", "reports_dir"])
    expect(complete("vt-harvest scan ")).toEqual(["hashes.txt", "reports_dir"])
    expect(complete("vt-harvest download ")).toEqual(["hashes.txt", "reports_dir"])
    expect(complete("vt-harvest download --download-dir ")).toContain("reports_dir")
    expect(complete("vt-harvest search --format ")).toEqual(["ids", "ndjson"])
    expect(complete("vt-harvest files --per-minute ")).toEqual([])
    expect(complete("vt-harvest files --tie")).toEqual(["--tier"])
    // What a harvest may add per id, each where it applies.
    expect(complete("vt-harvest files --behaviour ")).toEqual(["all", "mitre", "summary"])
    expect(complete("vt-harvest domains --beh")).toEqual([])
    expect(complete("vt-harvest urls --sub")).toEqual(["--submit-unknown"])
    expect(complete("vt-harvest files --sub")).toEqual([])
    for (const kind of kinds) {
      expect(complete(`vt-harvest ${kind} --relationship`)).toEqual(["--relationship-pages", "--relationships"])
    }
    expect(complete("vt-harvest comments urls --li")).toEqual(["--limit"])
    expect(complete("vt-harvest votes ips --li")).toEqual(["--limit"])
    expect(complete("vt-harvest config show --")).toEqual(["--help"])
  }, 60_000)
})
