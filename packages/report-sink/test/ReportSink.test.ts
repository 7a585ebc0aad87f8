import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ReportSink from "../src/ReportSink.js"
import { contract } from "./contract.js"
import { makeStore } from "./memorySink.js"

contract("memory", Effect.sync(makeStore))

describe("isPendingPresence", () => {
  it("absent is always pending", () => {
    for (const retryNotFound of [false, true]) {
      for (const overwrite of [false, true]) {
        assert.isTrue(ReportSink.isPendingPresence("absent", { retryNotFound, overwrite }))
      }
    }
  })

  it("saved is pending only with overwrite", () => {
    assert.isFalse(ReportSink.isPendingPresence("saved", { retryNotFound: true, overwrite: false }))
    assert.isTrue(ReportSink.isPendingPresence("saved", { retryNotFound: false, overwrite: true }))
  })

  it("not-found is pending with retryNotFound or overwrite", () => {
    assert.isFalse(ReportSink.isPendingPresence("not-found", { retryNotFound: false, overwrite: false }))
    assert.isTrue(ReportSink.isPendingPresence("not-found", { retryNotFound: true, overwrite: false }))
    assert.isTrue(ReportSink.isPendingPresence("not-found", { retryNotFound: false, overwrite: true }))
  })
})

describe("SinkError", () => {
  it("is a tagged, yieldable error carrying its fields", () => {
    const error = new ReportSink.SinkError({ operation: "put", key: "k", message: "cannot write /x/k.json" })
    assert.strictEqual(error._tag, "SinkError")
    assert.strictEqual(error.message, "cannot write /x/k.json")
    assert.strictEqual(error.key, "k")
  })
})
