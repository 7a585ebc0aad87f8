/**
 * Node `http`/`https` agents that reach their targets through an HTTP proxy's CONNECT tunnel, for the AWS SDK's
 * request handler (S3): the same proxies and NO_PROXY rule as VirusTotal's requests (proxy.ts). Over the tunnel an
 * https target gets its own TLS session, checked as usual (NODE_EXTRA_CA_CERTS included).
 */
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import type { Duplex } from "node:stream"
import * as tls from "node:tls"
import * as Proxy from "./proxy.js"

type Callback = (error: Error | null, socket: Duplex) => void

interface ConnectOptions {
  readonly host?: string | null | undefined
  readonly hostname?: string | null | undefined
  readonly port?: number | string | null | undefined
  readonly servername?: string | undefined
}

/** A user name or password from a URL, decoded where it decodes (a raw `%` is kept as written). */
const decoded = (part: string): string => {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

/** A socket to `host:port` through the proxy's CONNECT, or the proxy's refusal as an error (no credentials in it). */
const tunnel = (
  proxy: URL,
  host: string,
  port: number,
  callback: (error: Error | null, socket: net.Socket) => void
) => {
  const target = `${host.includes(":") ? `[${host}]` : host}:${port}`
  const credentials = proxy.username !== "" || proxy.password !== ""
    ? {
      "proxy-authorization": `Basic ${
        Buffer.from(`${decoded(proxy.username)}:${decoded(proxy.password)}`).toString("base64")
      }`
    }
    : {}
  const request = http.request({
    host: proxy.hostname.replace(/^\[|\]$/g, ""),
    port: Number(proxy.port) || 80,
    method: "CONNECT",
    path: target,
    headers: { host: target, ...credentials },
    agent: false
  })
  request.once("connect", (response, socket) => {
    if (response.statusCode === 200) return callback(null, socket)
    socket.destroy()
    // A refusal of the credentials (407) is the user's to mend; any other is the way to the store failing for now, a
    // reset connection to the SDK and the store, which try again.
    const refused = new Error(`the proxy answered ${response.statusCode} to CONNECT ${target}`)
    callback(response.statusCode === 407 ? refused : Object.assign(refused, { code: "ECONNRESET" }), socket)
  })
  request.once("error", (error: NodeJS.ErrnoException) => {
    const failed = new net.Socket()
    failed.destroy()
    const unreachable = new Error(`the proxy could not be reached: ${error.message}`)
    callback(error.code === undefined ? unreachable : Object.assign(unreachable, { code: error.code }), failed)
  })
  request.end()
}

const targetOf = (options: ConnectOptions, protocol: "http:" | "https:") => {
  const host = options.hostname ?? options.host ?? "localhost"
  const port = Number(options.port) || (protocol === "https:" ? 443 : 80)
  return { host, port, url: new URL(`${protocol}//${host.includes(":") ? `[${host}]` : host}:${port}`) }
}

/** Agents for plain and TLS targets through `proxy`, or `undefined` when no proxy is in force. */
export const agents = (proxy: Proxy.Proxy | undefined) => {
  if (proxy === undefined) return undefined
  class HttpAgent extends http.Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
      const { host, port, url } = targetOf(options, "http:")
      const via = Proxy.forTarget(proxy, url)
      if (via === undefined || callback === undefined) return net.connect(options as net.NetConnectOpts)
      tunnel(new URL(via), host, port, callback)
      return undefined
    }
  }
  class HttpsAgent extends https.Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
      const secure = options as tls.ConnectionOptions
      const { host, port, url } = targetOf(options, "https:")
      const via = Proxy.forTarget(proxy, url)
      if (via === undefined || callback === undefined) return tls.connect(secure)
      tunnel(new URL(via), host, port, (error, socket) => {
        if (error !== null) return callback(error, socket)
        const servername = secure.servername ?? (net.isIP(host) === 0 ? host : undefined)
        callback(null, tls.connect({ ...secure, socket, ...(servername === undefined ? {} : { servername }) }))
      })
      return undefined
    }
  }
  return { httpAgent: new HttpAgent({ keepAlive: true }), httpsAgent: new HttpsAgent({ keepAlive: true }) }
}
