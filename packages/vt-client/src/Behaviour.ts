/**
 * Sandbox behaviour of files: the summary over all sandboxes, the MITRE ATT&CK trees, each sandbox's report
 * (`file_behaviour` objects, as a lazy Stream) and its artefacts (HTML report, EVTX, memory dump, PCAP) as bytes.
 *
 * @since 0.1.0
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Collection from "./Collection.js"
import { decode, refPath, segment, withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import * as VtObject from "./VtObject.js"

const Unknown = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * The parts of a behaviour summary people use; everything else is kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Summary = Schema.Struct({
  tags: Schema.optional(Schema.Array(Schema.String)),
  verdicts: Schema.optional(Schema.Array(Schema.String)),
  calls_highlighted: Schema.optional(Schema.Array(Schema.String)),
  processes_created: Schema.optional(Schema.Array(Schema.String)),
  command_executions: Schema.optional(Schema.Array(Schema.String)),
  files_dropped: Schema.optional(Schema.Array(Schema.Struct({
    path: Schema.optional(Schema.String),
    sha256: Schema.optional(Schema.String),
    type: Schema.optional(Schema.String)
  }))),
  registry_keys_set: Schema.optional(Schema.Array(Schema.Struct({
    key: Schema.String,
    value: Schema.optional(Schema.String)
  }))),
  dns_lookups: Schema.optional(Schema.Array(Schema.Struct({
    hostname: Schema.String,
    resolved_ips: Schema.optional(Schema.Array(Schema.String))
  }))),
  ip_traffic: Schema.optional(Schema.Array(Schema.Struct({
    destination_ip: Schema.String,
    destination_port: Schema.optional(Schema.Number),
    transport_layer_protocol: Schema.optional(Schema.String)
  }))),
  mitre_attack_techniques: Schema.optional(Schema.Array(Schema.Struct({
    id: Schema.String,
    signature_description: Schema.optional(Schema.String),
    severity: Schema.optional(Schema.String)
  }))),
  processes_tree: Schema.optional(Schema.Array(Unknown))
})

/**
 * The decoded {@link Summary} schema; unnamed members are kept.
 *
 * @since 0.1.0
 * @category models
 */
export type Summary = typeof Summary.Type

/**
 * A technique of a MITRE tree, with the sandbox signatures that matched it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Technique = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  description: Schema.optional(Schema.String),
  link: Schema.optional(Schema.String),
  signatures: Schema.optional(Schema.Array(Schema.Struct({
    severity: Schema.optional(Schema.String),
    description: Schema.optional(Schema.String)
  })))
})

/**
 * A tactic of a MITRE tree.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Tactic = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  description: Schema.optional(Schema.String),
  link: Schema.optional(Schema.String),
  techniques: Schema.Array(Technique)
})

/**
 * The MITRE trees by sandbox name.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MitreTrees = Schema.Record({ key: Schema.String, value: Schema.Struct({ tactics: Schema.Array(Tactic) }) })

/**
 * The decoded {@link MitreTrees} schema.
 *
 * @since 0.1.0
 * @category models
 */
export type MitreTrees = typeof MitreTrees.Type

/**
 * A JSON answer that is not an object envelope: `raw` as received, `data` typed (unnamed members kept).
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonDocument<A> {
  readonly raw: Uint8Array
  readonly data: A
}

const getData = <A, I>(path: string, schema: Schema.Schema<A, I>) =>
  withClient((vt) =>
    Effect.flatMap(vt.getJson(path), (response) =>
      Effect.map(
        decode(vt, Schema.Struct({ data: schema }), response, "GET", path),
        (doc): JsonDocument<A> => ({ raw: response.raw, data: doc.data })
      ))
  )

/**
 * `GET /files/{id}/behaviour_summary`: what all sandboxes saw, merged.
 *
 * @since 0.1.0
 * @category requests
 */
export const summary = (hash: string): Effect.Effect<JsonDocument<Summary>, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(refPath(vt, VtObject.file(hash)), (path) => getData(`${path}/behaviour_summary`, Summary))
  )

/**
 * `GET /files/{id}/behaviour_mitre_trees`: MITRE ATT&CK tactics and techniques by sandbox.
 *
 * @since 0.1.0
 * @category requests
 */
export const mitreTrees = (
  hash: string
): Effect.Effect<JsonDocument<MitreTrees>, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(refPath(vt, VtObject.file(hash)), (path) => getData(`${path}/behaviour_mitre_trees`, MitreTrees))
  )

/**
 * `GET /files/{id}/behaviours`: one `file_behaviour` object per sandbox that ran the file; their ids
 * (`{sha256}_{sandbox}`) name them in {@link get} and the artefact requests.
 *
 * @since 0.1.0
 * @category requests
 */
export const list = (
  hash: string,
  options?: Collection.Options
): Stream.Stream<VtObject.VtObject, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(
    withClient((vt) =>
      Effect.map(refPath(vt, VtObject.file(hash)), (path) => Collection.objects(`${path}/behaviours`, options))
    )
  )

/**
 * `GET /file_behaviours/{sandbox_id}`: one sandbox's report.
 *
 * @since 0.1.0
 * @category requests
 */
export const get = (sandboxId: string): Effect.Effect<VtObject.Document, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(segment(vt, "sandbox_id", sandboxId), (id) => vt.getObject(`/file_behaviours/${id}`))
  )

/**
 * The artefacts a sandbox may produce (its `has_html_report`, `has_evtx`, `has_memdump`, `has_pcap` say which).
 *
 * @since 0.1.0
 * @category models
 */
export type Artefact = "html" | "evtx" | "memdump" | "pcap"

/**
 * `GET /file_behaviours/{sandbox_id}/{html|evtx|memdump|pcap}`: the artefact's bytes as received (and its
 * headers, for the content type). One absent for that sandbox fails with `NotFoundError`.
 *
 * @since 0.1.0
 * @category requests
 */
export const artefact = (
  sandboxId: string,
  kind: Artefact
): Effect.Effect<VtClient.BytesResponse, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(segment(vt, "sandbox_id", sandboxId), (id) =>
      vt.executeBytes(
        HttpClientRequest.get(`/file_behaviours/${id}/${kind}`).pipe(HttpClientRequest.accept("*/*"))
      ))
  )

/**
 * The sandbox's HTML report.
 *
 * @since 0.1.0
 * @category requests
 */
export const html = (sandboxId: string) => artefact(sandboxId, "html")

/**
 * The sandbox's Windows event log (EVTX).
 *
 * @since 0.1.0
 * @category requests
 */
export const evtx = (sandboxId: string) => artefact(sandboxId, "evtx")

/**
 * The sandbox's memory dump.
 *
 * @since 0.1.0
 * @category requests
 */
export const memdump = (sandboxId: string) => artefact(sandboxId, "memdump")

/**
 * The sandbox's network capture (PCAP).
 *
 * @since 0.1.0
 * @category requests
 */
export const pcap = (sandboxId: string) => artefact(sandboxId, "pcap")
