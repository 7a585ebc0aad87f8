import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient } from "@vt-harvest/vt-client"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { Clock, Duration, Effect, Fiber, Layer, Logger, Redacted, Ref, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Outcome from "../src/engine/Outcome.js"
import * as Kinds from "../src/internal/kinds.js"
import { harvest } from "../src/internal/reports.js"
import { hashes, tempDir } from "./helpers.js"

const key = "harvest-clock-test-key"

/**
 * Real time passes so real HTTP can complete; test time jumps to the next thing the gate waits for, but only
 * while no request is in flight (every request the gate started has reached the emulator), so the emulator sees
 * each request at the test time it was started.
 */
const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, arrived: () => number) =>
  Effect.gen(function*() {
    const gate = yield* QuotaGate.QuotaGate
    for (let i = 0; i < 20_000; i++) {
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      const done = yield* Fiber.poll(fiber)
      if (done._tag === "Some") return
      const status = yield* gate.status
      if (status.requests > arrived()) continue
      const now = yield* Clock.currentTimeMillis
      yield* TestClock.adjust(
        status.waitingUntil !== undefined && status.waitingUntil > now ? status.waitingUntil - now : Duration.seconds(1)
      )
    }
  })

describe("the files pipeline on the TestClock against the emulator", () => {
  it.scoped(
    "a daily 429 waits until 00:00 UTC and then fetches the same hash; nothing is dropped",
    () =>
      Effect.gen(function*() {
        const start = Date.parse("2026-11-22T17:00:00.000Z")
        yield* TestClock.setTime(start)
        const clock = yield* Effect.clock
        // The emulator's quota windows follow the test clock, so its "day" ends when ours does.
        const server = yield* VtEmulator.make({ apiKeys: [key], perDay: 3, now: () => clock.unsafeCurrentTimeMillis() })
        const dir = tempDir("vt-harvest-clock-")
        const ids = hashes(5, true, "midnight")
        const input = path.join(dir, "in.txt")
        fs.writeFileSync(input, ids.join("\n") + "\n")
        const messages: Array<string> = []
        const capture = Logger.make(({ message }) => {
          messages.push(Array.isArray(message) ? message.join(" ") : String(message))
        })

        const policy = QuotaPolicy.make(QuotaPolicy.publicTier, { perDay: undefined, perMinute: 4 })
        const tally = yield* Ref.make(Outcome.empty)
        const starts: Array<number> = []
        // The CLI's own client: the gate decorates it, so the pipeline never gates a call itself.
        const layer = Layer.mergeAll(
          QuotaGate.layerGated(policy).pipe(
            // Below the gate: sees each request as the gate lets it go, at the test-clock time it was let go.
            Layer.provide(VtClient.layerTransform(() =>
              Effect.succeed({
                request: (send) =>
                  Effect.zipRight(Effect.map(Clock.currentTimeMillis, (t) => void starts.push(t)), send)
              })
            )),
            Layer.provide(VtClient.layer({ apiKey: Redacted.make(key), baseUrl: server.url }))
          ),
          ReportSinkFs.layer({ directory: path.join(dir, "out") })
        ).pipe(Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, NodeContext.layer)))

        yield* Effect.gen(function*() {
          const fiber = yield* Effect.fork(
            harvest(Kinds.files, { input, concurrency: 1, retryNotFound: false, overwrite: false }, tally)
          )
          yield* drive(fiber, () => server.requests.filter((r) => r.path.includes("/files/")).length)
          yield* Fiber.join(fiber)
        }).pipe(Effect.provide(layer), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
        const counts = yield* Ref.get(tally)

        assert.strictEqual(counts.saved, 5)
        assert.strictEqual(counts.failed, 0)
        const requests = server.requests.filter((r) => r.path.includes("/files/"))
        // 3 accepted, the 4th refused twice (the minute retry, then again), then fetched after midnight.
        assert.deepStrictEqual(requests.map((r) => r.status), [200, 200, 200, 429, 429, 200, 200])
        assert.strictEqual(requests[3].id, ids[3])
        assert.strictEqual(requests[4].id, ids[3])
        assert.strictEqual(requests[5].id, ids[3])
        // The minute pause costs about a minute, the second refusal waits for 00:00 UTC (plus a small margin).
        // The retries happen inside the gated client, below the pipeline: `starts` are the gate's own starts (the
        // emulator's arrival times can lag while the clock is driven).
        assert.strictEqual(starts.length, 7)
        assert.isAtLeast(starts[4] - starts[3], 60_000)
        assert.isBelow(starts[4] - starts[3], 61_000)
        const midnight = Date.parse("2026-11-23T00:00:00.000Z")
        assert.isAtLeast(starts[5], midnight)
        assert.isBelow(starts[5], midnight + 60_000)
        assert.isAtLeast(requests[5].at, midnight)
        // Spacing holds throughout: request starts are at least 15 s apart.
        for (let i = 1; i < starts.length; i++) assert.isAtLeast(starts[i] - starts[i - 1], 15_000)
        assert.isTrue(messages.some((m) => /QuotaExceededError\.\.\. waiting until 2026-11-23T00:00/.test(m)))
        for (const id of ids) assert.isTrue(fs.existsSync(path.join(dir, "out", `${id}.json`)))
      }),
    { timeout: 120_000 }
  )
})
