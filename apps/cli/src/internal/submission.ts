/**
 * An unknown URL sent to VirusTotal for analysis (`urls --submit-unknown`): `POST /urls`, its analysis id checked
 * like any untrusted input before it names a file or reaches the log.
 */
import { Urls } from "@vt-harvest/vt-client"
import { Effect, Either } from "effect"
import * as Analyses from "./analyses.js"
import * as Input from "./input.js"

/** Submits `url`; answers its analysis id and the submission's answer, or why the answer is unusable. */
export const submitUrl = (url: string) =>
  Effect.gen(function*() {
    yield* Effect.logInfo(`submitting ${url}`)
    const submitted = yield* Urls.scan(url)
    const id = Analyses.checkedId(submitted.id)
    if (Either.isLeft(id)) {
      return Either.left(`submitted ${url}, but the analysis id ${Input.quote(submitted.id)} is unusable`)
    }
    yield* Effect.logInfo(`submitted ${url} as analysis ${id.right}`)
    return Either.right({ id: id.right, raw: submitted.raw })
  })
