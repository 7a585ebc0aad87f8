/**
 * Requests sent straight through an undici Dispatcher: one callback handler per request, the body collected as
 * it arrives, one timer for the whole exchange. A `getFile` costs less than half the CPU it costs through
 * HttpClient (147 against 379 µs in bench/RESULTS.md), and CPU is what premium-scale harvesting is bound by.
 */
import type * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Readable } from "node:stream"
import type { Dispatcher } from "undici"
import type * as UndiciModule from "undici"
import type { RejectedResponseError } from "../VtError.js"
import { ResponseDecodeError, TransportError } from "../VtError.js"
import { isTlsCause, type RawAnswer, tlsHint, tooLarge } from "./request.js"

/** @internal */
export type Module = typeof UndiciModule

type Exported<A> = A | { readonly default: A }

// undici is CommonJS: loaded by Node its exports are named, loaded from a bundle they may only be under `default`.
const classOf = <A>(module: Exported<A>): A =>
  typeof module === "object" && module !== null && "default" in module ? module.default : module as A

/** What undici's root adds to every dispatcher: `request` (for {@link sendStream}), `stream`, `connect`… */
type DispatcherApi = Record<string, unknown>

/**
 * The dispatchers `makeUndici` builds. Without a proxy, the agent from its own module, and the methods the package's
 * root adds to every dispatcher (`request`, used by {@link sendStream}) from theirs, added as the root adds them: the
 * root itself loads every part of undici (fetch, WebSocket, cookies, caches, mocks, and through the cookies Node's
 * own copy of undici), about 40 ms of a one-report run's start. With a proxy, the root.
 *
 * @internal
 */
export const loadAgents = async (withProxy: boolean): Promise<{
  readonly Agent: Module["Agent"]
  readonly EnvHttpProxyAgent: Module["EnvHttpProxyAgent"] | undefined
  readonly Pool: Module["Pool"] | undefined
}> => {
  if (!withProxy) {
    // These modules have no declarations of their own (TS7016): they export what the root's declarations describe.
    // @ts-expect-error TS7016
    const agent: Promise<Exported<Module["Agent"]>> = import("undici/lib/dispatcher/agent.js")
    // @ts-expect-error TS7016
    const dispatcher: Promise<Exported<Module["Dispatcher"]>> = import("undici/lib/dispatcher/dispatcher.js")
    // @ts-expect-error TS7016
    const api: Promise<Exported<DispatcherApi>> = import("undici/lib/api/index.js")
    const [Agent, Dispatcher, methods] = await Promise.all([agent, dispatcher, api])
    if (!("request" in classOf(Dispatcher).prototype)) Object.assign(classOf(Dispatcher).prototype, classOf(methods))
    return { Agent: classOf(Agent), EnvHttpProxyAgent: undefined, Pool: undefined }
  }
  type Agents = Partial<Pick<Module, "Agent" | "EnvHttpProxyAgent" | "Pool">>
  const undici: Agents & { readonly default?: Agents } = await import("undici")
  return {
    Agent: (undici.Agent ?? undici.default?.Agent)!,
    EnvHttpProxyAgent: undici.EnvHttpProxyAgent ?? undici.default?.EnvHttpProxyAgent,
    Pool: undici.Pool ?? undici.default?.Pool
  }
}

/** The options of a pool (for an agent's `factory`). */
export type PoolOptions = NonNullable<ConstructorParameters<Module["Pool"]>[1]>

type Connector = (
  options: Record<string, unknown>,
  callback: (error: (Error & { code?: string }) | null, socket: unknown) => void
) => void

/**
 * A proxy's connector (undici's `connect` function of a proxied pool) whose failures fail the request. undici takes
 * a socket error while connecting (`UND_ERR_SOCKET`: the proxy dropped the CONNECT) for a connection to make again,
 * at once, with the request still queued: a proxy that drops every tunnel got thousands of CONNECTs a second until
 * the request's timeout. The same failure as a reset connection fails the request, which the caller retries with its
 * own backoff. A tunnel that ends before the request could be sent, or that holds bytes before the request is sent
 * (a proxy answering 200 with a page, then closing), is such a failure too.
 */
export const guardTunnel = <C>(connect: C): C => {
  if (typeof connect !== "function") return connect
  const inner = connect as Connector
  const reset = (cause: Error) =>
    Object.assign(new Error(`the proxy's tunnel failed: ${cause.message}`), { code: "ECONNRESET", cause })
  const guarded: Connector = (options, callback) =>
    inner(options, (error, socket) => {
      if (error !== null && error !== undefined) {
        return callback(error.code === "UND_ERR_SOCKET" || error.code === "UND_ERR_INFO" ? reset(error) : error, socket)
      }
      const stream = socket as {
        readonly destroyed?: boolean
        readonly readableEnded?: boolean
        readonly readableLength?: number
        destroy?: () => void
      }
      if (stream.destroyed === true || stream.readableEnded === true) {
        stream.destroy?.()
        return callback(reset(new Error("the tunnel closed before the request could be sent")), socket)
      }
      // Nothing comes through a tunnel before the request does (nor before TLS's first message): bytes already
      // there are the proxy's own (a page after its 200), not the server's answer.
      if ((stream.readableLength ?? 0) > 0) {
        stream.destroy?.()
        return callback(
          reset(new Error("the proxy sent data of its own into the tunnel (a page, not an answer)")),
          socket
        )
      }
      callback(null, socket)
    })
  return guarded as C
}
type DispatchBody = string | Uint8Array | Readable | null

const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const code = "code" in error && typeof error.code === "string" ? ` (${error.code})` : ""
  return `${error.message}${code}`
}

/** The body in a form `dispatch` takes, and the headers it implies. */
const bodyOf = (
  body: HttpBody.HttpBody
): Effect.Effect<{ readonly body: DispatchBody; readonly headers: Record<string, string> }, Error> => {
  const typed = (contentType: string | undefined, length?: number): Record<string, string> => ({
    ...(contentType === undefined ? {} : { "content-type": contentType }),
    ...(length === undefined ? {} : { "content-length": String(length) })
  })
  switch (body._tag) {
    case "Empty":
      return Effect.succeed({ body: null, headers: {} })
    case "Uint8Array":
      return Effect.succeed({ body: body.body, headers: typed(body.contentType, body.body.length) })
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array
        ? Effect.succeed({ body: body.body, headers: typed(body.contentType, body.contentLength) })
        : Effect.fail(new Error("a raw body must be a string or bytes"))
    case "FormData":
      // Response serialises FormData as multipart with its own boundary.
      return Effect.promise(async () => {
        const response = new Response(body.formData)
        const bytes = new Uint8Array(await response.arrayBuffer())
        return { body: bytes, headers: typed(response.headers.get("content-type") ?? undefined, bytes.length) }
      })
    case "Stream":
      return Effect.map(
        Stream.toAsyncIterableEffect(Stream.mapError(body.stream, (error) => new Error(errorText(error)))),
        (iterable) => ({ body: Readable.from(iterable), headers: typed(body.contentType, body.contentLength) })
      )
  }
}

/**
 * Sends the request (absolute URL, key and headers already set) and collects the answer. Failures before the
 * answer's head are `TransportError`s (`Connection`, or `Timeout` when the whole exchange outlasts `timeout`);
 * failures while reading the body are `ResponseDecodeError`s, as with HttpClient. `target` names the request in
 * messages and is already free of the key.
 *
 * @internal
 */
export const send = (
  dispatcher: Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  target: string,
  timeout: Duration.Duration,
  scrub: (text: string) => string,
  maxBytes: number
): Effect.Effect<RawAnswer, TransportError | ResponseDecodeError | RejectedResponseError> =>
  Effect.flatMap(
    Effect.mapError(bodyOf(request.body), (error) =>
      new TransportError({ reason: "Other", message: scrub(`${target}: request not sent: ${errorText(error)}`) })),
    ({ body, headers: bodyHeaders }) =>
      Either.match(UrlParams.makeUrl(request.url, request.urlParams, request.hash), {
        onLeft: (error) =>
          Effect.fail(
            new TransportError({ reason: "Other", message: scrub(`${target}: request not sent: ${error.message}`) })
          ),
        onRight: (url) =>
          // The whole exchange is timed by one timer of its own when the clock is the real one; under any other
          // clock (TestClock) by Effect's timeout, which follows that clock.
          Effect.clockWith((clock) =>
            clock instanceof LiveClock
              ? exchange(dispatcher, request, url, body, bodyHeaders, target, timeout, scrub, maxBytes)
              : Effect.timeoutFail(
                exchange(dispatcher, request, url, body, bodyHeaders, target, undefined, scrub, maxBytes),
                {
                  duration: timeout,
                  onTimeout: () =>
                    timedOut(target, timeout)
                }
              )
          )
      })
  )

const LiveClock = Clock.make().constructor

const headTimedOut = (target: string, timeout: Duration.Duration) =>
  new TransportError({ reason: "Timeout", message: `${target}: no complete answer within ${Duration.format(timeout)}` })

/**
 * No complete answer in time: a transport failure, unless a success's head had arrived (`status` 2xx), which is then an
 * answer whose body was cut short (a request that changes something is not sent again for it: `Unconfirmed`).
 *
 * @internal
 */
export const timedOut = (
  target: string,
  timeout: Duration.Duration,
  status = 0
): TransportError | ResponseDecodeError =>
  status >= 200 && status <= 299
    ? new ResponseDecodeError({
      status,
      message: `${target}: HTTP ${status}, then no complete body within ${Duration.format(timeout)}`
    })
    : new TransportError({
      reason: "Timeout",
      message: `${target}: no complete answer within ${Duration.format(timeout)}`
    })

const exchange = (
  dispatcher: Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  body: DispatchBody,
  bodyHeaders: Record<string, string>,
  target: string,
  timeout: Duration.Duration | undefined,
  scrub: (text: string) => string,
  maxBytes: number
) =>
  Effect.async<RawAnswer, TransportError | ResponseDecodeError | RejectedResponseError>((resume) => {
    let controller: Dispatcher.DispatchController | undefined
    let abortReason: Error | undefined
    let done = false
    let status = 0
    let headers: Record<string, string | Array<string> | undefined> = {}
    let chunks: Array<Buffer> = []
    let size = 0
    const finish = (effect: Effect.Effect<RawAnswer, TransportError | ResponseDecodeError | RejectedResponseError>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(effect)
    }
    const abort = (reason: Error) => {
      abortReason = reason
      if (controller !== undefined && !controller.aborted) controller.abort(reason)
    }
    const timer = timeout === undefined ? undefined : setTimeout(() => {
      // Settled first: aborting makes undici report an error of its own, which must not win.
      finish(Effect.fail(timedOut(target, timeout, status)))
      abort(new Error("timeout"))
    }, Math.min(Duration.toMillis(timeout), 2_147_483_647))
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c
        if (abortReason !== undefined) c.abort(abortReason)
      },
      onResponseStart(_c, statusCode, responseHeaders) {
        status = statusCode
        headers = responseHeaders as Record<string, string | Array<string> | undefined>
      },
      onResponseData(_c, chunk) {
        size += chunk.length
        if (size > maxBytes) {
          // Nothing more is read: an endless or oversized body costs no more memory than the bound.
          chunks = []
          finish(Effect.fail(tooLarge(status, target, maxBytes)))
          abort(new Error("answer too large"))
          return
        }
        chunks.push(chunk)
      },
      onResponseEnd() {
        const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
        chunks = []
        finish(Effect.succeed({
          status,
          headers,
          body: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        }))
      },
      onResponseError(_c, error) {
        const detail = errorText(error)
        finish(Effect.fail(
          status === 0 && isTlsCause(error)
            ? new TransportError({ reason: "Tls", message: scrub(`${target}: ${detail}: ${tlsHint}`) })
            : status === 0
            ? new TransportError({ reason: "Connection", message: scrub(`${target}: connection failed: ${detail}`) })
            : new ResponseDecodeError({
              status,
              message: scrub(`${target}: the response body could not be read: ${detail}`)
            })
        ))
      }
    }
    try {
      dispatcher.dispatch({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers: { ...request.headers, ...bodyHeaders },
        body
      }, handler)
    } catch (error) {
      finish(Effect.fail(
        new TransportError({ reason: "Other", message: scrub(`${target}: request not sent: ${errorText(error)}`) })
      ))
    }
    return Effect.sync(() => {
      if (done) return
      done = true
      clearTimeout(timer)
      abort(new Error("interrupted"))
    })
  })

/**
 * An answer whose body is read as it arrives: the head, and the body as a stream of the bytes as sent (maybe gzip).
 *
 * @internal
 */
export interface RawStreamAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: Stream.Stream<Uint8Array, ResponseDecodeError>
}

/**
 * Sends the request (absolute URL and headers already set, no body) and answers once the head is in; the body is read
 * as the stream is pulled, with backpressure. The exchange is aborted when the scope closes, read or not. `timeout`
 * bounds the wait for the head only; the caller bounds the body.
 *
 * @internal
 */
export const sendStream = (
  dispatcher: Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  target: string,
  timeout: Duration.Duration,
  scrub: (text: string) => string
): Effect.Effect<RawStreamAnswer, TransportError, Scope.Scope> =>
  Either.match(UrlParams.makeUrl(request.url, request.urlParams, request.hash), {
    onLeft: (error) =>
      Effect.fail(
        new TransportError({ reason: "Other", message: scrub(`${target}: request not sent: ${error.message}`) })
      ),
    onRight: (url) =>
      Effect.acquireRelease(
        Effect.tryPromise({
          try: (signal) =>
            dispatcher.request({
              origin: url.origin,
              path: `${url.pathname}${url.search}`,
              method: request.method as Dispatcher.HttpMethod,
              headers: { ...request.headers },
              signal
            }),
          catch: (error) => {
            const detail = errorText(error)
            return isTlsCause(error)
              ? new TransportError({ reason: "Tls", message: scrub(`${target}: ${detail}: ${tlsHint}`) })
              : new TransportError({ reason: "Connection", message: scrub(`${target}: connection failed: ${detail}`) })
          }
        }).pipe(Effect.timeoutFail({ duration: timeout, onTimeout: () => headTimedOut(target, timeout) })),
        // Destroying an unread body makes it emit an abort error nobody waits for any more.
        (data) =>
          Effect.sync(() => {
            data.body.on("error", () => undefined)
            data.body.destroy()
          })
      ).pipe(Effect.map((data): RawStreamAnswer => ({
        status: data.statusCode,
        headers: data.headers,
        body: Stream.fromAsyncIterable(
          data.body as AsyncIterable<Buffer>,
          (error) =>
            new ResponseDecodeError({
              status: data.statusCode,
              message: scrub(`${target}: the response body could not be read: ${errorText(error)}`)
            })
        ).pipe(Stream.map((chunk) => new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
      })))
  })
