// The byte scanner that checks object answers without parsing them: it must accept exactly what JSON.parse of the
// strictly decoded text accepts, and find the same envelope.
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import * as Json from "../src/internal/json.js"
import * as internal from "../src/internal/request.js"

const encoder = new TextEncoder()
const bytes = (text: string) => encoder.encode(text)

/** The reference: strict UTF-8 decoding, then JSON.parse, then the envelope check on the parsed value. */
const reference = (input: Uint8Array): { readonly valid: boolean; readonly problem: string | undefined } => {
  const parsed = internal.parseJson(input)
  if (Either.isLeft(parsed)) return { valid: false, problem: undefined }
  const envelope = internal.checkEnvelope(parsed.right)
  return { valid: true, problem: Either.isLeft(envelope) ? envelope.left : undefined }
}

const agrees = (input: Uint8Array) => {
  const expected = reference(input)
  const scanned = Json.scan(input)
  assert.strictEqual(scanned._tag === "Valid", expected.valid, new TextDecoder().decode(input).slice(0, 200))
  if (scanned._tag === "Valid") {
    assert.strictEqual(Json.envelopeProblem(scanned.envelope), expected.problem)
    assert.strictEqual(internal.objectProblem(input), expected.problem)
  } else {
    assert.isDefined(internal.objectProblem(input))
  }
}

/** Changes one byte, drops one, or cuts the text: near-misses of valid JSON. */
const mutated = fc.tuple(fc.json({ maxDepth: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(2)).map(
  ([text, at, byte, how]) => {
    const input = bytes(text)
    if (input.length === 0) return input
    const i = at % input.length
    if (how === 0) {
      const copy = input.slice()
      copy[i] = byte
      return copy
    }
    if (how === 1) return new Uint8Array([...input.subarray(0, i), ...input.subarray(i + 1)])
    return input.subarray(0, i)
  }
)

const envelopeLike = fc.record({
  data: fc.oneof(
    fc.record({
      type: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      id: fc.oneof(fc.string(), fc.boolean()),
      attributes: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), fc.array(fc.integer())),
      links: fc.dictionary(fc.string(), fc.string())
    }, { requiredKeys: [] }),
    fc.jsonValue({ maxDepth: 2 })
  ),
  meta: fc.jsonValue({ maxDepth: 2 })
}, { requiredKeys: [] })

describe("Json.scan", () => {
  it("agrees with JSON.parse on any JSON text, pretty-printed or not", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, pretty) => {
        agrees(bytes(JSON.stringify(value, null, pretty ? 2 : undefined) ?? "null"))
      }),
      { numRuns: 2000 }
    )
  })

  it("agrees with JSON.parse on near-misses of JSON", () => {
    fc.assert(fc.property(mutated, agrees), { numRuns: 5000 })
  })

  it("agrees with JSON.parse on arbitrary text and bytes", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => agrees(bytes(text))), {
      numRuns: 3000
    })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), agrees), { numRuns: 3000 })
  })

  it("finds the envelope where JSON.parse does, duplicates and escapes included", () => {
    fc.assert(fc.property(envelopeLike, (value) => agrees(bytes(JSON.stringify(value)))), { numRuns: 3000 })
    const cases = [
      "{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}}}",
      "{\"d\\u0061ta\":{\"typ\\u0065\":\"f\\u0069le\",\"id\":\"\\u0078\",\"attributes\":{}}}",
      "{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}},\"data\":[]}",
      "{\"data\":[],\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}}}",
      "{\"data\":{\"type\":1,\"type\":\"file\",\"id\":\"x\",\"attributes\":[],\"attributes\":{}}}",
      "{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{},\"id\":null}}",
      "{\"x\":{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}}}}",
      "[{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}}}]",
      "{\"data\":{\"x\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}}}}",
      "\ufeff{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{}}}",
      " \t\r\n{ \"data\" : { \"type\" : \"file\" , \"id\" : \"x\" , \"attributes\" : { } } } \n",
      "{}",
      "{\"data\":{}}"
    ]
    for (const text of cases) agrees(bytes(text))
    const scanned = Json.scan(bytes(cases[1]))
    assert.deepStrictEqual(scanned, {
      _tag: "Valid",
      envelope: { dataIsObject: true, type: "file", id: "x", attributesIsObject: true }
    })
  })

  it("refuses what JSON refuses", () => {
    const refused = [
      "",
      " ",
      "{",
      "{\"a\":1,}",
      "[1,]",
      "01",
      "1.",
      ".5",
      "+1",
      "-",
      "1e",
      "\"\\x\"",
      "\"\\u12G4\"",
      "\"a\u0001b\"",
      "nul",
      "tru",
      "{\"a\" 1}",
      "{1:2}",
      "[1 2]",
      "{\"a\":1}x",
      "{\"a\":1}{}",
      "\"abc",
      "[\"a\\\"]"
    ]
    for (const text of refused) {
      assert.strictEqual(Json.scan(bytes(text))._tag, "Invalid", text)
      agrees(bytes(text))
    }
    assert.deepStrictEqual(Json.scan(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])), {
      _tag: "Invalid",
      reason: "the body is not UTF-8 text"
    })
  })

  it("refuses nesting deeper than its limit instead of overflowing", () => {
    const deep = (n: number) => bytes("[".repeat(n) + "1" + "]".repeat(n))
    assert.strictEqual(Json.scan(deep(Json.maxDepth))._tag, "Valid")
    const tooDeep = Json.scan(deep(Json.maxDepth + 1))
    assert.strictEqual(tooDeep._tag, "Invalid")
    assert.include((tooDeep as { reason: string }).reason, "nests deeper")
    assert.strictEqual(Json.scan(deep(200_000))._tag, "Invalid")
  })

  it("lazyDocument parses data once, on first read", () => {
    const raw = bytes("{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":{\"size\":1}}}")
    const document = internal.lazyDocument(raw)
    assert.strictEqual(document.raw, raw)
    const first = document.data
    assert.strictEqual(first.id, "x")
    assert.deepStrictEqual(first.attributes, { size: 1 })
    assert.strictEqual(document.data, first)
  })
})
