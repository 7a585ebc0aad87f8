/**
 * Files' sandbox behaviours as `files <input> --behaviour summary|mitre|all` harvests them: `GET
 * /files/{id}/behaviour_summary` and `/behaviour_mitre_trees`, each kept as received under
 * `<out>/_behaviours/summary/<key>.json` and `<out>/_behaviours/mitre/<key>.json` (a file VirusTotal has no behaviour
 * for is recorded under that store's `_not_found/`, so that a rerun does not ask again).
 */
import type { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { StoreLayout } from "@vt-harvest/report-sink"
import type { VtClient } from "@vt-harvest/vt-client"
import { Behaviour, VtError } from "@vt-harvest/vt-client"
import { Context, Effect } from "effect"
import * as Failure from "../engine/Failure.js"

/** A part of a file's behaviour: the summary over all sandboxes, or the MITRE ATT&CK trees. */
export type Part = "summary" | "mitre"

/** What `--behaviour` says: one part, or both. */
export const parts = (choice: "summary" | "mitre" | "all" | undefined): ReadonlyArray<Part> =>
  choice === undefined ? [] : choice === "all" ? ["summary", "mitre"] : [choice]

/** The behaviour stores of a run, by part (none without `--behaviour`). */
export class Stores extends Context.Tag("@vt-harvest/cli/BehaviourStores")<
  Stores,
  ReadonlyMap<Part, ReportSink.Service>
>() {}

const requestOf = (part: Part) => (part === "summary" ? Behaviour.summary : Behaviour.mitreTrees)

const encoder = new TextEncoder()

/** The parts the stores hold no record of for `key` (a saved document or a not-found record both count). */
export const missing = (
  stores: ReadonlyMap<Part, ReportSink.Service>,
  key: ReportKey.ReportKey
): Effect.Effect<ReadonlyArray<Part>, Failure.StoreFailed> =>
  Effect.filter(
    [...stores.keys()],
    (part) => Effect.map(Failure.storeOrStop(stores.get(part)!.has(key)), (presence) => presence === "absent")
  )

/**
 * Requests each part of the file's behaviour (one request each, through the gated client) and keeps it under
 * `_behaviours/<part>/<key>.json`; VirusTotal's 404 is kept as that part's not-found record. Answers what became of
 * each part, for the log (`summary`, `mitre (none)`).
 */
export const keep = (
  stores: ReadonlyMap<Part, ReportSink.Service>,
  parts: ReadonlyArray<Part>,
  hash: string,
  key: ReportKey.ReportKey
): Effect.Effect<ReadonlyArray<string>, VtError.VtError | Failure.StoreFailed, VtClient.VtClient> =>
  Effect.forEach(parts, (part) =>
    Effect.gen(function*() {
      const store = stores.get(part)!
      const document = yield* requestOf(part)(hash).pipe(Effect.catchIf(VtError.isNotFound, Effect.succeed))
      if (VtError.isNotFound(document)) {
        yield* Failure.storeOrStop(store.putNotFound(key, encoder.encode(document.body)))
        return `${part} (none)`
      }
      yield* Failure.storeOrStop(store.put(key, document.raw))
      return part
    }))

/** `behaviour summary, mitre` for a log line, or nothing. */
export const describe = (kept: ReadonlyArray<string>): ReadonlyArray<string> =>
  kept.length === 0 ? [] : [`behaviour ${kept.join(", ")} under ${StoreLayout.behavioursDirectory}/`]
