import { assert, describe, it } from "@effect/vitest"
import * as ReportSinkPg from "../src/ReportSinkPg.js"

describe("ReportSinkPg.isTransient", () => {
  it("judges the cause of the failure a retry schedule is fed: a lost connection is, a wrong password is not", () => {
    const failure = (cause: unknown) => ({ _tag: "SinkError", message: "x", cause })
    assert.isTrue(ReportSinkPg.isTransient(failure({ code: "08006" })))
    assert.isTrue(ReportSinkPg.isTransient(failure({ code: "57P01" })))
    assert.isTrue(ReportSinkPg.isTransient(failure({ code: "ECONNREFUSED" })))
    // A server that stops answering (hung, not gone): the driver's query_timeout. Writes are idempotent: asked again.
    assert.isTrue(ReportSinkPg.isTransient(failure(new Error("Query read timeout"))))
    assert.isFalse(ReportSinkPg.isTransient(failure({ code: "28P01" })))
    assert.isFalse(ReportSinkPg.isTransient(failure({ code: "42P01" })))
    assert.isFalse(ReportSinkPg.isTransient(failure(undefined)))
    assert.isFalse(ReportSinkPg.isTransient(undefined))
  })
})
