import { assert, describe, it } from "@effect/vitest"
import * as ReportSinkS3 from "../src/ReportSinkS3.js"

describe("ReportSinkS3.isTransient", () => {
  it("an outage is, an answer is not: 5xx but 501, 408, 429, connections refused or reset; not 4xx, not 501", () => {
    const status = (code: number) => ({ $metadata: { httpStatusCode: code } })
    for (const code of [500, 502, 503, 504, 408, 429]) assert.isTrue(ReportSinkS3.isTransient(status(code)), `${code}`)
    for (const code of [400, 403, 404, 501]) assert.isFalse(ReportSinkS3.isTransient(status(code)), `${code}`)
    assert.isTrue(ReportSinkS3.isTransient({ code: "ECONNREFUSED" }))
    assert.isTrue(ReportSinkS3.isTransient({ code: "ECONNRESET" }))
    assert.isFalse(ReportSinkS3.isTransient(new Error("Could not load credentials")))
  })
})
