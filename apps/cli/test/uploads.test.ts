import { describe, expect, it } from "vitest"
import * as Uploads from "../src/internal/uploads.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const id = Buffer.from(`${"a".repeat(32)}:1700000000`).toString("base64")

describe("the record of an upload or a submission", () => {
  it("reads back what it writes", () => {
    for (
      const [sent, status] of [["uploaded", "uploaded"], ["uploaded", "completed"], ["submitted", "submitted"], [
        "submitted",
        "completed"
      ]] as const
    ) {
      expect(Uploads.decode(Uploads.encode({ analysisId: id, status }), sent)).toEqual({ analysisId: id, status })
    }
    // Each store has its own word for what was sent: an upload's record is no submission's, and the other way round.
    expect(Uploads.decode(Uploads.encode({ analysisId: id, status: "uploaded" }), "submitted")).toBeUndefined()
    expect(Uploads.decode(Uploads.encode({ analysisId: id, status: "submitted" }), "uploaded")).toBeUndefined()
    expect(new TextDecoder().decode(Uploads.encode({ analysisId: id, status: "uploaded" }))).toBe(
      `{"analysis_id":"${id}","status":"uploaded"}\n`
    )
  })

  it("is not one when anything in it is off: the id is checked as the upload's answer was", () => {
    for (
      const text of [
        "",
        "not json",
        "[]",
        "null",
        JSON.stringify({ status: "uploaded" }),
        JSON.stringify({ analysis_id: 42, status: "uploaded" }),
        JSON.stringify({ analysis_id: id, status: "queued" }),
        JSON.stringify({ analysis_id: id, status: "Submitted" }),
        JSON.stringify({ analysis_id: id, status: ["submitted"] }),
        JSON.stringify({ analysis_id: id, status: "Uploaded" }),
        JSON.stringify({ analysis_id: id }),
        JSON.stringify({ analysis_id: "../../etc/passwd", status: "uploaded" }),
        JSON.stringify({ analysis_id: "short", status: "uploaded" }),
        JSON.stringify({ analysis_id: `${id}\u001b]0;x\u0007`, status: "uploaded" }),
        JSON.stringify({ analysis_id: "x".repeat(10_000), status: "uploaded" })
      ]
    ) {
      for (const sent of ["uploaded", "submitted"] as const) {
        expect(Uploads.decode(bytes(text), sent), text).toBeUndefined()
      }
    }
    // Not UTF-8.
    expect(Uploads.decode(new Uint8Array([0x7b, 0xff, 0x7d]), "uploaded")).toBeUndefined()
  })
})
