/**
 * The options commands share, declared once.
 */
import { Args, Options } from "@effect/cli"
import { Config, Option } from "effect"
import * as Analyses from "../internal/analyses.js"
import * as Settings from "../internal/settings.js"

// Every fallback reads the environment first, then the user config file (bin.ts offers the file's values under the
// same names behind the environment's): flag > environment > config file > default.
const withEnv = (name: string, fallback: string) => Config.string(name).pipe(Config.withDefault(fallback))

/** An optional whole number that falls back to the environment, then the config file. */
const optionalInteger = (name: string, env: string, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.optional,
    Options.withFallbackConfig(Config.map(Config.integer(env), Option.some))
  )

export const out = Options.text("out").pipe(
  Options.withAlias("o"),
  Options.withDescription(
    "Where reports go: a directory (default vt_reports), s3://bucket/prefix (AWS_* environment) or postgres://… (PG* environment) [VT_OUT]"
  ),
  Options.withFallbackConfig(withEnv("VT_OUT", "vt_reports"))
)

export const baseUrl = Options.text("base-url").pipe(
  Options.withDescription(`VirusTotal API root (default ${Settings.defaultBaseUrl}) [VT_BASE_URL]`),
  Options.withFallbackConfig(withEnv("VT_BASE_URL", Settings.defaultBaseUrl))
)

export const apiKeyFile = Options.text("api-key-file").pipe(
  Options.withDescription("Read the API key from this file instead of VT_API_KEY"),
  Options.optional
)

export const proxy = Options.text("proxy").pipe(
  Options.withDescription(
    "HTTP proxy for VirusTotal and S3, http://[user:password@]host:port (default: HTTPS_PROXY / HTTP_PROXY, then the config file; NO_PROXY applies)"
  ),
  Options.optional
)

/** The options of every command that sends requests and writes to a store (`Run.CommonOptions`). */
export const common = {
  out,
  baseUrl,
  apiKeyFile,
  proxy,
  tier: Options.choice("tier", ["public", "premium"]).pipe(
    Options.withDescription(
      "Quota preset (default public): public = 4/min, 500/day, 15,500/month, concurrency 1; premium = no limits, concurrency 16"
    ),
    Options.withFallbackConfig(
      Config.literal("public", "premium")("VT_TIER").pipe(Config.withDefault("public" as const))
    )
  ),
  perMinute: optionalInteger("per-minute", "VT_PER_MINUTE", "Requests per minute (default: from --tier)"),
  perDay: optionalInteger(
    "per-day",
    "VT_PER_DAY",
    "Requests per UTC day (default: from --tier, lowered to the key's own limit)"
  ),
  perMonth: optionalInteger(
    "per-month",
    "VT_PER_MONTH",
    "Requests per UTC month (default: from --tier, lowered to the key's own limit)"
  ),
  concurrency: optionalInteger("concurrency", "VT_CONCURRENCY", "Requests in flight at once (default: from --tier)"),
  retries: Options.integer("retries").pipe(
    Options.withDescription(
      "Retries of an item after a transient failure (503, 504, timeouts…) before it fails (default 5)"
    ),
    Options.optional
  ),
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("Seconds a request may take before it is abandoned and retried (default 60)"),
    Options.optional
  ),
  logDir: Options.text("log-dir").pipe(
    Options.withDescription("Directory for the run log (default log) [VT_LOG_DIR]"),
    Options.withFallbackConfig(withEnv("VT_LOG_DIR", "log"))
  ),
  logFormat: Options.choice("log-format", ["text", "json"]).pipe(
    Options.withDescription("Run log format: text lines or JSON lines (default text)"),
    Options.withDefault("text" as const)
  ),
  gzip: Options.boolean("gzip").pipe(
    Options.withDescription(
      "Store gzip-compressed records (<key>.json.gz in a directory, Content-Encoding: gzip on S3); reruns read both"
    )
  ),
  noProgress: Options.boolean("no-progress").pipe(Options.withDescription("No progress display, plain lines only")),
  quotaStore: Options.text("quota-store").pipe(
    Options.withDescription(
      "Share the key's quota with every process that names the same PostgreSQL database (postgres://…): one gate " +
        "for all of them, on any machine, and no id requested by two at once [VT_QUOTA_STORE]\nExample: " +
        "vt-harvest files part1.txt --quota-store postgres://harvest@db/vt"
    ),
    Options.optional,
    Options.withFallbackConfig(Config.map(Config.string("VT_QUOTA_STORE"), Option.some))
  ),
  shard: Options.text("shard").pipe(
    Options.withDescription(
      "Take only part i of n of the input (i/n, from 1/n to n/n), split by a stable hash of each id: n processes " +
        "with 1/n … n/n share one list without talking to each other\nExample: vt-harvest files big.txt --shard 2/4"
    ),
    Options.optional
  ),
  noQuotaProbe: Options.boolean("no-quota-probe").pipe(
    Options.withDescription(
      "Don't ask VirusTotal what the key is allowed and already used before starting, nor which window a 429 spent"
    )
  )
}

/** What the examples of a command's options show: the command, an input of its kind, two of its relationships. */
export interface HarvestExample {
  readonly command: string
  readonly input: string
  readonly relationships: readonly [string, string]
}

/** --relationships and --relationship-pages, for the commands that fetch reports by id, with their examples. */
export const relationships = (example: HarvestExample) => ({
  relationships: Options.text("relationships").pipe(
    Options.withDescription(
      "Also fetch these relationships (comma-separated, e.g. contacted_domains,contacted_ips): still one request per " +
        "id (?relationships=a,b), the report keeps the first page of each under data.relationships; a saved report " +
        `lacking one is fetched again.\nExample: vt-harvest ${example.command} ${example.input} --relationships ` +
        example.relationships.join(",")
    ),
    Options.optional
  ),
  relationshipPages: Options.text("relationship-pages").pipe(
    Options.withDescription(
      "Follow each relationship's cursor for N more pages (40 descriptors each, one request per page) or all (at " +
        `most 16 MiB a record), saved as <out>/_relationships/<name>/<key>.json.\nExample: vt-harvest ${example.command} ${example.input} ` +
        `--relationships ${example.relationships[1]} --relationship-pages all`
    ),
    Options.optional
  )
})

/** --behaviour, for `files`. */
export const behaviour = Options.choice("behaviour", ["summary", "mitre", "all"]).pipe(
  Options.withDescription(
    "Also fetch each file's sandbox behaviour: the summary over all sandboxes (behaviour_summary), the MITRE " +
      "ATT&CK trees (behaviour_mitre_trees) or both, one request each, saved as <out>/_behaviours/<summary|mitre>/" +
      "<hash>.json; a saved report lacking one costs only that request.\nExample: vt-harvest files hashes.txt " +
      "--behaviour all"
  ),
  Options.optional
)

/** --rescan-older-than, for `files` and `urls`. */
export const rescanOlderThan = Options.text("rescan-older-than").pipe(
  Options.withDescription(
    "Analyse again each report (saved or just fetched) whose last_analysis_date is older than this age (12h, 30d, " +
      "2w; units s, m, h, d, w): POST /files|urls/{id}/analyse, wait for the analysis (saved under <out>/_analyses/, " +
      "--poll-interval, --wait-timeout), fetch the report again and replace the saved one in one step. A report fresh " +
      "enough costs no request.\nExample: vt-harvest files hashes.txt --rescan-older-than 30d"
  ),
  Options.optional
)

export const overwrite = (description: string) =>
  Options.boolean("overwrite").pipe(Options.withDescription(description))

export const retryNotFound = (description: string) =>
  Options.boolean("retry-not-found").pipe(Options.withDescription(description))

export const concurrency = (description: string) =>
  Options.integer("concurrency").pipe(Options.withDescription(description), Options.optional)

/** --poll-interval and --wait-timeout, for commands that wait for analyses. */
export const wait = {
  pollInterval: Options.integer("poll-interval").pipe(
    Options.withDescription(
      `Seconds between two requests for an analysis (default ${
        Analyses.defaultPollSeconds("public")
      } on the public tier, ${Analyses.defaultPollSeconds("premium")} on premium); each one counts against the quota`
    ),
    Options.optional
  ),
  waitTimeout: Options.integer("wait-timeout").pipe(
    Options.withDescription(
      `Seconds to wait for one analysis before giving up on it (default ${Analyses.defaultWaitTimeoutSeconds})`
    ),
    Options.optional
  )
}

export const input = Args.text({ name: "input" }).pipe(
  Args.withDescription("A file with one id per line, or - for standard input")
)
