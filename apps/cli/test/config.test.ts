// Where settings come from, on the built CLI: a `.env` in the working directory supplies the API key and nothing
// else; flags, the environment and the user config file supply the rest, in that order.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { showOut } from "../src/engine/Run.js"
import { redactUrl } from "../src/internal/userConfig.js"
import { hashes, readJsonFiles, runCli, tempDir } from "./helpers.js"

const key = "config-test-key-Hw72pQ0zL4"
let server: VtEmulator.Server
/** A server that must never be asked anything: it counts what reaches it. */
let trap: http.Server
let trapped = 0
let trapUrl = ""
const dirs: Array<string> = []
const scratch = () => {
  const dir = tempDir("vt-harvest-config-")
  dirs.push(dir)
  return dir
}

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
  trap = http.createServer((_request, response) => {
    trapped++
    response.writeHead(500).end()
  })
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve))
  trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/api/v3`
})
afterAll(async () => {
  await server.close()
  await new Promise((resolve) => trap.close(resolve))
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  server.clearLog()
  server.resetQuota()
  trapped = 0
})

const logOf = (dir: string, logDir = "log") =>
  fs.readdirSync(path.join(dir, logDir)).map((name) => fs.readFileSync(path.join(dir, logDir, name), "utf8")).join("")

describe(".env supplies the API key only", () => {
  it("VT_OUT, VT_LOG_DIR and VT_BASE_URL in a .env are ignored; its VT_API_KEY is used", async () => {
    const dir = scratch()
    const ids = hashes(3, true, "dotenv")
    fs.writeFileSync(path.join(dir, "list.txt"), ids.join("\n") + "\n")
    fs.writeFileSync(path.join(dir, "comments.txt"), "# nothing to fetch\n")
    fs.writeFileSync(
      path.join(dir, ".env"),
      [`VT_API_KEY=${key}`, "VT_OUT=elsewhere-out", "VT_LOG_DIR=elsewhere-log", `VT_BASE_URL=${trapUrl}`].join("\n")
    )
    const fetched = await runCli([
      "files",
      "list.txt",
      "--base-url",
      server.url,
      "--per-minute",
      "60000",
      "--no-progress"
    ], { cwd: dir })
    expect(fetched.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "vt_reports"))).toEqual(ids.map((id) => `${id}.json`).sort())
    expect(fs.existsSync(path.join(dir, "elsewhere-out"))).toBe(false)
    expect(fs.existsSync(path.join(dir, "elsewhere-log"))).toBe(false)
    expect(logOf(dir)).toContain(`(api ${new URL(server.url).origin}, tier public`)

    // Without --base-url, the key would go to VirusTotal (nothing is sent: no ids, no quota probe), never to the
    // server a .env names; the start line says which origin it is.
    const idle = await runCli(["files", "comments.txt", "--no-quota-probe", "--no-progress"], { cwd: dir })
    expect(idle.code).toBe(0)
    expect(logOf(dir)).toContain("(api https://www.virustotal.com, tier public")
    expect(logOf(dir)).not.toContain(trapUrl)
    expect(trapped).toBe(0)
  }, 30_000)
})

/** A user config directory holding `text` as vt-harvest/config.toml; the environment that points at it. */
const userConfig = (dir: string, text: string) => {
  fs.mkdirSync(path.join(dir, "xdg", "vt-harvest"), { recursive: true })
  fs.writeFileSync(path.join(dir, "xdg", "vt-harvest", "config.toml"), text)
  return { XDG_CONFIG_HOME: path.join(dir, "xdg") }
}

describe("the user config file", () => {
  it("config path: $XDG_CONFIG_HOME/vt-harvest/config.toml, else ~/.config/vt-harvest/config.toml", async () => {
    const dir = scratch()
    const xdg = await runCli(["config", "path"], { cwd: dir, env: { XDG_CONFIG_HOME: path.join(dir, "xdg") } })
    expect(xdg.code).toBe(0)
    expect(xdg.stdout).toBe(`${path.join(dir, "xdg", "vt-harvest", "config.toml")}\n`)
    const home = await runCli(["config", "path"], { cwd: dir, env: { HOME: dir } })
    expect(home.stdout).toBe(`${path.join(dir, ".config", "vt-harvest", "config.toml")}\n`)
    // A relative XDG_CONFIG_HOME is invalid (XDG spec): ignored.
    const relative = await runCli(["config", "path"], { cwd: dir, env: { HOME: dir, XDG_CONFIG_HOME: "xdg" } })
    expect(relative.stdout).toBe(`${path.join(dir, ".config", "vt-harvest", "config.toml")}\n`)
  })

  it("precedence: flag > environment > config file > default, for out, log_dir, tier and the limits", async () => {
    const dir = scratch()
    const ids = hashes(2, true, "precedence")
    fs.writeFileSync(path.join(dir, "list.txt"), ids.join("\n") + "\n")
    const env = {
      VT_API_KEY: key,
      ...userConfig(
        dir,
        [
          "# defaults of this analyst",
          "tier = \"premium\"",
          "per_minute = 600   # a comment after a value",
          "per-day = 1_000",
          "concurrency = 3",
          "out = 'from-config'",
          "log_dir = \"log-config\"",
          `base_url = "${server.url}"`
        ].join("\n")
      )
    }
    const fileOnly = await runCli(["files", "list.txt", "--no-progress"], { cwd: dir, env })
    expect(fileOnly.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "from-config"))).toEqual(ids.map((id) => `${id}.json`).sort())
    expect(logOf(dir, "log-config")).toContain(
      `-> from-config (api ${
        new URL(server.url).origin
      }, tier premium: per-minute 600, per-day 1000, per-month unlimited, concurrency 3)`
    )

    const environment = await runCli(["files", "list.txt", "--no-progress", "--overwrite"], {
      cwd: dir,
      env: { ...env, VT_OUT: "from-env", VT_LOG_DIR: "log-env" }
    })
    expect(environment.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "from-env"))).toHaveLength(2)
    expect(logOf(dir, "log-env")).toContain("-> from-env (api")

    const flags = await runCli(
      [
        "files",
        "list.txt",
        "--no-progress",
        "-o",
        "from-flag",
        "--log-dir",
        "log-flag",
        "--tier",
        "public",
        "--per-minute",
        "900"
      ],
      { cwd: dir, env: { ...env, VT_OUT: "from-env", VT_LOG_DIR: "log-env" } }
    )
    expect(flags.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "from-flag"))).toHaveLength(2)
    // --tier public wins over the file's premium; the file's per-day and concurrency still apply (a flag replaces
    // only its own setting).
    expect(logOf(dir, "log-flag")).toContain("-> from-flag (api")
    expect(logOf(dir, "log-flag")).toContain(
      "tier public: per-minute 900, per-day 1000, per-month 15500, concurrency 3"
    )

    // Without a config file: the defaults.
    const none = await runCli(
      ["files", "list.txt", "--no-progress", "--base-url", server.url, "--per-minute", "6000"],
      {
        cwd: dir,
        env: { VT_API_KEY: key, XDG_CONFIG_HOME: path.join(dir, "nowhere") }
      }
    )
    expect(none.code).toBe(0)
    expect(readJsonFiles(path.join(dir, "vt_reports"))).toHaveLength(2)
    expect(logOf(dir)).toContain("tier public: per-minute 6000, per-day 500, per-month 15500, concurrency 1")
  }, 60_000)

  it("base_url from the file is used by quota; VT_BASE_URL in the environment wins over it", async () => {
    const dir = scratch()
    const env = { VT_API_KEY: key, ...userConfig(dir, `base_url = "${trapUrl}"\n`) }
    const fromFile = await runCli(["quota", "--json"], { cwd: dir, env })
    expect(fromFile.code).toBe(1)
    expect(trapped).toBe(1)
    const fromEnv = await runCli(["quota", "--json"], { cwd: dir, env: { ...env, VT_BASE_URL: server.url } })
    expect(fromEnv.code).toBe(0)
    expect(trapped).toBe(1)
    expect(JSON.parse(fromEnv.stdout)).toHaveProperty("daily")
  }, 30_000)

  it("config show: each setting with its source; the key never shown; proxy credentials redacted", async () => {
    const dir = scratch()
    const env = {
      VT_API_KEY: key,
      VT_OUT: "env-out",
      ...userConfig(dir, "tier = \"premium\"\nout = \"file-out\"\nproxy = \"http://alice:s3cr3t-pw@127.0.0.1:3128\"\n")
    }
    const result = await runCli(["config", "show"], { cwd: dir, env })
    expect(result.code).toBe(0)
    const lines = result.stdout.split("\n")
    expect(lines[0]).toBe(`config file  ${path.join(dir, "xdg", "vt-harvest", "config.toml")} (found)`)
    expect(lines).toContain("api key      <redacted> (environment VT_API_KEY)")
    expect(lines).toContain("tier         premium (config file)")
    expect(lines).toContain("out          env-out (environment VT_OUT)")
    expect(lines).toContain("log_dir      log (default)")
    expect(lines).toContain("proxy        http://<redacted>@127.0.0.1:3128 (config file)")
    expect(result.stdout).not.toContain(key)
    expect(result.stdout).not.toContain("s3cr3t-pw")
    expect(result.stdout).not.toContain("alice")

    fs.writeFileSync(path.join(dir, ".env"), `VT_API_KEY=${key}\n`)
    const dotenv = await runCli(["config", "show"], { cwd: dir, env: { XDG_CONFIG_HOME: env.XDG_CONFIG_HOME } })
    expect(dotenv.stdout).toContain("api key      <redacted> (VT_API_KEY in ./.env)")
    expect(dotenv.stdout).not.toContain(key)
  })

  it("config show: a proxy written without its scheme is shown without its password; https_proxy as the run reads it", async () => {
    const dir = scratch()
    const env = { VT_API_KEY: key, HTTPS_PROXY: "alice:Sup3rSecret@proxy.corp:3128", ...userConfig(dir, "") }
    const shown = await runCli(["config", "show"], { cwd: dir, env })
    expect(shown.stdout).not.toContain("Sup3rSecret")
    expect(shown.stdout).toContain("proxy.corp:3128")
    // Both spellings set: the lower-case one is the one a run uses (as curl does), and the one shown.
    const both = await runCli(["config", "show"], {
      cwd: dir,
      env: { ...env, HTTPS_PROXY: "http://upper.example:1", https_proxy: "http://lower.example:2" }
    })
    expect(both.stdout).toContain("proxy        http://lower.example:2 (environment https_proxy)")
  })

  it("with HOME empty and no XDG_CONFIG_HOME, no config file is read from the working directory", async () => {
    const dir = scratch()
    fs.mkdirSync(path.join(dir, ".config", "vt-harvest"), { recursive: true })
    fs.writeFileSync(path.join(dir, ".config", "vt-harvest", "config.toml"), `base_url = "${trapUrl}"\n`)
    fs.writeFileSync(path.join(dir, "ids.txt"), `${hashes(1, true, "home")[0]}\n`)
    const where = await runCli(["config", "path"], { cwd: dir, env: { HOME: "" } })
    expect(where.stdout.trim()).toMatch(/^\//)
    const run = await runCli(["files", "ids.txt", "--no-quota-probe", "--no-progress", "--base-url", server.url], {
      cwd: dir,
      env: { HOME: "", VT_API_KEY: key }
    })
    expect(run.code, run.stderr).toBe(0)
    const shown = await runCli(["config", "show"], { cwd: dir, env: { HOME: "", VT_API_KEY: key } })
    expect(shown.stdout).not.toContain(trapUrl)
    expect(trapped).toBe(0)
  }, 30_000)

  it("a password given as a parameter of a postgres:// URL (?password=, ?sslpassword=) is never shown", async () => {
    const dir = scratch()
    const store = "postgres://alice@127.0.0.1:1/vt?sslmode=disable&password=pw-in-query&sslpassword=ssl-phrase"
    const env = { VT_API_KEY: key, VT_QUOTA_STORE: store, ...userConfig(dir, "") }
    const shown = await runCli(["config", "show"], { cwd: dir, env })
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain("quota_store")
    expect(shown.stdout).toContain("sslmode=disable")
    expect(shown.stdout).not.toContain("pw-in-query")
    expect(shown.stdout).not.toContain("ssl-phrase")
    expect(shown.stdout).toContain("password=<redacted>&sslpassword=<redacted>")
    fs.writeFileSync(path.join(dir, "ids.txt"), `${"a".repeat(64)}\n`)
    const run = await runCli(
      ["files", "ids.txt", "-o", store, "--quota-store", store, "--base-url", "http://127.0.0.1:9", "--no-progress"],
      { cwd: dir, env }
    )
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("127.0.0.1:1")
    expect(run.stderr).not.toContain("pw-in-query")
    expect(run.stderr).not.toContain("ssl-phrase")
    const logs = fs.readdirSync(path.join(dir, "log"), { withFileTypes: true }).filter((f) => f.isFile())
    for (const log of logs) {
      const text = fs.readFileSync(path.join(dir, "log", log.name), "utf8")
      expect(text).not.toContain("pw-in-query")
      expect(text).not.toContain("ssl-phrase")
    }
  }, 30_000)

  it(
    "a postgres:// URL that does not parse (a # or / in the password, a bad port): its password is never shown",
    async () => {
      const dir = scratch()
      fs.writeFileSync(path.join(dir, "ids.txt"), `${"a".repeat(64)}\n`)
      for (
        const [url, secret] of [
          ["postgres://postgres:SEKRET#frag@127.0.0.1:1/x", "SEKRET"],
          ["postgres://postgres:pa/SEKRET2@127.0.0.1:1/x", "SEKRET2"],
          ["postgres://postgres@127.0.0.1:99999/t5?password=SEKRET3", "SEKRET3"],
          ["postgresql://u:SEKRET4@[::1/x", "SEKRET4"]
        ] as const
      ) {
        for (const option of ["--out", "--quota-store"]) {
          const run = await runCli(
            ["files", "ids.txt", option, url, "--base-url", "http://127.0.0.1:9", "--no-progress"],
            { cwd: dir, env: { VT_API_KEY: key } }
          )
          expect(run.code, `${option} ${url}`).toBe(2)
          expect(run.stderr).not.toContain(secret)
          expect(run.stderr).toContain(`cannot use ${option} postgres`)
        }
      }
    },
    60_000
  )

  it("a broken config file: exit 2 naming the file and line; config show says so; --help still works", async () => {
    const dir = scratch()
    fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "broken").join("\n"))
    const env = { VT_API_KEY: key, ...userConfig(dir, "tier = \"premium\"\n\nper_minute = \"fast\"\n") }
    const run = await runCli(["files", "list.txt", "--base-url", server.url], { cwd: dir, env })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(
      `config file "${
        path.join(dir, "xdg", "vt-harvest", "config.toml")
      }" line 3: per_minute must be a whole number from 1`
    )
    expect(server.requests).toHaveLength(0)
    const show = await runCli(["config", "show"], { cwd: dir, env })
    expect(show.code).toBe(2)
    expect(show.stdout).toContain("line 3: per_minute must be a whole number from 1")
    expect((await runCli(["--help"], { cwd: dir, env })).code).toBe(0)
    for (
      const [text, problem] of [
        ["[vt-harvest]\n", "line 1: tables are not supported"],
        ["colour = \"red\"\n", "line 1: unknown key \"colour\""],
        ["tier = \"gold\"\n", "line 1: tier must be \"public\" or \"premium\""],
        ["out = \"a\" b\n", "line 1: out: unexpected text after the value"],
        ["proxy = \"socks5://x\"\n", "line 1: proxy must be an http:// URL in quotes"],
        ["proxy = \"https://proxy.corp:3128\"\n", "line 1: proxy must be an http:// URL in quotes"]
      ] as const
    ) {
      userConfig(dir, text)
      const result = await runCli(["files", "list.txt"], { cwd: dir, env })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(problem)
    }
  }, 30_000)

  it("a config file that is a symbolic link to nothing: exit 2 saying so, config show too", async () => {
    const dir = scratch()
    fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "dangling").join("\n"))
    const env = { VT_API_KEY: key, ...userConfig(dir, "") }
    const file = path.join(dir, "xdg", "vt-harvest", "config.toml")
    fs.rmSync(file)
    fs.symlinkSync(path.join(dir, "dotfiles", "config.toml"), file)
    const run = await runCli(["files", "list.txt", "--base-url", server.url], { cwd: dir, env })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`config file "${file}": a symbolic link to nothing`)
    const show = await runCli(["config", "show"], { cwd: dir, env })
    expect(show.code).toBe(2)
    expect(show.stdout).toContain("a symbolic link to nothing")
    expect(server.requests).toHaveLength(0)
  }, 30_000)

  it(
    "a config file with several bad lines: every one is named; config show shows the good lines in force",
    async () => {
      const dir = scratch()
      fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "several").join("\n"))
      const env = {
        VT_API_KEY: key,
        ...userConfig(dir, "tier = \"premium\"\nper_minute = \"fast\"\nout = \"file-out\"\ncolour = \"red\"\n")
      }
      const run = await runCli(["files", "list.txt", "--base-url", server.url], { cwd: dir, env })
      expect(run.code).toBe(2)
      expect(run.stderr).toContain("line 2: per_minute must be a whole number from 1")
      expect(run.stderr).toContain("line 4: unknown key \"colour\"")
      expect(server.requests).toHaveLength(0)
      const show = await runCli(["config", "show"], { cwd: dir, env })
      expect(show.code).toBe(2)
      const lines = show.stdout.split("\n")
      expect(lines).toContain("tier         premium (config file)")
      expect(lines).toContain("out          file-out (config file)")
      expect(show.stdout).toContain("line 2: per_minute must be a whole number from 1")
      expect(show.stdout).toContain("line 4: unknown key \"colour\"")
    },
    30_000
  )
})

describe("settings from the environment", () => {
  it("a value of the wrong kind: exit 2 naming the variable, nothing sent; config show marks it", async () => {
    const dir = scratch()
    fs.writeFileSync(path.join(dir, "list.txt"), hashes(1, true, "badenv").join("\n"))
    for (
      const [name, value, problem] of [
        ["VT_TIER", "gold", "VT_TIER must be \"public\" or \"premium\", got \"gold\""],
        ["VT_CONCURRENCY", "abc", "VT_CONCURRENCY must be a whole number from 1, got \"abc\""],
        ["VT_CONCURRENCY", "12abc", "VT_CONCURRENCY must be a whole number from 1, got \"12abc\""],
        ["VT_PER_MINUTE", "0x10", "VT_PER_MINUTE must be a whole number from 1, got \"0x10\""],
        ["VT_PER_DAY", "1e3", "VT_PER_DAY must be a whole number from 1, got \"1e3\""],
        ["VT_PER_MONTH", "0", "VT_PER_MONTH must be a whole number from 1, got \"0\""],
        [
          "VT_BASE_URL",
          "ftp://u:secret-pw@host/x",
          "VT_BASE_URL must be an http(s) URL, got \"ftp://<redacted>@host/x\""
        ]
      ] as const
    ) {
      const env = { VT_API_KEY: key, [name]: value, ...userConfig(dir, "") }
      const run = await runCli(["files", "list.txt", "--base-url", server.url, "--no-progress"], { cwd: dir, env })
      expect(run.code, `${name}=${value}`).toBe(2)
      expect(run.stderr).toBe(`vt-harvest: ${problem}\n`)
      const show = await runCli(["config", "show"], { cwd: dir, env })
      expect(show.code).toBe(2)
      expect(show.stdout).toContain(`error: ${problem}`)
      expect(show.stdout).not.toContain("secret-pw")
    }
    // A whole number beyond a limit's range is named where it came from.
    for (
      const [file, env, problem] of [
        ["", { VT_CONCURRENCY: "300" }, "VT_CONCURRENCY must be a whole number from 1 to 256, got 300"],
        ["concurrency = 300\n", {}, "concurrency (config file) must be a whole number from 1 to 256"]
      ] as const
    ) {
      const run = await runCli(["files", "list.txt", "--base-url", server.url, "--no-progress"], {
        cwd: dir,
        env: { VT_API_KEY: key, ...env, ...userConfig(dir, file) }
      })
      expect(run.code).toBe(2)
      expect(run.stderr).toContain(problem)
    }
    userConfig(dir, "")
    expect(server.requests).toHaveLength(0)
    // Accepted as before: spaces around a number; an empty variable is unset.
    const env = { VT_API_KEY: key, VT_CONCURRENCY: " 2 ", VT_TIER: "", ...userConfig(dir, "") }
    const ok = await runCli(["files", "list.txt", "--base-url", server.url, "--no-progress"], { cwd: dir, env })
    expect(ok.code).toBe(0)
    expect((await runCli(["config", "show"], { cwd: dir, env })).code).toBe(0)
  }, 60_000)
})

describe("URLs in messages", () => {
  it("a password is never shown, wherever a URL's parser puts what precedes the last @", () => {
    for (
      const [url, secret] of [
        ["http://alice:8/xKq@proxy:3128", "xKq"],
        ["http://alice:12?x@proxy:3128", "12?x"],
        ["http://alice:123#abc@proxy:3128", "123#abc"],
        ["http://alice:pw-1@proxy:3128", "pw-1"],
        ["alice:pw-2@proxy:3128", "pw-2"]
      ] as const
    ) {
      // --out without a scheme is a directory: showOut leaves it as it is.
      for (const shown of url.includes("://") ? [redactUrl(url), showOut(url)] : [redactUrl(url)]) {
        expect(shown, url).not.toContain(secret)
        expect(shown, url).toContain("proxy:3128")
      }
    }
    expect(redactUrl("http://alice:pw-1@proxy:3128")).toBe("http://<redacted>@proxy:3128")
    // An S3 location has no credentials: shown as written, an @ in its key included.
    expect(showOut("s3://bucket/a@b/c")).toBe("s3://bucket/a@b/c")
  })
})
