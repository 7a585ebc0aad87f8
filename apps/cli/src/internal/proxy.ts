/**
 * Which HTTP proxy requests go through, as curl decides it: `--proxy`, else `HTTPS_PROXY`/`HTTP_PROXY` (either case)
 * from the environment, else the user config file's `proxy`; `NO_PROXY` (either case) names the hosts reached
 * directly. The same setting serves VirusTotal (undici's EnvHttpProxyAgent, in vt-client) and S3 (a tunnelling
 * agent, proxyAgent.ts). Proxy credentials are secrets like the key: every message shows the URL redacted.
 */
import { Config, Effect, Option } from "effect"
import { UsageError } from "./settings.js"
import { credentialsMisplaced, redactUrl } from "./userConfig.js"

/** The proxies in force; `undefined` fields are not set (direct). */
export interface Proxy {
  readonly httpProxy: string | undefined
  readonly httpsProxy: string | undefined
  readonly noProxy: string | undefined
  /** Where they come from, for the start line and `config show`. */
  readonly source: string
}

/** The spelling of `name` a run reads: the lower-case one when it is set, as curl does. */
const spelling = (name: string): string => {
  const lower = process.env[name.toLowerCase()]
  return lower !== undefined && lower.trim() !== "" ? name.toLowerCase() : name
}

/**
 * The environment variable a run takes its proxy from, as spelt (`https_proxy` before `HTTPS_PROXY`, then the
 * `HTTP_PROXY` pair), or `undefined`: for `config show`.
 */
export const environmentVariable = (): string | undefined =>
  ["HTTPS_PROXY", "HTTP_PROXY"].map(spelling).find((name) => (process.env[name] ?? "").trim() !== "")

const env = (name: string): string | undefined => {
  const value = process.env[spelling(name)]
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}

// Only http:// proxies: the tunnel to an https target is TLS of its own, and a connection to the proxy itself in TLS
// is something S3's agents would not do (they sent its credentials in clear to an https:// proxy).
const checkUrl = (where: string, value: string): Effect.Effect<string, UsageError> =>
  URL.canParse(value) && /^http:\/\//i.test(value) && new URL(value).protocol === "http:" &&
    !credentialsMisplaced(value)
    ? Effect.succeed(value)
    : Effect.fail(
      new UsageError({
        message: `${where} must be an http:// URL (http://[user:password@]host:port), got ${
          JSON.stringify(redactUrl(value).slice(0, 200))
        }`
      })
    )

/** The proxy settings of a run: `--proxy`, else the environment, else the config file (`VT_PROXY` behind it). */
export const resolve = (flag: Option.Option<string>): Effect.Effect<Proxy | undefined, UsageError> =>
  Effect.gen(function*() {
    const noProxy = env("NO_PROXY")
    if (Option.isSome(flag)) {
      const uri = yield* checkUrl("--proxy", flag.value)
      return { httpProxy: uri, httpsProxy: uri, noProxy, source: "--proxy" }
    }
    const httpProxy = env("HTTP_PROXY")
    const httpsProxy = env("HTTPS_PROXY")
    if (httpProxy !== undefined || httpsProxy !== undefined) {
      return {
        httpProxy: httpProxy === undefined ? undefined : yield* checkUrl("HTTP_PROXY", httpProxy),
        // As curl and undici do: https targets use HTTPS_PROXY, else HTTP_PROXY.
        httpsProxy: httpsProxy === undefined ? httpProxy : yield* checkUrl("HTTPS_PROXY", httpsProxy),
        noProxy,
        source: spelling(httpsProxy !== undefined ? "HTTPS_PROXY" : "HTTP_PROXY")
      }
    }
    const configured = yield* Config.option(Config.string("VT_PROXY")).pipe(Effect.orElseSucceed(() => Option.none()))
    if (Option.isNone(configured) || configured.value.trim() === "") return undefined
    // VT_PROXY stands in front of the config file's proxy (as every setting's variable does).
    const source = (process.env.VT_PROXY ?? "").trim() !== "" ? "VT_PROXY" : "config file"
    const uri = yield* checkUrl(source === "VT_PROXY" ? "VT_PROXY" : "proxy (config file)", configured.value.trim())
    return { httpProxy: uri, httpsProxy: uri, noProxy, source }
  })

/**
 * Whether NO_PROXY names the host of `target`, by the rule undici's EnvHttpProxyAgent applies to VirusTotal's
 * requests (so S3's follow the same): `*` is every host; an entry (a leading `.` or `*.` dropped, an optional
 * `:port`) matches the host itself and its subdomains.
 */
export const bypasses = (noProxy: string | undefined, target: URL): boolean => {
  if (noProxy === undefined || noProxy.trim() === "") return false
  if (noProxy.trim() === "*") return true
  const host = target.host.replace(/:\d*$/, "").toLowerCase()
  const port = Number.parseInt(target.port, 10) || (target.protocol === "https:" ? 443 : 80)
  return noProxy.split(/[,\s]/).filter((entry) => entry !== "").some((entry) => {
    const parsed = /^(.+):(\d+)$/.exec(entry)
    const name = (parsed === null ? entry : parsed[1]).replace(/^\*?\./, "").toLowerCase()
    if (parsed !== null && Number.parseInt(parsed[2], 10) !== port) return false
    return host === name || host.endsWith(`.${name}`)
  })
}

/** The proxy a request to `target` goes through, or `undefined` for a direct connection. */
export const forTarget = (proxy: Proxy | undefined, target: URL): string | undefined => {
  if (proxy === undefined || bypasses(proxy.noProxy, target)) return undefined
  return target.protocol === "https:" ? proxy.httpsProxy : proxy.httpProxy
}

/** "via proxy http://<redacted>@proxy:3128 (HTTPS_PROXY)" for the start line, or "" when direct. */
export const describe = (proxy: Proxy | undefined, target: URL): string => {
  const uri = forTarget(proxy, target)
  return uri === undefined ? "" : ` via proxy ${redactUrl(uri)} (${proxy!.source})`
}
