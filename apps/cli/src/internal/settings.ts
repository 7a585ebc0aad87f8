import { QuotaPolicy } from "@vt-harvest/rate-schedule"
import { Config, Data, Effect, Option, Redacted } from "effect"
import * as Bounded from "./bounded.js"
import * as DotEnv from "./dotenv.js"

/** Unusable arguments or configuration: exit status 2, nothing sent. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** A one-shot request failed (not the key): exit status 1. */
export class RequestFailed extends Data.TaggedError("RequestFailed")<{ readonly message: string }> {}

/** VirusTotal's own API root, used unless --base-url or VT_BASE_URL says otherwise. */
export const defaultBaseUrl = "https://www.virustotal.com/api/v3"

export interface LimitOptions {
  readonly tier: "public" | "premium"
  readonly perMinute: Option.Option<number>
  readonly perDay: Option.Option<number>
  readonly perMonth: Option.Option<number>
  readonly concurrency: Option.Option<number>
  readonly retries: Option.Option<number>
}

/**
 * Where the value of the option `name` came from, as the user would look for it: the flag when the command line has
 * it, else its environment variable when set, else the config file (flag > environment > config file).
 */
const sourceOf = (name: string): string => {
  const flag = `--${name}`
  if (process.argv.some((arg) => arg === flag || arg.startsWith(`${flag}=`))) return flag
  const variable = `VT_${name.toUpperCase().replaceAll("-", "_")}`
  if ((process.env[variable] ?? "") !== "") return variable
  return `${name.replaceAll("-", "_")} (config file)`
}

const positive = (
  name: string,
  value: Option.Option<number>,
  max = Number.MAX_SAFE_INTEGER
): Effect.Effect<number | undefined, UsageError> =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (n) =>
      Number.isInteger(n) && n >= 1 && n <= max
        ? Effect.succeed(n)
        : Effect.fail(
          new UsageError({ message: `${sourceOf(name)} must be a whole number from 1 to ${max}, got ${n}` })
        )
  })

/** The tier preset with every limit the user overrode. */
export const policy = (options: LimitOptions): Effect.Effect<QuotaPolicy.QuotaPolicy, UsageError> =>
  Effect.gen(function*() {
    const perMinute = yield* positive("per-minute", options.perMinute)
    const perDay = yield* positive("per-day", options.perDay)
    const perMonth = yield* positive("per-month", options.perMonth)
    const concurrency = yield* positive("concurrency", options.concurrency, 256)
    const retries = yield* Option.match(options.retries, {
      onNone: (): Effect.Effect<number | undefined, UsageError> => Effect.succeed(undefined),
      onSome: (n) =>
        Number.isInteger(n) && n >= 0 && n <= 100
          ? Effect.succeed(n)
          : Effect.fail(new UsageError({ message: `--retries must be a whole number from 0 to 100, got ${n}` }))
    })
    const base = options.tier === "premium" ? QuotaPolicy.premiumTier : QuotaPolicy.publicTier
    return QuotaPolicy.make(base, {
      ...(perMinute !== undefined ? { perMinute } : {}),
      ...(perDay !== undefined ? { perDay } : {}),
      ...(perMonth !== undefined ? { perMonth } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(retries !== undefined ? { maxTransientRetries: retries } : {})
    })
  })

/**
 * An http(s) URL without a trailing slash. Not one with credentials, nor with a query or a fragment (`…/api/v3?`,
 * `…#`): the path of every request is added to it, and would land in its query or fragment, each id then answered by
 * whatever the server says of the base path (a 404: every id recorded as not found).
 */
export const baseUrl = (input: string): Effect.Effect<string, UsageError> => {
  const parsed = URL.canParse(input) ? new URL(input) : undefined
  // Shown without its credentials, parsed or not: a password in the URL is never printed (up to the last `@` before
  // the path, as a URL parser splits them).
  const shown = input.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1***@")
  const bad = (why: string) =>
    new UsageError({ message: `--base-url must be an http(s) URL${why}, got ${JSON.stringify(shown.slice(0, 200))}` })
  if (parsed === undefined || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) return Effect.fail(bad(""))
  if (parsed.username !== "" || parsed.password !== "") return Effect.fail(bad(" without credentials"))
  if (/[?#]/.test(input)) return Effect.fail(bad(" without a query or a fragment (? or #)"))
  return Effect.succeed(input.replace(/\/+$/, ""))
}

const validKey = (key: string) => /^[\x21-\x7e]{1,256}$/.test(key)

const keyProblem = (where: string) =>
  new UsageError({ message: `the API key in ${where} is not usable (expected one line of printable characters)` })

/** The largest --api-key-file read: a key is a line of 64 characters. */
export const maxKeyFileBytes = 4 * 1024

/**
 * The key from --api-key-file (a file, a FIFO or a process substitution, at most 4 KiB), else VT_API_KEY from the
 * environment, else from a `.env` file in the working directory (the only setting a `.env` supplies). It stays
 * Redacted: only its source is ever named in messages.
 */
export const apiKey = (
  file: Option.Option<string>
): Effect.Effect<Redacted.Redacted<string>, UsageError> =>
  Option.match(file, {
    onSome: (path) =>
      Effect.gen(function*() {
        const where = `--api-key-file ${JSON.stringify(path)}`
        const read = yield* Effect.promise(() => Bounded.read(path, { max: maxKeyFileBytes, regularOnly: false }))
        if (read._tag !== "Text") {
          return yield* new UsageError({ message: `cannot read ${where}: ${Bounded.describeProblem(read)}` })
        }
        const key = read.text.trim()
        if (!validKey(key)) return yield* Effect.fail(keyProblem(where))
        return Redacted.make(key)
      }),
    onNone: () =>
      Config.redacted("VT_API_KEY").pipe(
        Effect.map((key) => ({ value: Redacted.value(key).trim(), where: "VT_API_KEY" })),
        Effect.orElse(() =>
          Effect.flatMap(Effect.promise(() => DotEnv.apiKey()), (found) =>
            found._tag === "Key"
              ? Effect.succeed({ value: found.value.trim(), where: "VT_API_KEY of .env" })
              : new UsageError({
                message: "no API key: set VT_API_KEY in the environment or in a .env file in the working directory, " +
                  `or pass --api-key-file <path>${found.note === undefined ? "" : ` (${found.note})`}`
              }))
        ),
        Effect.flatMap(({ value, where }) =>
          validKey(value) ? Effect.succeed(Redacted.make(value)) : Effect.fail(keyProblem(where))
        )
      )
  })

/** A positive number of seconds (at most a day), or the default. */
export const seconds = (
  name: string,
  value: Option.Option<number>,
  fallback: number
): Effect.Effect<number, UsageError> => positive(name, value, 86_400).pipe(Effect.map((n) => n ?? fallback))

/** `--shard i/n` (1 ≤ i ≤ n ≤ 1000) as a 0-based index and a count. */
export const shard = (
  value: Option.Option<string>
): Effect.Effect<{ readonly index: number; readonly count: number } | undefined, UsageError> => {
  if (Option.isNone(value)) return Effect.succeed(undefined)
  const match = /^\s*(\d{1,4})\s*\/\s*(\d{1,4})\s*$/.exec(value.value)
  const index = Number(match?.[1])
  const count = Number(match?.[2])
  return match !== null && index >= 1 && count >= 1 && index <= count && count <= 1000
    ? Effect.succeed({ index: index - 1, count })
    : Effect.fail(
      new UsageError({
        message: `--shard takes i/n with 1 ≤ i ≤ n ≤ 1000 (e.g. --shard 2/4), not ${JSON.stringify(value.value)}`
      })
    )
}
