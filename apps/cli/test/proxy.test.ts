// Proxies on the built CLI, with a logging proxy on loopback: HTTP_PROXY / HTTPS_PROXY / NO_PROXY in either case,
// --proxy, the config file's proxy, credentials (sent to the proxy, never shown), an https target through a CONNECT
// tunnel with its CA from NODE_EXTRA_CA_CERTS. Nothing leaves the machine.
import * as S3 from "@aws-sdk/client-s3"
import { ReportSinkS3 } from "@vt-harvest/report-sink-s3"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import type * as net from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import * as ProxyAgent from "../src/internal/proxyAgent.js"
import { hashes, readJsonFiles, runCli, tempDir } from "./helpers.js"
import * as Hostile from "./hostileServer.js"
import * as ProxyServer from "./proxyServer.js"
import { startS3rver } from "./s3rver.js"

const isTransient = ReportSinkS3.isTransient

const key = "proxy-test-key-Rk27vB9sT1"
let server: VtEmulator.Server
let proxy: ProxyServer.ProxyServer
const dirs: Array<string> = []
const scratch = () => {
  const dir = tempDir("vt-harvest-proxy-")
  dirs.push(dir)
  return dir
}

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
  proxy = await ProxyServer.start()
})
afterAll(async () => {
  await server.close()
  await proxy.close()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  server.clearLog()
  server.resetQuota()
  proxy.seen.length = 0
})

const emulatorHost = () => new URL(server.url).host
const logOf = (dir: string) =>
  fs.readdirSync(path.join(dir, "log")).map((name) => fs.readFileSync(path.join(dir, "log", name), "utf8")).join("")

/** `files` on 3 known ids against `base`, with the environment given. */
const files = async (base: string, env: Record<string, string>, extra: ReadonlyArray<string> = [], out = "out") => {
  const dir = scratch()
  const ids = hashes(3, true, "proxy")
  fs.writeFileSync(path.join(dir, "list.txt"), ids.join("\n") + "\n")
  const result = await runCli(
    [
      "files",
      "list.txt",
      "-o",
      out,
      "--log-dir",
      "log",
      "--base-url",
      base,
      "--tier",
      "premium",
      "--no-progress",
      ...extra
    ],
    { cwd: dir, env: { VT_API_KEY: key, ...env } }
  )
  return { dir, ids, result, saved: readJsonFiles(path.join(dir, "out")) }
}

/** The proxy was asked for `host` (a CONNECT to it, or a forwarded absolute URI on it) at least `count` times. */
const proxied = (host: string, seen = proxy.seen) =>
  seen.filter((s) => s.target === host || s.target.startsWith(`http://${host}/`)).length

describe("VirusTotal through a proxy", () => {
  for (const name of ["HTTP_PROXY", "http_proxy"]) {
    it(`${name}: every request goes through the proxy; the start line says so`, async () => {
      const { dir, ids, result, saved } = await files(server.url, { [name]: proxy.url })
      expect(result.code).toBe(0)
      expect(saved).toEqual(ids.map((id) => `${id}.json`).sort())
      expect(proxied(emulatorHost())).toBeGreaterThanOrEqual(1)
      // The variable named as it is spelt.
      expect(logOf(dir)).toContain(`(api http://${emulatorHost()} via proxy ${proxy.url} (${name}), tier premium`)
    }, 30_000)
  }

  for (const name of ["NO_PROXY", "no_proxy"]) {
    it(`${name} naming the host: direct, the proxy asked nothing`, async () => {
      const { dir, result, saved } = await files(server.url, {
        HTTP_PROXY: proxy.url,
        [name]: "example.org, 127.0.0.1"
      })
      expect(result.code).toBe(0)
      expect(saved).toHaveLength(3)
      expect(proxy.seen).toHaveLength(0)
      expect(logOf(dir)).not.toContain("via proxy")
    }, 30_000)
  }

  it("--proxy with credentials: sent to the proxy, shown nowhere; wrong ones fail without showing them", async () => {
    const guarded = await ProxyServer.start({ credentials: "alice:s3cr3t-Pw0rd" })
    try {
      const good = await files(server.url, { HTTP_PROXY: proxy.url }, [
        "--proxy",
        `http://alice:s3cr3t-Pw0rd@127.0.0.1:${guarded.port}`
      ])
      expect(good.result.code).toBe(0)
      expect(good.saved).toHaveLength(3)
      // --proxy wins over the environment's proxy.
      expect(proxy.seen).toHaveLength(0)
      expect(guarded.seen.length).toBeGreaterThanOrEqual(1)
      expect(
        guarded.seen.every((s) => s.authorization === `Basic ${Buffer.from("alice:s3cr3t-Pw0rd").toString("base64")}`)
      )
        .toBe(true)
      const goodLog = logOf(good.dir)
      expect(goodLog).toContain(`via proxy http://<redacted>@127.0.0.1:${guarded.port} (--proxy)`)
      for (const text of [good.result.stdout, good.result.stderr, goodLog]) {
        expect(text).not.toContain("s3cr3t-Pw0rd")
        expect(text).not.toContain("alice")
      }

      const bad = await files(server.url, {}, [
        "--proxy",
        `http://alice:wr0ng-Pw0rd@127.0.0.1:${guarded.port}`,
        "--retries",
        "0",
        "--no-quota-probe"
      ])
      expect(bad.result.code).toBe(1)
      expect(bad.saved).toHaveLength(0)
      expect(bad.result.stderr).toContain("407")
      for (const text of [bad.result.stdout, bad.result.stderr, logOf(bad.dir)]) {
        expect(text).not.toContain("wr0ng-Pw0rd")
        expect(text).not.toContain("alice")
      }
    } finally {
      await guarded.close()
    }
  }, 60_000)

  it("the config file's proxy applies when the environment names none; HTTP_PROXY wins over it", async () => {
    const other = await ProxyServer.start()
    try {
      const dir = scratch()
      fs.mkdirSync(path.join(dir, "vt-harvest"))
      fs.writeFileSync(path.join(dir, "vt-harvest", "config.toml"), `proxy = "${other.url}"\n`)
      const fromFile = await files(server.url, { XDG_CONFIG_HOME: dir })
      expect(fromFile.result.code).toBe(0)
      expect(proxied(emulatorHost(), other.seen)).toBeGreaterThanOrEqual(1)
      expect(logOf(fromFile.dir)).toContain(`via proxy ${other.url} (config file)`)
      other.seen.length = 0
      const fromEnv = await files(server.url, { XDG_CONFIG_HOME: dir, HTTP_PROXY: proxy.url })
      expect(fromEnv.result.code).toBe(0)
      expect(other.seen).toHaveLength(0)
      expect(proxied(emulatorHost())).toBeGreaterThanOrEqual(1)
    } finally {
      await other.close()
    }
  }, 60_000)

  it("quota --proxy goes through the proxy too", async () => {
    const dir = scratch()
    const result = await runCli(["quota", "--json", "--base-url", server.url, "--proxy", proxy.url], {
      cwd: dir,
      env: { VT_API_KEY: key }
    })
    expect(result.code).toBe(0)
    expect(proxied(emulatorHost())).toBe(1)
  }, 30_000)

  it(
    "a proxy that is not an http:// URL (socks5, https, no scheme): exit 2, nothing sent, no credential shown",
    async () => {
      for (
        const [env, extra] of [
          [{ HTTPS_PROXY: "socks5://user:pw-Xy9@127.0.0.1:1080" }, []],
          [{}, ["--proxy", "https://alice:pw-Xy9@127.0.0.1:3128"]],
          [{}, ["--proxy", "alice:pw-Xy9@proxy.corp:3128"]],
          [{ HTTPS_PROXY: "alice:pw-Xy9@proxy.corp:3128" }, []]
        ] as const
      ) {
        const { result } = await files(server.url, env, extra)
        expect(result.code, JSON.stringify([env, extra])).toBe(2)
        expect(result.stderr).toMatch(/(?:HTTPS_PROXY|--proxy) must be an http:\/\/ URL/)
        expect(result.stderr).not.toContain("pw-Xy9")
      }
      expect(server.requests).toHaveLength(0)
    },
    30_000
  )

  const opensslAvailable = spawnSync("openssl", ["version"]).status === 0
  it.skipIf(!opensslAvailable)(
    "HTTPS_PROXY: an https API through a CONNECT tunnel, its CA from NODE_EXTRA_CA_CERTS (requires openssl)",
    async () => {
      const certs = scratch()
      const made = spawnSync("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-days",
        "1",
        "-keyout",
        path.join(certs, "key.pem"),
        "-out",
        path.join(certs, "cert.pem")
      ])
      expect(made.status).toBe(0)
      const https = await Hostile.start({
        tls: { key: fs.readFileSync(path.join(certs, "key.pem")), cert: fs.readFileSync(path.join(certs, "cert.pem")) }
      })
      try {
        const { ids, result, saved } = await files(https.url, {
          HTTPS_PROXY: proxy.url,
          NODE_EXTRA_CA_CERTS: path.join(certs, "cert.pem")
        })
        expect(result.code).toBe(0)
        expect(saved).toEqual(ids.map((id) => `${id}.json`).sort())
        expect(proxy.seen.filter((s) => s.method === "CONNECT" && s.target === `127.0.0.1:${https.port}`).length)
          .toBeGreaterThanOrEqual(1)
        expect(https.fileRequests()).toHaveLength(3)
      } finally {
        await https.close()
      }
    },
    60_000
  )
})

describe("the agents S3's requests take through a proxy", () => {
  /** A proxy answering every CONNECT with `status`. */
  const answering = async (status: number) => {
    const refusing = http.createServer()
    refusing.on("connect", (_request: http.IncomingMessage, socket: net.Socket) => {
      socket.on("error", () => undefined)
      socket.end(`HTTP/1.1 ${status} No\r\n\r\n`)
    })
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve))
    return refusing
  }
  const failureThrough = async (status: number, credentials: string) => {
    const refusing = await answering(status)
    const port = (refusing.address() as AddressInfo).port
    const uri = `http://${credentials}@127.0.0.1:${port}`
    const agents = ProxyAgent.agents({ httpProxy: uri, httpsProxy: uri, noProxy: undefined, source: "--proxy" })!
    try {
      return await new Promise<NodeJS.ErrnoException>((resolve, reject) =>
        http.get("http://s3.example:9000/bucket", { agent: agents.httpAgent }, () => reject(new Error("answered")))
          .on("error", resolve)
      )
    } finally {
      agents.httpAgent.destroy()
      await new Promise((resolve) => refusing.close(resolve))
    }
  }

  it("a proxy failing the tunnel (502, 503) is a reset connection, which S3's retries take; a 407 is not", async () => {
    for (const status of [502, 503]) {
      const error = await failureThrough(status, "alice:pw")
      expect(error.message).toContain(`the proxy answered ${status}`)
      expect(error.code).toBe("ECONNRESET")
      expect(isTransient(error)).toBe(true)
    }
    const refused = await failureThrough(407, "alice:pw")
    expect(refused.code).toBeUndefined()
    expect(isTransient(refused)).toBe(false)
    // A raw % in the password: sent as written, no crash.
    expect((await failureThrough(502, "alice:S3cr%t")).code).toBe("ECONNRESET")
  })
})

describe("S3 through the same proxy", () => {
  let store: Awaited<ReturnType<typeof startS3rver>>
  beforeAll(async () => {
    store = await startS3rver("proxied")
  }, 30_000)
  afterAll(() => store.close())

  const objects = async (prefix: string) =>
    ((await store.client.send(new S3.ListObjectsV2Command({ Bucket: "proxied", Prefix: prefix }))).Contents ?? [])
      .map((object) => object.Key!).sort()

  it("HTTP_PROXY: the reports are put through the proxy; NO_PROXY host:port sends S3's requests direct", async () => {
    const s3Host = new URL(store.url).host
    const proxiedRun = await files(server.url, { ...store.env, HTTP_PROXY: proxy.url }, [], "s3://proxied/via")
    expect(proxiedRun.result.code).toBe(0)
    expect(await objects("via/")).toEqual(proxiedRun.ids.map((id) => `via/${id}.json`).sort())
    expect(proxied(s3Host)).toBeGreaterThanOrEqual(1)
    expect(proxied(emulatorHost())).toBeGreaterThanOrEqual(1)

    proxy.seen.length = 0
    const direct = await files(
      server.url,
      { ...store.env, HTTP_PROXY: proxy.url, NO_PROXY: s3Host },
      [],
      "s3://proxied/direct"
    )
    expect(direct.result.code).toBe(0)
    expect(await objects("direct/")).toHaveLength(3)
    expect(proxied(s3Host)).toBe(0)
    expect(proxied(emulatorHost())).toBeGreaterThanOrEqual(1)
  }, 60_000)

  it("a proxy that refuses S3's tunnel: exit 2 before any VirusTotal request, no credential shown", async () => {
    const guarded = await ProxyServer.start({ credentials: "carol:right-pw" })
    try {
      const { result } = await files(
        server.url,
        store.env,
        ["--proxy", `http://carol:wr0ng-S3pw@127.0.0.1:${guarded.port}`],
        "s3://proxied/refused"
      )
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("407")
      expect(result.stderr).not.toContain("wr0ng-S3pw")
      expect(server.requests.filter((r) => r.path.includes("/files/"))).toHaveLength(0)
    } finally {
      await guarded.close()
    }
  }, 60_000)
})
