import { QuotaGate } from "@vt-harvest/rate-schedule"
import { ReportKey } from "@vt-harvest/report-sink"
import { Analysis, VtError, VtId } from "@vt-harvest/vt-client"
import type { Option } from "effect"
import { Clock, Data, Duration, Effect, Either, Stream } from "effect"
import type { Counts, StoreFailed } from "./harvest.js"
import { counted, describeError, emptyCounts, KeyRefused, storeOrStop } from "./harvest.js"
import * as Input from "./input.js"
import * as Progress from "./progress.js"
import * as Runner from "./runner.js"
import * as Settings from "./settings.js"

// -- waiting for an analysis ---------------------------------------------------------------------------------------

/** An analysis' status for a log line: as it is when it looks like one (`queued`, `in-progress`…), else quoted. */
export const statusText = (analysis: { readonly status: string }): string =>
  /^[a-z][a-z-]{0,39}$/.test(analysis.status) ? analysis.status : Input.quote(analysis.status)

/** The analysis was still not completed when --wait-timeout ran out; `last` is the last state polled. */
export class WaitTimedOut extends Data.TaggedError("WaitTimedOut")<{
  readonly last: Analysis.Analysis
  readonly polls: number
}> {}

/** How to wait for an analysis. */
export interface WaitOptions {
  /** Between two polls (and before the first, with `delayFirst`). */
  readonly interval: Duration.Duration
  /** No poll starts later than this after the wait began. */
  readonly timeout: Duration.Duration
  /** Wait one interval before the first poll: an analysis just submitted is never done at once. */
  readonly delayFirst: boolean
  /** Sees every state polled, the last one included. */
  readonly onState?: ((analysis: Analysis.Analysis) => Effect.Effect<void>) | undefined
}

/**
 * Polls with `fetch` (one request each time, which the caller paces through the quota gate) until the analysis is
 * completed: every `interval` (measured from the end of one poll to the start of the next, so a poll the gate held
 * back does not make the next one come sooner), for at most `timeout`. Every wait is on the Clock.
 */
export const awaitCompleted = <E, R>(
  fetch: Effect.Effect<Analysis.Analysis, E, R>,
  options: WaitOptions
): Effect.Effect<Analysis.Analysis, E | WaitTimedOut, R> =>
  Effect.gen(function*() {
    const interval = Duration.toMillis(options.interval)
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(options.timeout)
    let polls = 0
    while (true) {
      if (polls > 0 || options.delayFirst) yield* Effect.sleep(options.interval)
      const analysis = yield* fetch
      polls++
      if (options.onState !== undefined) yield* options.onState(analysis)
      if (Analysis.isCompleted(analysis)) return analysis
      if ((yield* Clock.currentTimeMillis) + interval > deadline) {
        return yield* Effect.fail(new WaitTimedOut({ last: analysis, polls }))
      }
    }
  })

/** Seconds between two polls: VirusTotal's own clients poll every 20 s; a public key has 500 requests a day. */
export const defaultPollSeconds = (tier: "public" | "premium"): number => (tier === "public" ? 60 : 20)

/** How long to wait for one analysis by default: 10 minutes, as VirusTotal's command line does. */
export const defaultWaitTimeoutSeconds = 600

/** --poll-interval and --wait-timeout, checked (whole seconds, 1 to 86,400). */
export const waitSettings = (options: {
  readonly tier: "public" | "premium"
  readonly pollInterval: Option.Option<number>
  readonly waitTimeout: Option.Option<number>
}) =>
  Effect.gen(function*() {
    const interval = yield* Settings.seconds("poll-interval", options.pollInterval, defaultPollSeconds(options.tier))
    const timeout = yield* Settings.seconds("wait-timeout", options.waitTimeout, defaultWaitTimeoutSeconds)
    return { interval: Duration.seconds(interval), timeout: Duration.seconds(timeout) }
  })

/** One analysis, gated: `requesting analysis <id>` in the run log, then `GET /analyses/{id}`. */
export const fetchAnalysis = (id: string) =>
  QuotaGate.request(Effect.logInfo(`requesting analysis ${id}`).pipe(Effect.zipRight(Analysis.get(id))))

// -- what is printed -----------------------------------------------------------------------------------------------

/** What a line of output says about an analysis. */
export interface Row {
  readonly id: string
  readonly status: string
  readonly malicious: string
  readonly suspicious: string
  readonly undetected: string
  readonly harmless: string
  /** The analysed file's SHA-256, or the URL. */
  readonly item: string
}

/** The CSV columns, in order. */
export const columns = ["id", "status", "malicious", "suspicious", "undetected", "harmless", "item"] as const

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const field = (value: unknown): string => (typeof value === "number" || typeof value === "string" ? String(value) : "")

/** A row from an analysis document as VirusTotal sent it (or as it was stored), `undefined` if it is not one. */
export const row = (body: Uint8Array): Row | undefined => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(body))
  } catch {
    return undefined
  }
  const data = isRecord(json) ? json.data : undefined
  if (!isRecord(data) || typeof data.id !== "string") return undefined
  const attributes = isRecord(data.attributes) ? data.attributes : {}
  const stats = isRecord(attributes.stats) ? attributes.stats : {}
  const meta = isRecord(json) && isRecord(json.meta) ? json.meta : {}
  const fileInfo = isRecord(meta.file_info) ? meta.file_info : {}
  const urlInfo = isRecord(meta.url_info) ? meta.url_info : {}
  return {
    id: data.id,
    status: field(attributes.status),
    malicious: field(stats.malicious),
    suspicious: field(stats.suspicious),
    undetected: field(stats.undetected),
    harmless: field(stats.harmless),
    item: field(fileInfo.sha256) || field(urlInfo.url) || field(urlInfo.id)
  }
}

/** One line of stdout: CSV (RFC 4180), or a JSON object with `--json`. Never a control character either way. */
export const formatRow = (value: Row, key: string, json: boolean): string => {
  if (json) {
    const count = (text: string) => (text === "" ? null : Number(text))
    return JSON.stringify({
      id: value.id,
      key,
      status: value.status,
      malicious: count(value.malicious),
      suspicious: count(value.suspicious),
      undetected: count(value.undetected),
      harmless: count(value.harmless),
      item: value.item
    })
  }
  return columns.map((column) => {
    const text = value[column].replace(/[\u0000-\u001f\u007f]/g, " ")
    return /[",]/.test(text) ? `"${text.replaceAll("\"", "\"\"")}"` : text
  }).join(",")
}

// -- the command ---------------------------------------------------------------------------------------------------

/** The options of `vt-harvest analysis`. */
export interface Options extends Runner.CommonOptions {
  readonly ids: ReadonlyArray<string>
  readonly wait: boolean
  readonly pollInterval: Option.Option<number>
  readonly waitTimeout: Option.Option<number>
  readonly overwrite: boolean
  readonly retryNotFound: boolean
  readonly json: boolean
}

/** An id to fetch and where it came from, for messages. */
interface Work {
  readonly id: string
  readonly where: string
}

/** Counters of the summary line: the harvest's, and how many of the saved analyses are completed. */
export interface AnalysisCounts extends Counts {
  completed: number
  /** Analyses being waited for right now (--wait). */
  waiting: number
}

export const summaryLine = (counts: AnalysisCounts): string =>
  `summary: saved ${counts.saved}, completed ${counts.completed}, not found ${counts.notFound}, skipped ${counts.skipped}, invalid ${counts.invalid}, failed ${counts.failed}`

/** The progress text: ids done of the total, what became of them, and the analyses being waited for. */
const progressText = (counts: AnalysisCounts, total: number | undefined, tty: boolean) => {
  const parts = [
    Progress.position(counts.done + counts.invalid, total, tty),
    `saved ${counts.saved}`,
    `completed ${counts.completed}`,
    `not found ${counts.notFound}`,
    `failed ${counts.failed}`
  ]
  if (counts.skipped > 0) parts.push(`skipped ${counts.skipped}`)
  if (counts.invalid > 0) parts.push(`invalid ${counts.invalid}`)
  if (counts.waiting > 0) parts.push(`waiting for ${counts.waiting} analys${counts.waiting === 1 ? "is" : "es"}`)
  return parts
}

/** Every id argument checked before anything is sent: one that is not an analysis id makes the whole run unusable. */
const checkIds = (ids: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Work>, Settings.UsageError> => {
  const problems: Array<string> = []
  const work: Array<Work> = []
  ids.forEach((arg, i) => {
    if (Input.isStdin(arg)) return
    Either.match(VtId.analysisId(arg), {
      onLeft: (reason) => problems.push(`invalid analysis id ${Input.quote(arg)} (argument ${i + 1}): ${reason}`),
      onRight: (id) => work.push({ id, where: `argument ${i + 1}` })
    })
  })
  if (ids.filter(Input.isStdin).length > 1) problems.push("- (standard input) can be given once")
  return problems.length > 0
    ? Effect.fail(new Settings.UsageError({ message: `${problems.join("\nvt-harvest: ")}\nnothing was sent` }))
    : Effect.succeed(work)
}

/** `vt-harvest analysis <id>...`: fetch analyses (and with --wait, until completed) into `<out>/_analyses/`. */
export const command = (options: Options) =>
  Effect.gen(function*() {
    const waiting = yield* waitSettings(options)
    const prepared = yield* Runner.prepare(options, Runner.checkAnalysesOut(options))
    const fromArgs = yield* checkIds(options.ids)
    const readsStdin = options.ids.some(Input.isStdin)
    const counts: AnalysisCounts = { ...emptyCounts(), completed: 0, waiting: 0 }
    const { policy, screen } = prepared
    // On a terminal stdout and the progress line on stderr share the screen: the line is cleared first (and redrawn
    // by the next progress tick), so that a row never lands on the end of it.
    const print = (line: string) =>
      Effect.sync(() => {
        screen.clear()
        process.stdout.write(`${line}\n`)
      })

    const body = Effect.gen(function*() {
      const analyses = yield* Runner.AnalysisStore
      const inFlight = new Set<string>()
      // Ids this run asked for whose duplicates the store would not stop: failed, unfinished, not found, or all of
      // them under --overwrite (which ignores the store).
      const settled = new Set<string>()

      const show = (body: Uint8Array, key: string) => {
        const value = row(body)
        return value === undefined ? Effect.void : print(formatRow(value, key, options.json))
      }
      const skip = counted(() => counts.skipped++, Effect.logInfo)
      const fail = counted(() => counts.failed++, Effect.logError)

      const save = (key: ReportKey.ReportKey, analysis: Analysis.Analysis) =>
        storeOrStop(analyses.put(key, analysis.raw)).pipe(
          Effect.zipRight(Effect.logInfo(`saved ${Runner.analysesDirectoryName}/${key}.json`))
        )

      const fetchOne = (work: Work, key: ReportKey.ReportKey) => {
        const fetch = fetchAnalysis(work.id)
        const wanted = options.wait
          ? Effect.acquireUseRelease(
            Effect.sync(() => counts.waiting++),
            () =>
              awaitCompleted(fetch, {
                ...waiting,
                delayFirst: false,
                onState: (analysis) => Effect.logInfo(`analysis ${work.id} ${statusText(analysis)}`)
              }),
            () => Effect.sync(() => counts.waiting--)
          )
          : fetch
        return wanted.pipe(
          Effect.matchEffect({
            onSuccess: (analysis) =>
              save(key, analysis).pipe(
                Effect.zipRight(Effect.sync(() => {
                  counts.saved++
                  // A completed analysis in the store stops its duplicates by itself; an unfinished one would
                  // send them again, so they are stopped here.
                  if (Analysis.isCompleted(analysis)) counts.completed++
                  else settled.add(key)
                })),
                Effect.zipRight(show(analysis.raw, key))
              ),
            onFailure: (error): Effect.Effect<void, StoreFailed | KeyRefused> => {
              if (error._tag === "WaitTimedOut") {
                settled.add(key)
                return save(key, error.last).pipe(
                  Effect.zipRight(fail(
                    `analysis ${work.id} (${work.where}) still ${statusText(error.last)} after ${error.polls} poll${
                      error.polls === 1 ? "" : "s"
                    } in ${Duration.format(waiting.timeout)} (--wait-timeout); its last state is saved, ask again later`
                  )),
                  Effect.zipRight(show(error.last.raw, key))
                )
              }
              if (VtError.isAuthFailure(error)) {
                return Effect.logError(describeError(error)).pipe(
                  Effect.zipRight(Effect.fail(new KeyRefused({ error })))
                )
              }
              if (VtError.isNotFound(error)) {
                // Also when an unfinished analysis of an earlier run is saved (a saved record wins over a
                // not-found one, so the store alone would not stop the duplicates).
                settled.add(key)
                return storeOrStop(analyses.putNotFound(key, new TextEncoder().encode(error.body))).pipe(
                  Effect.zipRight(Effect.sync(() => {
                    counts.notFound++
                  })),
                  Effect.zipRight(Effect.logWarning(`not found ${work.id} (${work.where})`))
                )
              }
              settled.add(key)
              return fail(`${describeError(error)} (${work.where}, analysis ${work.id})`)
            }
          })
        )
      }

      const handle = (work: Work) =>
        Effect.gen(function*() {
          const key = Either.getOrUndefined(ReportKey.fromAnalysisId(work.id))
          if (key === undefined) {
            counts.invalid++
            return yield* Effect.logWarning(`${work.where}: ${Input.quote(work.id)} cannot be stored under a safe name`)
          }
          // Checked and claimed in one step (no yield in between), so concurrent duplicates cannot both pass.
          if (inFlight.has(key) || settled.has(key)) {
            counts.done++
            return yield* skip(`skipped duplicate ${work.id} (${work.where})`)
          }
          inFlight.add(key)
          if (options.overwrite) settled.add(key)
          return yield* Effect.gen(function*() {
            if (!options.overwrite) {
              const presence = yield* storeOrStop(analyses.has(key))
              if (presence === "saved") {
                const saved = yield* storeOrStop(analyses.get(key))
                const body = saved._tag === "Some" ? saved.value : undefined
                if (body !== undefined && row(body)?.status === "completed") {
                  yield* skip(`skipped ${work.id}: completed, already saved`)
                  return yield* show(body, key)
                }
              }
              if (presence === "not-found" && !options.retryNotFound) {
                return yield* skip(`skipped ${work.id}: recorded as not found`)
              }
            }
            return yield* fetchOne(work, key)
          }).pipe(Effect.ensuring(Effect.sync(() => {
            counts.done++
            inFlight.delete(key)
          })))
        })

      const fromStdin: Stream.Stream<Work, Input.InputError> = readsStdin
        ? Input.lines(Input.stdinArgument).pipe(
          Stream.mapEffect((line) => {
            const parsed = Input.classify(line, VtId.analysisId)
            switch (parsed._tag) {
              case "Ignored":
                return Effect.succeed([])
              case "Invalid":
                return Effect.sync(() => {
                  counts.invalid++
                }).pipe(
                  Effect.zipRight(Effect.logWarning(
                    `line ${line.number}: invalid analysis id ${Input.quote(line.text)}: ${parsed.reason}`
                  )),
                  Effect.as([])
                )
              case "Id":
                return Effect.succeed([{ id: parsed.id, where: `line ${line.number}` }])
            }
          }),
          Stream.flattenIterables
        )
        : Stream.empty

      const total = readsStdin ? undefined : fromArgs.length
      yield* Progress.report({
        screen,
        enabled: !options.noProgress,
        total,
        policy,
        plainEvery: "30 seconds",
        text: (status, startedAt, now) =>
          [...progressText(counts, total, screen.tty), ...Progress.pace(status, policy, startedAt, now)].join(" · ")
      })
      if (!options.json) yield* print(columns.join(","))
      yield* Stream.concat(Stream.fromIterable(fromArgs), fromStdin).pipe(
        Stream.mapEffect(handle, { concurrency: Math.max(1, policy.concurrency), unordered: true }),
        Stream.runDrain
      )
    })

    const source = readsStdin
      ? fromArgs.length > 0 ? `${fromArgs.length} ids and standard input` : "standard input"
      : `${fromArgs.length} id${fromArgs.length === 1 ? "" : "s"}`
    return yield* Runner.run({
      common: options,
      prepared,
      command: "analysis",
      source,
      target: Runner.analysesLocation(options.out),
      summary: () => summaryLine(counts),
      closing: (log) =>
        counts.saved + counts.notFound > 0
          ? [`analyses in ${Runner.analysesLocation(options.out)}/, log in ${log}`]
          : [],
      failed: () => counts.failed > 0,
      body
    })
  })
