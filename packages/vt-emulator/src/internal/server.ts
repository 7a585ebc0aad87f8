/**
 * The HTTP side of the emulator, on plain node:http: no framework and no effect, so the bin starts fast and the
 * server is never the bottleneck of a benchmark.
 *
 * Every request goes through the same steps: parse (context.ts), route (table.ts, which names the id for the log),
 * authentication, quota, fault (faults.ts), then the route's answer, delivered as the fault says (reply.ts). Answers
 * that need the request body (uploads, comments, votes, URL submissions) read it only after the request was
 * admitted; a v2 request's form is read first, since its key may be a form field.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, type Incoming, parse, requestLine } from "./context.js"
import { type FaultKind, replacement } from "./faults.js"
import type { Options, Server } from "./model.js"
import * as R from "./reply.js"
import * as Router from "./router.js"
import * as Admin from "./routes/admin.js"
import { type Mount, type Route, table } from "./table.js"

const DEFAULT_SLOW_MS = 30_000

const internalError = R.error(500, "InternalError", "The emulator failed")

export const start = (options: Options = {}): Promise<Server> => {
  const context = new Context(options)
  /** Answers waiting for their latency, cancelled on close. */
  const pending = new Set<ReturnType<typeof setTimeout>>()

  const later = (res: Http.ServerResponse, delayMs: number, action: () => void): void => {
    if (delayMs <= 0) return action()
    const timer = setTimeout(() => {
      pending.delete(timer)
      res.off("close", cancel)
      action()
    }, delayMs)
    const cancel = () => {
      clearTimeout(timer)
      pending.delete(timer)
    }
    pending.add(timer)
    // Before anything is sent, "close" means the client gave up (timeout, abort): no timer for a dead connection.
    res.once("close", cancel)
  }

  const handle = (req: Http.IncomingMessage, res: Http.ServerResponse): void => {
    const line = requestLine(req)
    if (line.path.startsWith(Admin.BASE)) return R.send(res, Admin.answer(context, line))
    const arrived = parse(req, line, context.now())

    /** Logs the request (naming the key it carried, `request.key`, only to keep it out) and delivers the reply. */
    const finish = (request: Incoming, reply: R.Reply, fault: FaultKind | undefined, id: string | undefined) => {
      context.record(arrived, request.key, reply, fault, id)
      const latency = context.options.latencyMs ?? 0
      switch (fault) {
        case "reset":
          return later(res, latency, () => req.socket.destroy())
        case "truncated":
          return later(res, latency, () => R.sendTruncated(res, reply))
        case "slow":
          return later(res, latency + (context.options.faults?.slowMs ?? DEFAULT_SLOW_MS), () => R.send(res, reply))
        default:
          return later(res, latency, () => R.send(res, reply))
      }
    }

    const failed = (request: Incoming) => (error: unknown) => {
      process.stderr.write(`vt-emulator: ${error instanceof Error ? error.stack : String(error)}\n`)
      if (!res.headersSent) finish(request, internalError, undefined, undefined)
      else res.destroy()
    }

    const answer = (request: Incoming, route: Route, fault: FaultKind | undefined, id: string | undefined) => {
      let reply: R.Reply | Promise<R.Reply>
      try {
        reply = route.handler(context, request)
      } catch (error) {
        return failed(request)(error)
      }
      if (reply instanceof Promise) reply.then((r) => finish(request, r, fault, id), failed(request))
      else finish(request, reply, fault, id)
    }

    const admit = (request: Incoming, route: Route, mount: Mount, group: string) => {
      const id = route.logId?.(request)
      if (route.open === true) return answer(request, route, undefined, id)
      const refused = context.authenticate(request.key)
      if (refused !== undefined || request.key === undefined) {
        return finish(request, R.refusal(mount.dialect, refused ?? "missingKey"), undefined, id)
      }
      // The quota endpoints are neither counted nor faulted: clients ask them precisely when they were refused.
      if (route.exempt === true) return answer(request, route, undefined, undefined)
      if (!context.quota.admit(request.key, request.at, group, context.options)) {
        return finish(request, R.refusal(mount.dialect, "quotaExceeded"), undefined, id)
      }
      const fault = context.faults.draw(context.options.faults)
      const replaced = fault === undefined ? undefined : replacement(fault, context.options.faults, mount.dialect)
      if (replaced !== undefined) return finish(request, replaced, fault, id)
      answer(request, route, fault, id)
    }

    const matched = Router.match(table, arrived.method, arrived.path)
    if (matched === undefined) return finish(arrived, R.notFound, undefined, undefined)
    const { mount } = matched
    const route = matched.route ?? mount.unmatched(matched.otherMethod)
    if ("status" in route) return finish(arrived, route, undefined, undefined)
    const request = arrived.withParams(matched.params)
    const group = route.usage?.(request) ?? mount.group ?? matched.segments[0] ?? ""
    if (route.read === undefined) return admit(request, route, mount, group)
    route.read(context, request).then(
      (read) => "status" in read ? finish(request, read, undefined, undefined) : admit(read, route, mount, group),
      failed(request)
    )
  }

  const server = Http.createServer({ keepAlive: true, noDelay: true }, handle)
  // Longer than the usual client agent idle time, so that a pooled connection is not closed under a request.
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000

  return new Promise<Server>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject)
      const address = server.address() as AddressInfo
      const host = address.family === "IPv6" || address.address.includes(":")
        ? `[${address.address}]`
        : address.address
      let closing: Promise<void> | undefined
      resolve({
        url: `http://${host}:${address.port}/api/v3`,
        legacyUrl: `http://${host}:${address.port}/vtapi/v2`,
        port: address.port,
        get requests() {
          return context.requests
        },
        clearLog() {
          context.requests = []
        },
        update(patch) {
          context.update(patch)
        },
        resetQuota() {
          context.quota.clear()
        },
        reset() {
          context.reset()
        },
        close() {
          closing ??= new Promise<void>((done) => {
            for (const timer of pending) clearTimeout(timer)
            pending.clear()
            server.close(() => done())
            server.closeAllConnections()
          })
          return closing
        }
      })
    })
  })
}
