/**
 * Relationships as `files|urls|domains|ips --relationships a,b --relationship-pages N|all` harvest them: the names
 * checked, which relationships a stored report already carries, and the pages beyond the first (which the report
 * carries itself) followed from its cursor and kept under `<out>/_relationships/<name>/<key>.json`.
 */
import type { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { StoreLayout } from "@vt-harvest/report-sink"
import type { Collection, VtClient, VtError, VtObject } from "@vt-harvest/vt-client"
import { Relationships } from "@vt-harvest/vt-client"
import type { Option as O } from "effect"
import { Context, Effect, Option, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Steps from "../engine/Steps.js"
import * as Input from "./input.js"
import * as Settings from "./settings.js"

/** What a relationship name may be before it reaches a request or a file name. */
export const namePattern = /^[a-z_]{1,64}$/

/** How many pages beyond the first to follow: a number, or every one. */
export type Pages = number | "all"

/** What the two flags ask: the relationships (in order, once each), and how many further pages (0: none). */
export interface Request {
  readonly names: ReadonlyArray<string>
  readonly pages: Pages
}

/** No relationship asked. */
export const none: Request = { names: [], pages: 0 }

/** The relationships of one object kind, beyond the first page, stored by name. */
export class PageStores extends Context.Tag("@vt-harvest/cli/RelationshipPageStores")<
  PageStores,
  ReadonlyMap<string, ReportSink.Service>
>() {}

/** --relationships and --relationship-pages, checked (exit status 2 for anything unusable, nothing sent). */
export const parse = (
  relationships: O.Option<string>,
  pages: O.Option<string>
): Effect.Effect<Request, Settings.UsageError> => {
  const names = Option.match(relationships, {
    onNone: () => [],
    onSome: (text) => [...new Set(text.split(",").map((name) => name.trim()).filter((name) => name !== ""))]
  })
  const invalid = names.find((name) => !namePattern.test(name))
  if (invalid !== undefined) {
    return Effect.fail(
      new Settings.UsageError({
        message: `--relationships: ${Input.quote(invalid)} is not a relationship name (a-z and _, at most 64)`
      })
    )
  }
  if (Option.isSome(relationships) && names.length === 0) {
    return Effect.fail(new Settings.UsageError({ message: "--relationships names no relationship" }))
  }
  if (Option.isNone(pages)) return Effect.succeed({ names, pages: 0 })
  if (names.length === 0) {
    return Effect.fail(new Settings.UsageError({ message: "--relationship-pages needs --relationships" }))
  }
  const text = pages.value.trim()
  if (text === "all") return Effect.succeed({ names, pages: "all" })
  const n = Number(text)
  return /^\d{1,6}$/.test(text) && n >= 1
    ? Effect.succeed({ names, pages: n })
    : Effect.fail(
      new Settings.UsageError({
        message: `--relationship-pages must be a whole number from 1 or all, got ${Input.quote(text)}`
      })
    )
}

/** Whether further pages are followed at all. */
export const followsPages = (request: Request): boolean => request.pages !== 0

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** `data.relationships` of a report, or an empty record. */
const relationshipsOf = (data: unknown): Record<string, unknown> =>
  isRecord(data) && isRecord(data.relationships) ? data.relationships : {}

/** The cursor of the next page of a relationship as a report carries it (`meta.cursor`, or that of `links.next`). */
const cursorOf = (member: unknown): string | undefined => {
  if (!isRecord(member) || !Array.isArray(member.data)) return undefined
  const meta = isRecord(member.meta) ? member.meta : {}
  if (typeof meta.cursor === "string" && meta.cursor !== "") return meta.cursor
  const links = isRecord(member.links) ? member.links : {}
  if (typeof links.next !== "string") return undefined
  try {
    return new URL(links.next).searchParams.get("cursor") || undefined
  } catch {
    return undefined
  }
}

/**
 * What a stored report lacks of what is asked: a relationship it does not carry, or (when further pages are
 * followed) one whose further pages are not stored. `undefined` when it has everything; a report that cannot be
 * read lacks everything.
 */
export const missing = (
  request: Request,
  stores: ReadonlyMap<string, ReportSink.Service> | undefined,
  key: ReportKey.ReportKey,
  stored: Uint8Array
): Effect.Effect<string | undefined, Failure.StoreFailed> =>
  Effect.gen(function*() {
    let relationships: Record<string, unknown>
    try {
      relationships = relationshipsOf((JSON.parse(new TextDecoder().decode(stored)) as { data?: unknown }).data)
    } catch {
      return "a readable report"
    }
    const absent = request.names.filter((name) => !Object.hasOwn(relationships, name))
    if (absent.length > 0) return `relationships ${absent.join(", ")}`
    if (stores === undefined) return undefined
    for (const name of request.names) {
      const store = stores.get(name)
      if (store === undefined || cursorOf(relationships[name]) === undefined) continue
      // Pages that cannot be read (too large, a bad gzip) are none: fetched again.
      const kept = yield* Failure.storeOrElse(store.get(key), () => Effect.succeed(Option.none<Uint8Array>()))
      if (Option.isNone(kept) || !enough(request.pages, kept.value)) return `further pages of ${name}`
    }
    return undefined
  })

/**
 * Whether pages kept as `_relationships/<name>/<key>.json` are as many as `pages` asks: all of them (no cursor left,
 * or as many as one record holds: `truncated`), or at least that many. Pages kept by a run that asked fewer, with
 * more remaining, are not enough for one that asks more.
 */
const enough = (pages: Pages, kept: Uint8Array): boolean => {
  let meta: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(kept))
    meta = isRecord(parsed) && isRecord(parsed.meta) ? parsed.meta : {}
  } catch {
    return false
  }
  if (typeof meta.cursor !== "string" || meta.cursor === "" || meta.truncated === true) return true
  return pages !== "all" && typeof meta.pages === "number" && meta.pages >= pages
}

/**
 * Follows the cursor of each relationship the report carries for at most `pages` further pages (up to 40
 * descriptors each, every page one request through the gated client), and keeps them under
 * `_relationships/<name>/<key>.json` as `{"data":[…],"meta":{"pages":n,"count"?,"cursor"?}}` (`cursor` when pages
 * remain beyond those followed). Answers the number of pages requested.
 */
export const keepFurtherPages = (
  request: Request,
  stores: ReadonlyMap<string, ReportSink.Service>,
  ref: VtObject.Ref,
  key: ReportKey.ReportKey,
  report: VtClient.Document
): Effect.Effect<number, VtError.VtError | Failure.StoreFailed, VtClient.VtClient> =>
  Effect.gen(function*() {
    // Only when pages are followed: reading `data` parses the whole report, which a plain harvest never needs.
    if (stores.size === 0) return 0
    const relationships = relationshipsOf(report.data)
    let requested = 0
    for (const name of request.names) {
      const store = stores.get(name)
      const cursor = cursorOf(relationships[name])
      if (store === undefined || cursor === undefined) continue
      // Held until kept as one record: at most Steps.maxGathered of pages, whatever `all` finds.
      const gathering = Steps.gathering((page: Collection.Page) => page.raw.length)
      const followed = yield* Relationships.pages(ref, name, {
        cursor,
        descriptorsOnly: true,
        pageSize: 40,
        maxPages: request.pages === "all" ? undefined : request.pages,
        onStop: Steps.collectionStopped(`${name} of ${key}`)
      }).pipe(
        gathering.take,
        Stream.runFold(
          { data: [] as Array<unknown>, pages: 0, last: undefined as Collection.Page | undefined },
          (acc, page) => {
            acc.data.push(...page.data)
            acc.pages++
            acc.last = page
            return acc
          }
        )
      )
      requested += followed.pages
      const meta: Record<string, unknown> = { pages: followed.pages }
      const count = followed.last === undefined ? Option.none() : followed.last.count
      if (Option.isSome(count)) meta.count = count.value
      const last = followed.last
      const remaining = last === undefined
        ? undefined
        : cursorOf({ data: last.data, meta: last.meta, links: last.links })
      if (remaining !== undefined) meta.cursor = remaining
      // Cut at the bound, or ended by the client with a cursor left (a page naming one already followed, or one with
      // no items): as much as any run keeps (`truncated`), so that a rerun does not fetch it all again.
      const cut = gathering.cut() && remaining !== undefined
      const endedEarly = remaining !== undefined &&
        (request.pages === "all" || followed.pages < request.pages)
      if (cut || endedEarly) meta.truncated = true
      const body = new TextEncoder().encode(JSON.stringify({ data: followed.data, meta }))
      if (cut) {
        yield* Effect.logWarning(
          `${name} of ${key}: kept the first ${followed.pages} pages (${
            Steps.maxGathered / 1024 / 1024
          } MiB, the most one record holds); the rest starts at its meta.cursor`
        )
      }
      yield* Failure.storeOrStop(store.put(key, body))
      yield* Effect.logInfo(
        `saved ${StoreLayout.relationshipsDirectory}/${name}/${key}.json (${followed.pages} ${
          followed.pages === 1 ? "page" : "pages"
        })`
      )
    }
    return requested
  })
