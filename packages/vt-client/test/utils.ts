import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** A request as a test server saw it. */
export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

export interface TestServer {
  /** Base URL, the way the emulator's looks: `http://127.0.0.1:PORT/api/v3`. */
  readonly url: string
  readonly origin: string
  readonly requests: ReadonlyArray<SeenRequest>
  /** Resolves once the server has seen `n` requests (real I/O, so usable under TestClock). */
  readonly seen: (n: number) => Effect.Effect<void>
}

/** A plain node:http server on 127.0.0.1, port 0, closed with the scope (hanging connections included). */
export const serve = (
  handler: (request: Http.IncomingMessage, response: Http.ServerResponse) => void
): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; state: TestServer }>((resume) => {
      const requests: Array<SeenRequest> = []
      const waiters: Array<{ n: number; resolve: () => void }> = []
      const server = Http.createServer((request, response) => {
        requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers })
        for (const waiter of waiters.filter((w) => requests.length >= w.n)) waiter.resolve()
        handler(request, response)
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        const origin = `http://127.0.0.1:${port}`
        resume(Effect.succeed({
          server,
          state: {
            url: `${origin}/api/v3`,
            origin,
            requests,
            seen: (n) =>
              Effect.promise(() =>
                requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))
              )
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ state }) => state))

/** Sends a fixed answer. */
export const answer = (
  status: number,
  body: string | Uint8Array,
  headers: Http.OutgoingHttpHeaders = { "content-type": "application/json" }
) =>
(_request: Http.IncomingMessage, response: Http.ServerResponse) => {
  response.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) })
  response.end(body)
}

export interface CapturedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
}

/** A tracer that only remembers names and attributes, to check what a span would export. */
export const capturingTracer = (): { tracer: Tracer.Tracer; spans: Array<CapturedSpan> } => {
  const spans: Array<CapturedSpan> = []
  let next = 0
  const tracer = Tracer.make({
    span(name, parent, context, links, _startTime, kind) {
      const attributes = new Map<string, unknown>()
      spans.push({ name, attributes })
      const id = String(++next)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: id,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime: 0n },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans }
}

/** Collects what the string and JSON loggers would print, as the application's loggers would. */
export const capturingLogger = () => {
  const lines: Array<string> = []
  const logger = Logger.zip(
    Logger.map(Logger.stringLogger, (line) => lines.push(line)),
    Logger.map(Logger.jsonLogger, (line) => lines.push(line))
  )
  return { layer: Logger.replace(Logger.defaultLogger, logger), lines }
}
