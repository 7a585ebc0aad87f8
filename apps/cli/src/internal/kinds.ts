/**
 * The kinds of id `files`, `urls`, `domains` and `ips` read: how a line is parsed, the key a report is stored
 * under, the request that fetches it.
 */
import { ReportKey } from "@vt-harvest/report-sink"
import type { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import { Files, Urls, VtId, VtObject } from "@vt-harvest/vt-client"
import type { Effect } from "effect"
import { Either } from "effect"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Input from "./input.js"

export interface Kind {
  readonly command: "files" | "urls" | "domains" | "ips"
  readonly noun: string
  readonly parse: (input: string) => Either.Either<string, string>
  readonly key: (id: string) => Either.Either<ReportKey.ReportKey, unknown>
  /** The report, with the first page of each relationship `options` names (still one request). */
  readonly fetch: (
    client: VtClient.Service,
    id: string,
    options?: VtClient.ObjectOptions
  ) => Effect.Effect<VtClient.Document, VtError.VtError>
  /** The object as relationships and collections name it. */
  readonly ref: (id: string) => VtObject.Ref
  /** Asks VirusTotal to analyse the object again (`POST …/analyse`): files and URLs only. */
  readonly rescan?: (id: string) => Effect.Effect<Analysis.Descriptor, VtError.VtError, VtClient.VtClient>
}

export const files: Kind = {
  command: "files",
  noun: "hash",
  parse: VtId.fileHash,
  key: ReportKey.fromFileHash,
  fetch: (client, id, options) => client.getFile(id, options),
  ref: VtObject.file,
  rescan: Files.rescan
}

export const urls: Kind = {
  command: "urls",
  noun: "URL",
  parse: VtId.url,
  key: (url) => Either.right(ReportKey.fromUrl(url)),
  fetch: (client, id, options) => client.getUrl(id, options),
  ref: VtObject.url,
  rescan: Urls.rescan
}

export const domains: Kind = {
  command: "domains",
  noun: "domain",
  parse: VtId.domain,
  key: ReportKey.fromDomain,
  fetch: (client, id, options) => client.getDomain(id, options),
  ref: VtObject.domain
}

export const ips: Kind = {
  command: "ips",
  noun: "IP address",
  parse: VtId.ipAddress,
  key: ReportKey.fromIpAddress,
  fetch: (client, id, options) => client.getIpAddress(id, options),
  ref: VtObject.ipAddress
}

/** A line of input as an item: an id with its key, or what became of the line (blank, invalid). */
export const item = (kind: Kind) => (line: Input.Line): Pipeline.Item<string> => {
  const invalid = (reason: string) =>
    Outcome.invalid(`line ${line.number}: invalid ${kind.noun} ${Input.quote(line.text)}: ${reason}`)
  const parsed = Input.classify(line, kind.parse)
  switch (parsed._tag) {
    case "Ignored":
      return Outcome.ignored
    case "Invalid":
      return invalid(parsed.reason)
    case "Id":
      return Either.isLeft(kind.key(parsed.id))
        ? invalid("cannot be stored under a safe name")
        : Pipeline.work(parsed.id, `line ${line.number}, ${kind.noun} ${parsed.id}`)
  }
}
