// makeUndici's `proxy` option against the emulator through a small CONNECT proxy on 127.0.0.1.
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as net from "node:net"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"

const KEY = "proxy-key-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
const known = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

/** A CONNECT proxy that records the targets and Proxy-Authorization headers, refusing other credentials with 407. */
const proxyServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const seen: Array<{ target: string; authorization: string | undefined }> = []
    const sockets = new Set<net.Socket>()
    const server = http.createServer((_request, response) => response.writeHead(405).end())
    server.on("connect", (request: http.IncomingMessage, client: net.Socket) => {
      sockets.add(client)
      const authorization = request.headers["proxy-authorization"]
      seen.push({ target: request.url ?? "", authorization })
      if (authorization !== `Basic ${Buffer.from("bob:right-pw").toString("base64")}`) {
        client.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
        return
      }
      const [host, port] = (request.url ?? "").split(/:(?=\d+$)/)
      const upstream = net.connect(Number(port), host, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        upstream.pipe(client)
        client.pipe(upstream)
      })
      sockets.add(upstream)
      upstream.on("error", () => client.destroy())
      client.on("error", () => upstream.destroy())
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return { server, seen, sockets, port: (server.address() as AddressInfo).port }
  }),
  ({ server, sockets }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
    )
)

/** A proxy that fails every tunnel: `close` drops the CONNECT, `html` answers 200 with a page and closes. */
const brokenProxy = (mode: "close" | "html") =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      let connects = 0
      const server = http.createServer((_request, response) => response.writeHead(405).end())
      server.on("connect", (_request: http.IncomingMessage, client: net.Socket) => {
        connects++
        client.on("error", () => undefined)
        if (mode === "close") client.destroy()
        else client.end("HTTP/1.1 200 Connection established\r\n\r\n<html>bad gateway</html>")
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      return { server, connects: () => connects, port: (server.address() as AddressInfo).port }
    }),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("VtClient.makeUndici with a proxy", () => {
  it.scoped(
    "a proxy that drops or garbles every tunnel: the request fails at once, a handful of CONNECTs",
    () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ apiKeys: [KEY] })
        for (const mode of ["close", "html"] as const) {
          const proxy = yield* brokenProxy(mode)
          const vt = yield* VtClient.makeUndici({
            apiKey: Redacted.make(KEY),
            baseUrl: server.url,
            timeout: "20 seconds",
            // A password with a raw %: no crash where credentials are scrubbed from messages.
            proxy: { httpProxy: `http://alice:S3cr%t@127.0.0.1:${proxy.port}`, noProxy: "" }
          })
          const error = yield* Effect.flip(vt.getFile(known))
          assert.instanceOf(error, VtError.TransportError, mode)
          assert.strictEqual(error.reason, "Connection", mode)
          assert.isAtMost(proxy.connects(), 3, mode)
          assert.notInclude(error.message, "S3cr%t")
        }
        assert.strictEqual(server.requests.length, 0)
      }),
    60_000
  )

  it.scoped("requests go through the proxy, its credentials sent to it", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY] })
      const proxy = yield* proxyServer
      const vt = yield* VtClient.makeUndici({
        apiKey: Redacted.make(KEY),
        baseUrl: server.url,
        proxy: { httpProxy: `http://bob:right-pw@127.0.0.1:${proxy.port}`, noProxy: "" }
      })
      const document = yield* vt.getFile(known)
      assert.deepStrictEqual(document.raw, VtEmulator.fileDocument(known))
      assert.deepStrictEqual(proxy.seen.map((s) => s.target), [new URL(server.url).host])
    }))

  it.scoped("a refused proxy: a TransportError whose message holds no credential", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY] })
      const proxy = yield* proxyServer
      const vt = yield* VtClient.makeUndici({
        apiKey: Redacted.make(KEY),
        baseUrl: server.url,
        proxy: { httpProxy: `http://bob:wrong-pw-x7@127.0.0.1:${proxy.port}`, noProxy: "" }
      })
      const error = yield* Effect.flip(vt.getFile(known))
      assert.instanceOf(error, VtError.TransportError)
      assert.notInclude(JSON.stringify(error), "wrong-pw-x7")
      assert.strictEqual(server.requests.length, 0)
    }))

  it.scoped("NO_PROXY naming the host: direct", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY] })
      const proxy = yield* proxyServer
      const vt = yield* VtClient.makeUndici({
        apiKey: Redacted.make(KEY),
        baseUrl: server.url,
        proxy: { httpProxy: `http://127.0.0.1:${proxy.port}`, noProxy: "127.0.0.1" }
      })
      yield* vt.getFile(known)
      assert.strictEqual(proxy.seen.length, 0)
      assert.strictEqual(server.requests.length, 1)
    }))
})
