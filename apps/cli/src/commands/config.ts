/**
 * `vt-harvest config path|show`: where the user config file is, and the settings in force with where each comes
 * from (flag > environment > config file > default; flags are per run, so `show` names the other three). The API
 * key is never shown, only whether there is one and where it comes from; proxy credentials are redacted.
 */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import * as Run from "../engine/Run.js"
import * as DotEnv from "../internal/dotenv.js"
import * as Proxy from "../internal/proxy.js"
import * as Settings from "../internal/settings.js"
import * as Text from "../internal/text.js"
import * as UserConfig from "../internal/userConfig.js"

export const configPath = Command.make(
  "path",
  {},
  () =>
    Run.exitWith(
      Effect.flatMap(UserConfig.Current, (loaded) => Effect.as(Console.log(Text.escapeControls(loaded.path)), 0))
    )
)
  .pipe(Command.withDescription("Print where the user config file is (it need not exist)."))

const defaults: Readonly<Record<string, string>> = {
  tier: "public",
  per_minute: "from the tier",
  per_day: "from the tier",
  per_month: "from the tier",
  concurrency: "from the tier",
  out: "vt_reports",
  log_dir: "log",
  base_url: Settings.defaultBaseUrl,
  proxy: "none",
  quota_store: "none (this process's own gate)"
}

// Settings that may be URLs with a password in them: shown without it.
const urlSettings = new Set(["proxy", "base_url", "out", "quota_store"])

/** The value in force for a key of the config file and where it comes from. */
const setting = (loaded: UserConfig.Loaded, name: string): readonly [string, string] => {
  const spec = UserConfig.keys[name]
  const fromEnv = process.env[spec.env]
  if (name === "proxy") {
    const variable = Proxy.environmentVariable()
    if (variable !== undefined) return [(process.env[variable] ?? "").trim(), `environment ${variable}`]
  }
  if (fromEnv !== undefined && fromEnv !== "") return [fromEnv, `environment ${spec.env}`]
  const fromFile = loaded.values.get(name)
  if (fromFile !== undefined) return [String(fromFile), "config file"]
  return [defaults[name] ?? "", "default"]
}

export const configShow = Command.make("show", {}, () =>
  Run.exitWith(Effect.gen(function*() {
    const loaded = yield* UserConfig.Current
    const key = (process.env.VT_API_KEY ?? "") !== ""
      ? "<redacted> (environment VT_API_KEY)"
      : yield* Effect.promise(() => DotEnv.apiKey()).pipe(
        Effect.map((found) =>
          found._tag === "Key"
            ? "<redacted> (VT_API_KEY in ./.env)"
            : `none${found.note === undefined ? "" : ` (${found.note})`}`
        )
      )
    const rows: Array<readonly [string, string]> = [
      ["config file", `${loaded.path} (${loaded.exists ? "found" : "not found"})`],
      ["api key", key],
      ...Object.keys(UserConfig.keys).map((name) => {
        const [value, source] = setting(loaded, name)
        return [
          name,
          `${urlSettings.has(name) ? UserConfig.redactUrl(value) : value} (${source})`
        ] as const
      })
    ]
    const width = Math.max(...rows.map(([name]) => name.length))
    const lines = rows.map(([name, value]) => Text.escapeControls(`${name.padEnd(width)}  ${value}`))
    const problems = UserConfig.problemsOf(loaded)
    for (const problem of problems) lines.push(`error: ${Text.escapeControls(problem)}`)
    yield* Console.log(lines.join("\n"))
    return problems.length === 0 ? 0 : 2
  }))).pipe(
    Command.withDescription(
      "Show the settings in force and where each comes from (environment, config file, default); the key redacted."
    )
  )

export const config = Command.make("config", {}).pipe(
  Command.withDescription(
    "The user config file ($XDG_CONFIG_HOME/vt-harvest/config.toml, default ~/.config/vt-harvest/config.toml):\n" +
      "defaults for tier, per_minute, per_day, per_month, concurrency, out, log_dir, base_url, proxy and\n" +
      "quota_store.\n" +
      "Precedence: flag > environment > config file > default."
  ),
  Command.withSubcommands([configPath, configShow])
)
