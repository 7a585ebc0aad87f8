// The shared ledger and the claims when the database stops answering without closing its connections (a server
// frozen, a network partition): every call fails within a bound instead of waiting forever, and closing the claims
// (their release on exit) ends too.
import { assert, describe, it } from "@effect/vitest"
import type { GateState } from "@vt-harvest/rate-schedule"
import { SharedLedger } from "@vt-harvest/rate-schedule"
import { ReportClaims, ReportSink } from "@vt-harvest/report-sink"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { PgClaims, PgPool, PgQuotaLedger, ReportSinkPg } from "../src/index.js"
import { freshSchema, key, url } from "./helpers.js"

/** A TCP relay to the test server that can stop relaying (both ways) while keeping every connection open. */
const relay = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly freeze: () => void; readonly server: net.Server }>((resume) => {
    const target = new URL(url())
    let frozen = false
    const sockets: Array<net.Socket> = []
    const server = net.createServer((inbound) => {
      const outbound = net.connect(Number(target.port), target.hostname)
      sockets.push(inbound, outbound)
      inbound.on("data", (chunk) => void (frozen || outbound.write(chunk)))
      outbound.on("data", (chunk) => void (frozen || inbound.write(chunk)))
      inbound.on("error", () => undefined)
      outbound.on("error", () => undefined)
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        port: (server.address() as net.AddressInfo).port,
        freeze: () => void (frozen = true),
        server
      })))
    server.on("close", () => sockets.forEach((s) => s.destroy()))
  }),
  ({ server }) => Effect.sync(() => server.close())
)

const through = (port: number) => {
  const target = new URL(url())
  target.hostname = "127.0.0.1"
  target.port = String(port)
  return target.toString()
}

const limits: GateState.Limits = { spacing: 0, perHour: undefined, perDay: undefined, perMonth: undefined }
const bound = Duration.seconds(30)

describe("a database that stops answering", () => {
  it.scopedLive(
    "a ledger call fails within a bound (LedgerError), it does not wait forever",
    () =>
      Effect.gen(function*() {
        const { freeze, port } = yield* relay
        const context = yield* Layer.build(
          PgQuotaLedger.layer({
            url: through(port),
            apiKey: Redacted.make("c".repeat(64)),
            schema: freshSchema("hang")
          })
        )
        const ledger = Context.get(context, SharedLedger.QuotaLedger)
        assert.strictEqual((yield* ledger.take(limits))._tag, "Start")
        freeze()
        const exit = yield* Effect.exit(
          Effect.timeoutFail(ledger.take(limits), { duration: bound, onTimeout: () => "hung" })
        )
        assert.isTrue(Exit.isFailure(exit))
        assert.notInclude(String(Exit.isFailure(exit) ? exit.cause : ""), "hung")
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "LedgerError")
      }),
    90_000
  )

  it.scopedLive("a claim fails within a bound, and giving the claims back on exit ends", () =>
    Effect.gen(function*() {
      const { freeze, port } = yield* relay
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        PgClaims.layerWithoutPool({ schema: freshSchema("hang") }).pipe(
          Layer.provide(PgPool.layer({ url: through(port), queryTimeoutMillis: 15_000 }))
        ),
        scope
      )
      const claims = Context.get(context, ReportClaims.ReportClaims)
      const id = key("44d88612fea8a8f36de82e1278abb02f")
      assert.strictEqual((yield* claims.acquire("files", id))._tag, "Claimed")
      freeze()
      const exit = yield* Effect.exit(
        Effect.timeoutFail(claims.acquire("files", key("a".repeat(32))), { duration: bound, onTimeout: () => "hung" })
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.notInclude(String(Exit.isFailure(exit) ? exit.cause : ""), "hung")
      const closed = yield* Effect.exit(
        Effect.timeoutFail(Scope.close(scope, Exit.void), { duration: bound, onTimeout: () => "hung" })
      )
      assert.isTrue(Exit.isSuccess(closed), String(Exit.isFailure(closed) ? closed.cause : ""))
    }), 120_000)

  it.scopedLive(
    "a store operation fails within a bound (SinkError) once its attempts are spent, and closing the store ends",
    () =>
      Effect.gen(function*() {
        const { freeze, port } = yield* relay
        const scope = yield* Scope.make()
        // Each attempt is cut at the query timeout, and tried again like a lost connection (by default for up to 5
        // minutes): here twice.
        let attempts = 0
        const retry = Schedule.recurs(1).pipe(Schedule.tapInput(() => Effect.sync(() => void attempts++)))
        const context = yield* Layer.buildWithScope(
          ReportSinkPg.layer({ url: through(port), schema: freshSchema("hang"), queryTimeoutMillis: 3_000, retry }),
          scope
        )
        const sink = Context.get(context, ReportSink.ReportSink)
        const id = key("44d88612fea8a8f36de82e1278abb02f")
        assert.strictEqual(yield* sink.has(id), "absent")
        freeze()
        const exit = yield* Effect.exit(
          Effect.timeoutFail(sink.has(id), { duration: bound, onTimeout: () => "hung" })
        )
        assert.isTrue(Exit.isFailure(exit))
        assert.notInclude(String(Exit.isFailure(exit) ? exit.cause : ""), "hung")
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "SinkError")
        // The hung statement was taken for an outage and asked again.
        assert.isAtLeast(attempts, 1)
        const closed = yield* Effect.exit(
          Effect.timeoutFail(Scope.close(scope, Exit.void), { duration: bound, onTimeout: () => "hung" })
        )
        assert.isTrue(Exit.isSuccess(closed), String(Exit.isFailure(closed) ? closed.cause : ""))
      }),
    120_000
  )
})
