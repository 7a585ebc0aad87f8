/**
 * The user config file, `$XDG_CONFIG_HOME/vt-harvest/config.toml` (default `~/.config/vt-harvest/config.toml`):
 * defaults for the settings a user keeps from run to run. Precedence: flag > environment > this file > built-in
 * default. The file's values are offered under the same names as the environment's (`out` as `VT_OUT`), behind it,
 * so every option's fallback reads both in that order. It never holds the API key.
 *
 * A small subset of TOML: `key = "string"` (or `'literal'`), `key = 123`, `key = true`, comments after `#`, blank
 * lines. Anything else (tables, arrays, an unknown key, a value of the wrong kind) is an error naming the line.
 */
import { Context } from "effect"
import * as nodeFs from "node:fs"
import * as nodeOs from "node:os"
import * as nodePath from "node:path"
import * as Bounded from "./bounded.js"

/** The largest config file read. */
export const maxBytes = 64 * 1024

type Kind = "string" | "integer" | "tier" | "url" | "proxy"

/** Each key of the file: the environment variable it stands behind, and the kind of its value. */
export const keys: Readonly<Record<string, { readonly env: string; readonly kind: Kind; readonly help: string }>> = {
  tier: { env: "VT_TIER", kind: "tier", help: "quota preset: public or premium" },
  per_minute: { env: "VT_PER_MINUTE", kind: "integer", help: "requests per minute" },
  per_day: { env: "VT_PER_DAY", kind: "integer", help: "requests per UTC day" },
  per_month: { env: "VT_PER_MONTH", kind: "integer", help: "requests per UTC month" },
  concurrency: { env: "VT_CONCURRENCY", kind: "integer", help: "requests in flight at once" },
  out: { env: "VT_OUT", kind: "string", help: "where reports go: a directory or s3://bucket/prefix" },
  log_dir: { env: "VT_LOG_DIR", kind: "string", help: "directory of the run logs" },
  base_url: { env: "VT_BASE_URL", kind: "url", help: "the VirusTotal API root" },
  proxy: { env: "VT_PROXY", kind: "proxy", help: "HTTP proxy for VirusTotal and S3 (after HTTPS_PROXY/HTTP_PROXY)" },
  quota_store: {
    env: "VT_QUOTA_STORE",
    kind: "string",
    help: "postgres:// database of the quota ledger shared with other processes on the key"
  }
}

/** Where the file is, as the environment says. */
export const location = (env: NodeJS.ProcessEnv = process.env): string => {
  const xdg = env.XDG_CONFIG_HOME ?? ""
  // The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored. So is an empty or relative HOME (Node's homedir
  // answers "" for HOME=""): the account's home directory instead, never one under the working directory.
  if (xdg !== "" && nodePath.isAbsolute(xdg)) return nodePath.join(xdg, "vt-harvest", "config.toml")
  const home = [env.HOME, nodeOs.homedir(), accountHome()].find((dir) => dir !== undefined && nodePath.isAbsolute(dir))
  return nodePath.join(home ?? "/nonexistent", ".config", "vt-harvest", "config.toml")
}

/** The home directory of the account (the password database), whatever HOME says. */
const accountHome = (): string | undefined => {
  try {
    return nodeOs.userInfo().homedir
  } catch {
    return undefined
  }
}

/** A problem in the file, with its line when it is about one. */
export interface Problem {
  readonly line?: number
  readonly message: string
}

export type Value = string | number | boolean

const basicEscapes: Record<string, string> = { "\"": "\"", "\\": "\\", n: "\n", t: "\t", r: "\r", b: "\b", f: "\f" }

/** The value at the start of `text` and what follows it, or a problem. */
const value = (text: string): { readonly value: Value; readonly rest: string } | string => {
  if (text.startsWith("\"")) {
    let out = ""
    for (let i = 1; i < text.length; i++) {
      const c = text[i]
      if (c === "\"") return { value: out, rest: text.slice(i + 1) }
      if (c !== "\\") {
        out += c
        continue
      }
      const next = text[++i]
      if (next === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) {
        out += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16))
        i += 4
      } else if (next !== undefined && basicEscapes[next] !== undefined) out += basicEscapes[next]
      else return "an unknown escape in a string"
    }
    return "a string without its closing quote"
  }
  if (text.startsWith("'")) {
    const end = text.indexOf("'", 1)
    return end === -1 ? "a string without its closing quote" : { value: text.slice(1, end), rest: text.slice(end + 1) }
  }
  const bare = /^([^\s#]+)(.*)$/.exec(text)
  if (bare === null) return "a missing value"
  const [, word, rest] = bare
  if (word === "true" || word === "false") return { value: word === "true", rest }
  if (/^[+-]?(?:0|[1-9](?:_?\d)*)$/.test(word)) return { value: Number(word.replaceAll("_", "")), rest }
  return `an unsupported value ${JSON.stringify(word.slice(0, 40))} (a quoted string, a whole number or true/false)`
}

/** What a config text says: the values of its good lines, and a problem for each bad one. */
export interface Parsed {
  readonly values: Map<string, Value>
  readonly problems: ReadonlyArray<Problem>
}

/** The key/value pairs of a config text, and every line's problem. Keys may be written with `-` or `_`. */
export const parse = (text: string): Parsed => {
  const values = new Map<string, Value>()
  const problems: Array<Problem> = []
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/)
  const line = (i: number): Problem | undefined => {
    const content = lines[i].trim()
    if (content === "" || content.startsWith("#")) return undefined
    const problem = (message: string): Problem => ({ line: i + 1, message })
    if (content.startsWith("[")) return problem("tables are not supported: put every key at the top level")
    const match = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(content)
    if (match === null) return problem("expected key = value")
    const name = match[1].replaceAll("-", "_")
    const spec = keys[name]
    if (spec === undefined) {
      return problem(`unknown key ${JSON.stringify(match[1])} (known: ${Object.keys(keys).join(", ")})`)
    }
    const parsed = value(match[2])
    if (typeof parsed === "string") return problem(`${match[1]}: ${parsed}`)
    if (!/^\s*(?:#.*)?$/.test(parsed.rest)) return problem(`${match[1]}: unexpected text after the value`)
    const kindProblem = check(spec.kind, parsed.value)
    if (kindProblem !== undefined) return problem(`${match[1]} must be ${kindProblem}`)
    if (values.has(name)) return problem(`${match[1]} is set twice`)
    values.set(name, parsed.value)
    return undefined
  }
  for (let i = 0; i < lines.length; i++) {
    const problem = line(i)
    if (problem !== undefined) problems.push(problem)
  }
  return { values, problems }
}

const check = (kind: Kind, v: Value): string | undefined => {
  switch (kind) {
    case "integer":
      return typeof v === "number" && Number.isSafeInteger(v) && v >= 1 ? undefined : "a whole number from 1"
    case "tier":
      return v === "public" || v === "premium" ? undefined : "\"public\" or \"premium\""
    case "string":
      return typeof v === "string" && v !== "" ? undefined : "a non-empty quoted string"
    case "url":
      return typeof v === "string" && URL.canParse(v) && /^https?:$/.test(new URL(v).protocol)
        ? undefined
        : "an http(s) URL in quotes"
    case "proxy":
      return typeof v === "string" && URL.canParse(v) && new URL(v).protocol === "http:" && !credentialsMisplaced(v)
        ? undefined
        : "an http:// URL in quotes"
  }
}

/** The file as read: where it is, the values of its good lines (none when there is no file), what is wrong with it. */
export interface Loaded {
  readonly path: string
  readonly exists: boolean
  readonly values: ReadonlyMap<string, Value>
  readonly problems: ReadonlyArray<Problem>
}

/** Reads the file (a regular file of at most {@link maxBytes}); a missing file is no problem. */
export const load = async (env: NodeJS.ProcessEnv = process.env): Promise<Loaded> => {
  const path = location(env)
  const read = await Bounded.read(path, { max: maxBytes, regularOnly: true })
  if (read._tag === "Missing") {
    // A link to nothing is a config file the user meant to have, not none (a dotfiles link gone stale).
    const dangling = await nodeFs.promises.lstat(path).then((info) => info.isSymbolicLink(), () => false)
    return dangling
      ? { path, exists: true, values: new Map(), problems: [{ message: "a symbolic link to nothing" }] }
      : { path, exists: false, values: new Map(), problems: [] }
  }
  if (read._tag !== "Text") {
    return { path, exists: true, values: new Map(), problems: [{ message: Bounded.describeProblem(read) }] }
  }
  return { path, exists: true, ...parse(read.text) }
}

/** The file's values under the names of the environment variables they stand behind (`out` as `VT_OUT`). */
export const asEnvironment = (loaded: Loaded): Map<string, string> =>
  new Map([...loaded.values].map(([name, v]) => [keys[name].env, String(v)]))

/** A problem in words, naming the file and the line. */
export const describeProblem = (loaded: Loaded, problem: Problem): string =>
  `config file ${JSON.stringify(loaded.path)}${
    problem.line === undefined ? "" : ` line ${problem.line}`
  }: ${problem.message}`

/**
 * What is wrong with the value of one setting's environment variable (unset or empty: nothing), by the rules of the
 * config file's values: whole numbers written in digits (`0x10`, `1e3` and `12abc` are not), a tier, an http(s)
 * URL (shown without its credentials).
 */
export const environmentProblem = (name: string, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const spec = keys[name]
  const raw = env[spec.env]
  if (raw === undefined || raw === "") return undefined
  // A number may have spaces around it (the environment's reader takes them); any other value is taken as it is.
  const parsed = spec.kind !== "integer" ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN
  const problem = check(spec.kind, parsed)
  if (problem === undefined) return undefined
  const shown = spec.kind === "url" || spec.kind === "proxy" ? redactUrl(raw) : raw
  return `${spec.env} must be ${problem.replace(/ in quotes$/, "")}, got ${JSON.stringify(shown.slice(0, 200))}`
}

/** Everything wrong with the settings: each bad line of the config file (naming it), each bad variable. */
export const problemsOf = (loaded: Loaded, env: NodeJS.ProcessEnv = process.env): ReadonlyArray<string> => [
  ...loaded.problems.map((problem) => describeProblem(loaded, problem)),
  ...environmentProblems(env)
]

/** Every setting whose environment variable holds a value of the wrong kind, in words. */
export const environmentProblems = (env: NodeJS.ProcessEnv = process.env): ReadonlyArray<string> =>
  Object.keys(keys).flatMap((name) => environmentProblem(name, env) ?? [])

/**
 * The config file of this run, as bin.ts loaded it: for `vt-harvest config`.
 */
export class Current extends Context.Tag("@vt-harvest/cli/UserConfig")<Current, Loaded>() {}

/** Parameters of a URL that carry a secret (PostgreSQL takes `?password=` and `?sslpassword=` as well as `user:pw@`). */
export const secretParams: ReadonlyArray<string> = ["password", "sslpassword"]

const scheme = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * Whether the credentials of `text` may lie where a URL parser does not look for them, so that only masking
 * everything up to its last `@` hides them: it does not parse; it has no scheme and an `@` (`alice:pw@proxy:3128`, as
 * curl takes it); or it parses with no user name or password although an `@` follows the scheme (a `/`, `?` or `#` in
 * a password made the rest a path, a query or a fragment: `http://alice:8/x@proxy:3128`).
 */
export const credentialsMisplaced = (text: string): boolean => {
  if (!URL.canParse(text)) return true
  if (!scheme.test(text)) return text.includes("@")
  const url = new URL(text)
  return url.username === "" && url.password === "" && text.slice(text.indexOf("//") + 2).includes("@")
}

/** `text` with everything between its scheme and its last `@` replaced by `marker`, and password parameters too. */
export const maskToLastAt = (text: string, marker: string): string => {
  const prefix = scheme.exec(text)?.[0] ?? ""
  const rest = text.slice(prefix.length)
  const at = rest.lastIndexOf("@")
  return `${prefix}${at === -1 ? rest : `${marker}@${rest.slice(at + 1)}`}`.replace(
    /([?&](?:ssl)?password=)[^&#\s]*/gi,
    `$1${marker}`
  )
}

/** A URL with its password (and user name) replaced, for messages: proxy credentials are secrets like the key. */
export const redactUrl = (text: string): string => {
  if (credentialsMisplaced(text)) return maskToLastAt(text, "<redacted>")
  const url = new URL(text)
  const credentials = url.username !== "" || url.password !== "" ? "<redacted>@" : ""
  for (const name of secretParams) if (url.searchParams.has(name)) url.searchParams.set(name, "<redacted>")
  // The search is serialised form-encoded: the marker is shown as written, not as %3Credacted%3E.
  const search = url.search.replaceAll("%3Credacted%3E", "<redacted>")
  return `${url.protocol}//${credentials}${url.host}${url.pathname === "/" ? "" : url.pathname}${search}`
}
