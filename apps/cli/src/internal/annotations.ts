/**
 * What people say about an object, as `comments` and `votes` harvest and `comment add` and `vote add` post: one
 * table of the two, so that each is written once. A harvest keeps, per id, every item (or the first `--limit`) as
 * `<out>/_comments/<key>.json` or `<out>/_votes/<key>.json`: `{"data":[…],"meta":{"count":n}}`; an id VirusTotal
 * does not know is recorded under that store's `_not_found/`.
 */
import { ReportSink } from "@vt-harvest/report-sink"
import type { Collection, VtClient, VtError, VtObject } from "@vt-harvest/vt-client"
import { Comments, Votes, VtError as VtErrors } from "@vt-harvest/vt-client"
import type { Ref } from "effect"
import { Chunk, Effect, Either, Stream } from "effect"
import type * as Outcome from "../engine/Outcome.js"
import * as Outcomes from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Steps from "../engine/Steps.js"
import * as Input from "./input.js"
import * as Kinds from "./kinds.js"

/** One of the two: its command, its store below --out, its requests. */
export interface Annotation {
  readonly command: "comments" | "votes"
  /** `comment`, `vote`: the singular, for messages and the posting command. */
  readonly noun: "comment" | "vote"
  readonly directory: "_comments" | "_votes"
  /** The items of an object's collection, page after page through the gated client. */
  readonly list: (
    ref: VtObject.Ref,
    options: Collection.Options
  ) => Stream.Stream<{ readonly data: VtObject.VtObject }, VtError.VtError, VtClient.VtClient>
}

export const comments: Annotation = {
  command: "comments",
  noun: "comment",
  directory: "_comments",
  list: Comments.list
}

export const votes: Annotation = {
  command: "votes",
  noun: "vote",
  directory: "_votes",
  list: Votes.list
}

/** The kinds of id both harvest, by subcommand. */
export const kinds: ReadonlyArray<Kinds.Kind> = [Kinds.files, Kinds.urls, Kinds.domains, Kinds.ips]

/** Items per page when no --limit is given: as many as VirusTotal serves in one page. */
const fullPage = 40

const encoder = new TextEncoder()

/** The document kept for an id: the items as received, and how many. */
export const document = (items: ReadonlyArray<VtObject.VtObject>): Uint8Array =>
  encoder.encode(JSON.stringify({ data: items, meta: { count: items.length } }))

/**
 * The plan: each id of `input` → its items (all pages, or at most `limit`) kept in the store, or its not-found
 * record; skipped when the store has either.
 */
export const harvest = (
  annotation: Annotation,
  kind: Kinds.Kind,
  options: {
    readonly input: string
    readonly concurrency: number
    readonly overwrite: boolean
    readonly retryNotFound: boolean
    readonly limit: number | undefined
  },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Effect.gen(function*() {
    const store = yield* ReportSink.ReportSink
    // Pages are requested until their bodies hold twice what one record keeps: a server handing out pages of one
    // small item and a long cursor each cannot keep a harvest asking. The items (counted below, and said in the log
    // when cut) reach their own bound first in any collection whose pages are mostly items.
    const pagesBytes = 2 * Steps.maxGathered
    const listOptions = (id: string): Collection.Options => ({
      ...(options.limit === undefined ? { pageSize: fullPage } : { limit: options.limit }),
      maxBytes: pagesBytes,
      onStop: Steps.collectionStopped(`${annotation.command} of ${id}`, pagesBytes)
    })
    yield* Pipeline.run({
      items: Stream.map(Input.lines(options.input), Kinds.item(kind)),
      concurrency: options.concurrency,
      store,
      overwrite: options.overwrite,
      retryNotFound: options.retryNotFound,
      logSkips: false,
      key: (work: Pipeline.Work<string>) =>
        Effect.succeed(Pipeline.claim(Either.getOrThrow(kind.key(work.value)), work.value)),
      fetch: (work, key, seen) =>
        Effect.gen(function*() {
          // Held until kept as one record: at most Steps.maxGathered of items, whatever the pages say.
          const gathering = Steps.gathering((item: { readonly data: VtObject.VtObject }) =>
            Buffer.byteLength(JSON.stringify(item.data))
          )
          const items = yield* Steps.requesting(`${annotation.command} of ${work.value}`)(
            Stream.runCollect(gathering.take(annotation.list(kind.ref(work.value), listOptions(work.value))))
          ).pipe(Effect.catchIf(VtErrors.isNotFound, Effect.succeed))
          if (VtErrors.isNotFound(items)) {
            return yield* Steps.keepNotFound(store, key, items, Outcomes.notFound(`not found ${work.value}`))
          }
          const data = Chunk.toReadonlyArray(items).map((item) => item.data)
          if (gathering.cut()) {
            yield* Effect.logWarning(
              `${annotation.command} of ${work.value}: kept the first ${data.length} (${
                Steps.maxGathered / 1024 / 1024
              } MiB, the most one record holds); --limit keeps fewer`
            )
          }
          const saved = Outcomes.saved(
            `saved ${annotation.directory}/${key}.json (${data.length} ${annotation.noun}${
              data.length === 1 ? "" : "s"
            })`
          )
          return yield* Steps.keep(store, key, document(data), saved, seen)
        })
    }, tally)
  })
