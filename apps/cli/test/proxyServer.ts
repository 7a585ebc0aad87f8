// A logging HTTP proxy on loopback for end-to-end tests: CONNECT tunnels (https targets, and http ones when the
// client tunnels) and absolute-URI requests (plain http forwarding). It records what it was asked and the
// Proxy-Authorization it got, and refuses with 407 when it requires credentials the request lacks.
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as net from "node:net"

export interface Seen {
  readonly method: string
  /** `host:port` of a CONNECT, the absolute URI of a forwarded request. */
  readonly target: string
  readonly authorization: string | undefined
}

export interface ProxyServer {
  readonly url: string
  readonly port: number
  readonly seen: Array<Seen>
  readonly close: () => Promise<void>
}

export const start = async (options: { readonly credentials?: string } = {}): Promise<ProxyServer> => {
  const seen: Array<Seen> = []
  const sockets = new Set<net.Socket>()
  const expected = options.credentials === undefined
    ? undefined
    : `Basic ${Buffer.from(options.credentials).toString("base64")}`
  const authorised = (header: string | undefined) => expected === undefined || header === expected
  const server = http.createServer((request, response) => {
    const authorization = request.headers["proxy-authorization"]
    seen.push({ method: request.method ?? "", target: request.url ?? "", authorization })
    if (!authorised(authorization)) {
      response.writeHead(407, { "proxy-authenticate": "Basic realm=\"test\"", "content-length": 0 }).end()
      return
    }
    const target = new URL(request.url ?? "")
    const headers = { ...request.headers }
    delete headers["proxy-authorization"]
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: request.method,
        headers
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(response)
      }
    )
    upstream.on("error", () => response.destroy())
    request.pipe(upstream)
  })
  server.on("connect", (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const authorization = request.headers["proxy-authorization"]
    seen.push({ method: "CONNECT", target: request.url ?? "", authorization })
    sockets.add(client)
    client.on("close", () => sockets.delete(client))
    client.on("error", () => client.destroy())
    if (!authorised(authorization)) {
      client.end("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\r\n")
      return
    }
    const [host, port] = (request.url ?? "").split(/:(?=\d+$)/)
    const upstream = net.connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on("close", () => sockets.delete(upstream))
    upstream.on("error", () => client.destroy())
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
