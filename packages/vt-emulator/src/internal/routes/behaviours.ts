/**
 * Sandbox behaviour: a file's summary, MITRE trees and per-sandbox behaviours (`/files/{id}/…`), and one sandbox's
 * behaviour and artefacts (`/file_behaviours/{sha256}_{sandbox}[/html|evtx|memdump|pcap]`).
 */
import * as Behaviour from "../behaviour.js"
import { type Context, decodeSegment, type Handler, type Incoming } from "../context.js"
import * as R from "../reply.js"
import { isReply, nowSeconds, type Resolved, resolveFile } from "../resolve.js"
import * as T from "../template.js"
import { paginated } from "./collections.js"
import { onObject } from "./objects.js"

/** `GET /files/{id}/behaviour_summary`. */
export const summary: Handler = onObject((_, __, file) => R.ok(Behaviour.summary(file.variant ?? 0)), "files")

/** `GET /files/{id}/behaviour_mitre_trees`. */
export const mitreTrees: Handler = onObject((_, __, file) => R.ok(Behaviour.mitreTrees(file.variant ?? 0)), "files")

/** `GET /files/{id}/behaviours`: one behaviour per sandbox that ran the file, an hour apart. */
export const list: Handler = onObject((context, request, file) => {
  const sandboxes = Behaviour.sandboxesOf(file.key)
  return paginated(context, request, sandboxes.length, (i) =>
    T.dataOf(
      Behaviour.behaviourDocument(
        file.key,
        sandboxes[i].name,
        file.variant ?? 0,
        nowSeconds(request.at) - 3600 * (i + 1)
      )
    ))
}, "files")

/** The id the log names for `/file_behaviours/{id}…`: the file's SHA-256, when the id is one. */
export const behaviourId = (request: Incoming): string | undefined =>
  Behaviour.parseBehaviourId(decodeSegment(request.params.id))?.sha256

/** A handler below `/file_behaviours/{id}`, run once the id names a sandbox run of a file the emulator knows. */
const onBehaviour = (
  run: (
    context: Context,
    request: Incoming,
    behaviour: { readonly sha256: string; readonly sandbox: string },
    file: Resolved
  ) => R.Reply
): Handler =>
(context, request) => {
  const raw = decodeSegment(request.params.id)
  const parsed = Behaviour.parseBehaviourId(raw)
  const file = parsed === undefined ? undefined : resolveFile(context, parsed.sha256, request.at)
  if (parsed === undefined || file === undefined || isReply(file)) {
    return R.error(404, "NotFoundError", `File behaviour "${raw}" not found`)
  }
  return run(context, request, parsed, file)
}

/** `GET /file_behaviours/{sha256}_{sandbox}`. */
export const behaviour: Handler = onBehaviour((_, request, behaviour, file) =>
  R.ok(
    Behaviour.behaviourDocument(behaviour.sha256, behaviour.sandbox, file.variant ?? 0, nowSeconds(request.at) - 3600)
  )
)

const isArtefact = (kind: string): kind is Behaviour.Artefact =>
  kind === "html" || kind === "evtx" || kind === "memdump" || kind === "pcap"

/** `GET /file_behaviours/{sha256}_{sandbox}/{artefact}`: bytes, when that sandbox produces them. */
export const artefact: Handler = onBehaviour((_, request, behaviour) => {
  const kind = request.params.artefact
  if (!isArtefact(kind)) return R.notFound
  const artefact = Behaviour.artefact(behaviour, kind)
  if (artefact === undefined) {
    return R.error(404, "NotFoundError", `No ${kind} for file behaviour "${decodeSegment(request.params.id)}"`)
  }
  return { status: 200, head: artefact.body, tail: undefined, contentType: artefact.contentType }
})
