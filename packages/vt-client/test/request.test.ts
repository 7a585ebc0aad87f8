import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { gzipSync } from "node:zlib"
import * as internal from "../src/internal/request.js"

describe("makeScrub", () => {
  it("replaces the key in any case and URL-encoded, and only the key", () => {
    const scrub = internal.makeScrub("Ab.c*D/e+f")
    assert.strictEqual(scrub("x Ab.c*D/e+f y ab.C*d/E+F z"), "x <redacted> y <redacted> z")
    assert.strictEqual(scrub("/users/Ab.c*D%2Fe%2Bf/quotas"), "/users/<redacted>/quotas")
    assert.strictEqual(scrub("AbXcXD/e+f and Ab.c"), "AbXcXD/e+f and Ab.c")
  })

  it("an empty key scrubs nothing", () => {
    assert.strictEqual(internal.makeScrub("")("unchanged"), "unchanged")
  })
})

describe("body helpers", () => {
  it.effect("decompress: gzip by its magic bytes, anything else untouched", () =>
    Effect.gen(function*() {
      const json = new TextEncoder().encode("{\"data\":1}")
      assert.deepStrictEqual(yield* internal.decompress(new Uint8Array(gzipSync(json))), json)
      assert.strictEqual(yield* internal.decompress(json), json)
      const empty = new Uint8Array(0)
      assert.strictEqual(yield* internal.decompress(empty), empty)
      const error = yield* Effect.flip(internal.decompress(new Uint8Array([0x1f, 0x8b, 0, 0])))
      assert.instanceOf(error, Error)
    }))

  it("parseJson explains why a body is unusable", () => {
    const bytes = (text: string) => new TextEncoder().encode(text)
    assert.deepStrictEqual(internal.parseJson(bytes("{\"a\":[1]}")), Either.right({ a: [1] }))
    assert.deepStrictEqual(internal.parseJson(bytes(" ")), Either.left("the body is empty"))
    assert.deepStrictEqual(internal.parseJson(new Uint8Array([0xc3, 0x28])), Either.left("the body is not UTF-8 text"))
    assert.isTrue(Either.isLeft(internal.parseJson(bytes("{"))))
  })

  it("checkEnvelope keeps the parsed document itself", () => {
    const json = { data: { type: "file", id: "x", attributes: { a: 1 }, links: { self: "s" } }, meta: {} }
    const result = internal.checkEnvelope(json)
    assert.isTrue(Either.isRight(result) && result.right === json)
    assert.isTrue(Either.isLeft(internal.checkEnvelope({ data: { type: "file", id: "x", attributes: null } })))
  })
})
