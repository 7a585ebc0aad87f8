// A small hostile "VirusTotal" on loopback for end-to-end tests of the CLI: it records every request it sees (method,
// path, headers, the x-apikey it carried) and answers file report requests the way the test chooses, including the
// ways a proxy, a broken server or a malicious one would. Everything else a run needs (the key's overall_quotas)
// gets a normal answer unless the test replaces it.
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as http from "node:http"
import * as https from "node:https"
import type * as net from "node:net"
import * as zlib from "node:zlib"

/** One request as the server received it. */
export interface Recorded {
  readonly method: string
  /** The path and query as sent. */
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  /** The `x-apikey` header, if the request carried one. */
  readonly apiKey: string | undefined
  /** When it arrived (Date.now()). */
  readonly at: number
  /** Bytes of request body received so far (uploads). */
  bodyBytes: number
}

/** What a file report request is answered with; `index` counts file report requests from 0, `id` is as requested. */
export type FileHandler = (
  request: http.IncomingMessage,
  response: http.ServerResponse,
  context: { readonly index: number; readonly id: string }
) => void

/** A handler for any other route. */
export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void

export interface Options {
  /** Address to listen on (default 127.0.0.1); any address of 127.0.0.0/8 is loopback on Linux. */
  readonly host?: string
  /** Serve HTTPS with this key and certificate (PEM). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer }
  /** `GET /api/v3/files/{id}` (default: a normal report, {@link answers.report}). */
  readonly files?: FileHandler
  /** `GET /api/v3/users/{key}/overall_quotas` (default: {@link answers.quotas}). */
  readonly quotas?: Handler
  /** `GET /api/v3/files/upload_url` (default: 404). */
  readonly uploadUrl?: Handler
  /** Any other request (default: the body is drained, then a 404 NotFoundError document). */
  readonly other?: Handler
}

export interface HostileServer {
  /** The API root to give `--base-url`: `http(s)://host:port/api/v3`. */
  readonly url: string
  /** `http(s)://host:port`. */
  readonly origin: string
  readonly port: number
  /** Every request received, in order of arrival. */
  readonly requests: ReadonlyArray<Recorded>
  /** The `GET /api/v3/files/{id}` requests (not upload_url), in order of arrival. */
  readonly fileRequests: () => ReadonlyArray<Recorded>
  /** TCP connections accepted (each TLS handshake attempt is one). */
  readonly connections: () => number
  /** TLS handshakes that failed on the client's side of the conversation (HTTPS only). */
  readonly tlsErrors: () => number
  /** Replaces the file report handler. */
  readonly setFiles: (handler: FileHandler) => void
  readonly close: () => Promise<void>
}

const filePath = /^\/api\/v3\/files\/([^/?]+)(?:\?.*)?$/
const quotasPath = /^\/api\/v3\/users\/[^/]+\/overall_quotas(?:\?.*)?$/

const json = (
  response: http.ServerResponse,
  status: number,
  body: string | Buffer,
  headers: http.OutgoingHttpHeaders = {}
) => {
  const bytes = typeof body === "string" ? Buffer.from(body) : body
  response.writeHead(status, { "content-type": "application/json", "content-length": bytes.length, ...headers })
  response.end(bytes)
}

/** Ready-made answers. */
export const answers = {
  /** The key's usage, as VirusTotal reports it for a premium key: nothing used, no limit. */
  quotas: ((_request, response) => {
    const window = { user: { used: 0, allowed: 1_000_000_000 }, group: { used: 0, allowed: 1_000_000_000 } }
    json(
      response,
      200,
      JSON.stringify({
        data: { api_requests_hourly: window, api_requests_daily: window, api_requests_monthly: window }
      })
    )
  }) satisfies Handler,

  /** A normal file report (the emulator's document: `data.id` is the SHA-256, md5/sha1 attributes match). */
  report: ((_request, response, { id }) => {
    json(response, 200, Buffer.from(VtEmulator.fileDocument(id)))
  }) satisfies FileHandler,

  /** A fixed status and body with the given content type. */
  fixed: (status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): Handler =>
  (
    _request,
    response
  ) => {
    const bytes = typeof body === "string" ? Buffer.from(body) : body
    response.writeHead(status, { "content-length": bytes.length, ...headers })
    response.end(bytes)
  },

  /** A VirusTotal error document. */
  error: (status: number, code: string, message = code): Handler => (_request, response) =>
    json(response, status, JSON.stringify({ error: { code, message } })),

  /** What a proxy or a load balancer sends: an HTML page. */
  html: (status: number, title: string): Handler =>
    answers.fixed(
      status,
      `<html><head><title>${status} ${title}</title></head><body><center><h1>${status} ${title}</h1></center>` +
        `<hr><center>nginx</center></body></html>\n`,
      { "content-type": "text/html" }
    ),

  /** A 200 whose body never ends: 1 MiB chunks as fast as the client reads them, no content-length. */
  endless: ((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" })
    const chunk = Buffer.alloc(1024 * 1024, 0x20)
    chunk.write("{\"data\":{\"padding\":\"")
    const fill = Buffer.alloc(1024 * 1024, 0x61)
    let first = true
    const pump = () => {
      while (!response.destroyed) {
        const more = response.write(first ? chunk : fill)
        first = false
        if (!more) return
      }
    }
    response.on("drain", pump)
    response.on("error", () => {})
    pump()
  }) satisfies Handler,

  /** A 302 to another place. */
  redirect: (location: string): Handler => (_request, response) => {
    response.writeHead(302, { location, "content-length": 0 })
    response.end()
  }
}

/**
 * A gzip body (about 400 KB for 400 MiB) inflating to a JSON-looking file report of `id` whose one attribute is
 * `inflatedBytes` long: the document would be accepted as the object asked for, only its size is wrong.
 */
export const gzipBomb = async (id: string, inflatedBytes = 400 * 1024 * 1024): Promise<Buffer> => {
  const head = Buffer.from(`{"data":{"id":"${id}","type":"file","attributes":{"sha256":"${id}","padding":"`)
  const tail = Buffer.from("\"}}}")
  const gzip = zlib.createGzip({ level: 9 })
  const out: Array<Buffer> = []
  gzip.on("data", (chunk: Buffer) => out.push(chunk))
  const ended = new Promise<void>((resolve, reject) => {
    gzip.on("end", resolve)
    gzip.on("error", reject)
  })
  const block = Buffer.alloc(1024 * 1024, 0x61)
  const write = (bytes: Buffer) =>
    new Promise<void>((resolve) => (gzip.write(bytes) ? resolve() : gzip.once("drain", resolve)))
  await write(head)
  let left = inflatedBytes - head.length - tail.length
  while (left > 0) {
    const piece = left >= block.length ? block : block.subarray(0, left)
    await write(piece)
    left -= piece.length
  }
  gzip.end(tail)
  await ended
  return Buffer.concat(out)
}

/** Starts a recording server on `host` (default 127.0.0.1), port 0. */
export const start = (options: Options = {}): Promise<HostileServer> => {
  const requests: Array<Recorded> = []
  const sockets = new Set<net.Socket>()
  let files: FileHandler = options.files ?? answers.report
  let fileIndex = 0
  let connections = 0
  let tlsErrors = 0

  const drainThen404: Handler = (request, response) => {
    request.on(
      "end",
      () => json(response, 404, JSON.stringify({ error: { code: "NotFoundError", message: "no route" } }))
    )
    request.resume()
  }

  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const key = request.headers["x-apikey"]
    const recorded: Recorded = {
      method: request.method ?? "",
      path: request.url ?? "",
      headers: { ...request.headers },
      apiKey: Array.isArray(key) ? key.join(",") : key,
      at: Date.now(),
      bodyBytes: 0
    }
    requests.push(recorded)
    request.on("data", (chunk: Buffer) => (recorded.bodyBytes += chunk.length))
    response.on("error", () => {})
    const url = request.url ?? ""
    const file = request.method === "GET" ? filePath.exec(url) : null
    if (request.method === "GET" && /^\/api\/v3\/files\/upload_url(?:\?.*)?$/.test(url)) {
      return (options.uploadUrl ?? drainThen404)(request, response)
    }
    if (file !== null) {
      const index = fileIndex++
      return files(request, response, { index, id: decodeURIComponent(file[1]) })
    }
    if (request.method === "GET" && quotasPath.test(url)) return (options.quotas ?? answers.quotas)(request, response)
    return (options.other ?? drainThen404)(request, response)
  }

  const server: http.Server | https.Server = options.tls === undefined
    ? http.createServer(listener)
    : https.createServer({ key: options.tls.key, cert: options.tls.cert }, listener)
  server.on("connection", (socket: net.Socket) => {
    connections++
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => {})
  })
  server.on("tlsClientError", () => tlsErrors++)
  server.on("clientError", (_error, socket: net.Socket) => socket.destroy())

  const host = options.host ?? "127.0.0.1"
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, host, () => {
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error("no port"))
      const origin = `${options.tls === undefined ? "http" : "https"}://${host}:${address.port}`
      resolve({
        url: `${origin}/api/v3`,
        origin,
        port: address.port,
        requests,
        fileRequests: () =>
          requests.filter((r) => r.method === "GET" && filePath.test(r.path) && !/\/upload_url/.test(r.path)),
        connections: () => connections,
        tlsErrors: () => tlsErrors,
        setFiles: (handler) => {
          files = handler
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
}
