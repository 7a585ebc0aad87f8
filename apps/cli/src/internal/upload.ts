/**
 * A file sent to VirusTotal for analysis: streamed from disk, through an upload URL above 32 MiB (the client keeps
 * the URL and the upload together), its analysis id checked like any untrusted input.
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Files } from "@vt-harvest/vt-client"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Analyses from "./analyses.js"
import * as Input from "./input.js"
import { maxUploadBytes, show } from "./walk.js"

/** A file as `scan` found and hashed it. */
export interface File {
  readonly path: string
  readonly sha256: string
  readonly size: number
}

/**
 * Uploads the file (`counted` runs once it is); answers its analysis id and the upload's answer, or why it was not
 * uploaded, or was with an unusable answer.
 */
export const upload = (file: File, counted: Effect.Effect<void>) =>
  Effect.gen(function*() {
    if (file.size > maxUploadBytes) {
      return Either.left(`${show(file.path)} is ${file.size} bytes, more than VirusTotal accepts (650 MB)`)
    }
    const via = file.size > Files.maxDirectUploadBytes ? ", upload URL" : ""
    yield* Effect.logInfo(`uploading ${show(file.path)} (${file.size} bytes${via})`)
    const uploaded = yield* Files.uploadStream({
      stream: NodeStream.fromReadable(() => fs.createReadStream(file.path, { highWaterMark: 65536 }), (e) => e),
      size: file.size,
      filename: path.basename(file.path)
    })
    yield* counted
    // The id comes from the server: it names a file and goes into the log, so it is checked like any input.
    const id = Analyses.checkedId(uploaded.id)
    if (Either.isLeft(id)) {
      return Either.left(`uploaded ${show(file.path)}, but the analysis id ${Input.quote(uploaded.id)} is unusable`)
    }
    yield* Effect.logInfo(`uploaded ${show(file.path)} as analysis ${id.right}`)
    return Either.right({ id: id.right, raw: uploaded.raw })
  })
