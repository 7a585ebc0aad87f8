import { ConsoleLog } from "@vt-harvest/logging"
import { Planner, QuotaGate, type QuotaPolicy } from "@vt-harvest/rate-schedule"
import { Clock, Duration, Effect, LogLevel, Ref, Schedule } from "effect"
import * as Outcome from "../engine/Outcome.js"
import * as Text from "./text.js"

/**
 * The terminal side of stderr. On a TTY a progress line is redrawn in place, and a message first clears it;
 * off a TTY (or with --no-progress) only plain lines are written: no control characters at all. Every line and
 * status goes out with its control characters escaped (`\u001b`): paths, ids and server text in them can never
 * drive the terminal. Only `rendered` lines, made by the console logger (which escapes the message itself and may
 * colour its prefix), go out as they are.
 */
export interface Screen {
  readonly tty: boolean
  readonly line: (text: string) => void
  readonly rendered: (line: string) => void
  readonly status: (text: string) => void
  readonly clear: () => void
}

export const makeScreen = (tty: boolean, stream: NodeJS.WriteStream = process.stderr): Screen => {
  let shown = false
  const clear = () => {
    if (shown) {
      stream.write("\r\x1b[K")
      shown = false
    }
  }
  const rendered = (line: string) => {
    clear()
    stream.write(`${line}\n`)
  }
  return {
    tty,
    line: (text) => rendered(Text.escapeControls(text)),
    rendered,
    status: (text) => {
      if (!tty) return
      const width = Math.max(20, (stream.columns ?? 100) - 1)
      const safe = Text.escapeControls(text)
      stream.write(`\r\x1b[K${safe.length > width ? safe.slice(0, width) : safe}`)
      shown = true
    },
    clear
  }
}

/** Warnings and errors for a human on stderr, one plain line each; the run log holds everything. */
export const consoleLogger = (screen: Screen, color: boolean) =>
  ConsoleLog.make({ minLevel: LogLevel.Warning, color, write: screen.rendered })

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`

const DAY = 86_400_000

/**
 * How long until `finish`, for people: "under a minute", "about 12 minutes", "about 3 hours", and past a day
 * the number of UTC days the work spans, since a daily quota is what sets the pace (2,000 hashes on a public
 * key need four days' quota: "about 4 days").
 */
export const humanEta = (now: number, finish: number): string => {
  const minutes = (finish - now) / 60_000
  if (minutes < 1) return "under a minute"
  if (minutes < 90) return `about ${plural(Math.round(minutes), "minute")}`
  if (minutes < 24 * 60) return `about ${plural(Math.round(minutes / 60), "hour")}`
  return `about ${Math.floor(finish / DAY) - Math.floor(now / DAY) + 1} days`
}

const utc = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC"

export const bar = (fraction: number, width = 20) => {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`
}

/**
 * "3/10" (with a bar on a TTY) when the total is known (input lines, blank ones included), else "3 done": the items
 * done, without the lines that hold none (blank, comments, another shard's ids).
 */
export const position = (tally: Outcome.Tally, total: number | undefined, tty: boolean): string => {
  if (total === undefined || total <= 0) return `${tally.handled - tally.ignored} done`
  const shown = Math.min(tally.handled, total)
  return tty ? `${bar(shown / total)} ${shown}/${total}` : `${shown}/${total}`
}

/** The policy with the limits the gate has in force (lowered to the key's own once learned), for the ETA. */
const effective = (policy: QuotaPolicy.QuotaPolicy, status: QuotaGate.Status): QuotaPolicy.QuotaPolicy => ({
  ...policy,
  perHour: status.limits.perHour,
  perDay: status.limits.perDay,
  perMonth: status.limits.perMonth
})

/** The request rate so far and, while no request may start, until when (as the gate says). */
export const pace = (status: QuotaGate.Status, startedAt: number, now: number): Array<string> => {
  const parts: Array<string> = []
  const elapsedMinutes = (now - startedAt) / 60_000
  if (elapsedMinutes > 0.05 && status.requests > 0) {
    parts.push(`${(status.requests / elapsedMinutes).toFixed(1)} req/min`)
  }
  if (status.waitingUntil !== undefined && status.waitingUntil > now) {
    parts.push(`waiting for quota until ${utc(status.waitingUntil)}`)
  }
  return parts
}

/** What a progress display shows of a run: which counters, always or once they are above zero. */
export interface View {
  readonly counters: ReadonlyArray<Outcome.Counter>
  readonly whenAny: ReadonlyArray<Outcome.Counter>
}

/** The text of one progress report; `total` is the number of items (input lines, files) when known. */
export const describe = (
  tally: Outcome.Tally,
  view: View,
  total: number | undefined,
  status: QuotaGate.Status,
  policy: QuotaPolicy.QuotaPolicy,
  startedAt: number,
  now: number,
  tty: boolean
): string => {
  const parts: Array<string> = [position(tally, total, tty)]
  parts.push(...Outcome.describe(tally, view.counters))
  parts.push(...Outcome.describe(tally, view.whenAny.filter((counter) => tally[counter] > 0)))
  if (tally.waiting > 0) parts.push(`waiting for ${tally.waiting} analys${tally.waiting === 1 ? "is" : "es"}`)
  parts.push(...pace(status, startedAt, now))
  if (total !== undefined) {
    const pending = Math.max(0, total - tally.handled)
    if (pending > 0) {
      const finish = Planner.finishTime(effective(policy, status), pending, status, now)
      if (finish > now && Number.isFinite(finish)) parts.push(`ETA ${utc(finish)} (${humanEta(now, finish)})`)
    }
  }
  return parts.join(" · ")
}

/**
 * Reports progress until the surrounding scope closes: redrawn every quarter second on a TTY, a plain
 * line every `plainEvery` otherwise (never when disabled).
 */
export const report = (options: {
  readonly screen: Screen
  readonly enabled: boolean
  readonly tally: Ref.Ref<Outcome.Tally>
  readonly view: View
  readonly total: number | undefined
  readonly policy: QuotaPolicy.QuotaPolicy
  readonly plainEvery: Duration.DurationInput
}) =>
  Effect.gen(function*() {
    if (!options.enabled) return
    const gate = yield* QuotaGate.QuotaGate
    const startedAt = yield* Clock.currentTimeMillis
    const tick = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const status = yield* gate.status
      const tally = yield* Ref.get(options.tally)
      const text = describe(
        tally,
        options.view,
        options.total,
        status,
        options.policy,
        startedAt,
        now,
        options.screen.tty
      )
      if (options.screen.tty) options.screen.status(text)
      else options.screen.line(`progress: ${text}`)
    })
    const every = options.screen.tty ? Duration.millis(250) : Duration.decode(options.plainEvery)
    yield* Effect.addFinalizer(() => Effect.sync(() => options.screen.clear()))
    yield* Effect.forkScoped(Effect.repeat(Effect.delay(tick, every), Schedule.forever))
  })
