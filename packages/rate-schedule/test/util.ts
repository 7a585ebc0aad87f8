import * as VtError from "@vt-harvest/vt-client/VtError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as QuotaGate from "../src/QuotaGate.js"
import type { QuotaPolicy } from "../src/QuotaPolicy.js"

export const at = (iso: string): number => new Date(iso).getTime()
export const iso = (ms: number): string => new Date(ms).toISOString()

const fields = (status: number, code: string) => ({ status, code, message: "", body: "" })
export const quota = () => new VtError.QuotaExceededError(fields(429, "QuotaExceededError"))
export const transient = () => new VtError.TransientError(fields(503, "TransientError"))
export const notFound = () => new VtError.NotFoundError(fields(404, "NotFoundError"))
export const wrongCredentials = () => new VtError.WrongCredentialsError(fields(401, "WrongCredentialsError"))
export const invalidArgument = () => new VtError.InvalidArgumentError(fields(400, "InvalidArgumentError"))
export const connection = () => new VtError.TransportError({ reason: "Connection", message: "reset" })

export interface Call {
  readonly item: string
  readonly at: number
}

/** What the fake server does with the `attempt`-th call (from 1) for `item`. */
export type Respond = (item: string, attempt: number) => Effect.Effect<string, VtError.VtError>

export const ok = (item: string): Effect.Effect<string> => Effect.succeed(item)

/**
 * Runs `items` through `QuotaGate.request` around a fake call that records the Clock time of every call, in a
 * forked fiber. The caller advances the TestClock and joins `fiber`. `options` are the gate's.
 */
export const harvest = (
  policy: QuotaPolicy,
  items: ReadonlyArray<string>,
  respond: Respond,
  concurrency = policy.concurrency,
  options?: QuotaGate.Options
) =>
  Effect.gen(function*() {
    const gate = yield* QuotaGate.make(policy, options)
    const calls: Array<Call> = []
    const call = (item: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        calls.push({ item, at: now })
        return respond(item, calls.filter((c) => c.item === item).length)
      })
    const fiber = yield* Effect.forEach(
      items,
      (item) => Effect.either(QuotaGate.request(call(item))),
      { concurrency }
    ).pipe(Effect.provideService(QuotaGate.QuotaGate, gate), Effect.fork)
    return { gate, calls, fiber }
  })

export const join = <A, E>(fiber: Fiber.Fiber<ReadonlyArray<Either.Either<A, E>>>) =>
  Effect.map(Fiber.join(fiber), (results) => results.map(Either.getOrUndefined))

/** A fake probe answering `answer` (once per call, the last one again after that) and recording when it was asked. */
export const fakeProbe = (...answers: ReadonlyArray<QuotaGate.SpentWindow | Effect.Effect<QuotaGate.SpentWindow>>) => {
  const asked: Array<number> = []
  const probe = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    asked.push(now)
    const answer = answers[Math.min(asked.length, answers.length) - 1]
    return typeof answer === "string" ? Effect.succeed(answer) : answer
  })
  return { asked, probe }
}

export const startsOf = (calls: ReadonlyArray<Call>, item?: string): ReadonlyArray<number> =>
  calls.filter((c) => item === undefined || c.item === item).map((c) => c.at)

/** Collects the messages logged at warning level or above and at info level. */
export const captureLogs = () => {
  const lines: Array<{ level: string; message: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text })
  })
  return { lines, layer: Logger.add(logger) as Layer.Layer<never> }
}
