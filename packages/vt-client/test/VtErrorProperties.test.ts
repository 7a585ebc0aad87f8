import { describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as VtError from "../src/VtError.js"

const statuses = FastCheck.integer({ min: 100, max: 599 })
const bodies = FastCheck.oneof(
  FastCheck.string(),
  FastCheck.fullUnicodeString(),
  FastCheck.json(),
  FastCheck.record({ error: FastCheck.record({ code: FastCheck.string(), message: FastCheck.string() }) }).map((o) =>
    JSON.stringify(o)
  ),
  FastCheck.constantFrom(...VtError.apiErrorCodes).map((code) => JSON.stringify({ error: { code, message: "m" } }))
)

describe("VtError.fromResponse on any status and body", () => {
  it.prop("never throws, keeps the status and the body, and is one tagged API error", [statuses, bodies], ([s, b]) => {
    const error = VtError.fromResponse(s, b)
    return error.status === s && error.body === b && typeof error._tag === "string" &&
      (error._tag === "UnknownApiError" || VtError.apiErrorCodes.includes(error._tag))
  })

  it.prop("a documented code decodes to its own error whatever the status", [
    statuses,
    FastCheck.constantFrom(...VtError.apiErrorCodes)
  ], ([s, code]) => VtError.fromResponse(s, JSON.stringify({ error: { code, message: "x" } }))._tag === code)
})
