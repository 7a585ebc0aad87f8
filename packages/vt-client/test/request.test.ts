import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { gzipSync } from "node:zlib"
import * as internal from "../src/internal/request.js"

describe("makeScrub", () => {
  it("replaces the key in any case and URL-encoded, and only the key", () => {
    const scrub = internal.makeScrub("Ab.c*D/e+f")
    assert.strictEqual(scrub("x Ab.c*D/e+f y ab.C*d/E+F z"), "x <redacted> y <redacted> z")
    assert.strictEqual(scrub("/users/Ab.c*D%2Fe%2Bf/quotas"), "/users/<redacted>/quotas")
    assert.strictEqual(scrub("AbXcXD/e+f and Ab.c"), "AbXcXD/e+f and Ab.c")
  })

  it("a text without `%` or `\\` is scrubbed as the full pattern scrubs it (the search that skips the pattern)", () => {
    // A `%` at the end of a text can be part of no spelling (each `%` spelling has two hex digits after it): with it
    // the full pattern runs, and what it answers for the rest is the reference.
    const key = "Kab0f9"
    const scrub = internal.makeScrub(key)
    const reference = (text: string) => scrub(`${text}%`).slice(0, -1)
    // Letters of the key in both cases, the Kelvin sign (lower-cased to "k" by toLowerCase, never matched by the
    // pattern), the long s, and characters around them.
    const alphabet = ["K", "k", "\u212a", "a", "A", "b", "B", "0", "f", "F", "9", "\u017f", " ", "/", "x"]
    let seed = 7
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648)
    let redacted = 0
    for (let i = 0; i < 3000; i++) {
      const length = 1 + (next() % 14)
      const text = Array.from({ length }, () => alphabet[next() % alphabet.length]).join("") +
        (i % 5 === 0 ? key.toUpperCase() : "")
      const scrubbed = scrub(text)
      assert.strictEqual(scrubbed, reference(text), JSON.stringify(text))
      if (scrubbed !== text) redacted++
    }
    assert.isAtLeast(redacted, 600)
    assert.strictEqual(scrub("/users/\u212aab0f9/x"), "/users/\u212aab0f9/x")
    assert.strictEqual(scrub("/users/kAB0F9/x"), "/users/<redacted>/x")
    // A key beyond printable ASCII always goes through the pattern.
    assert.strictEqual(
      internal.makeScrub("\u00e9t\u00e9")("x \u00c9T\u00c9 %C3%A9t%c3%a9 y"),
      "x <redacted> <redacted> y"
    )
  })

  it("the key escaped more than once: a JSON string in a JSON string, a URL in a URL, up to three levels", () => {
    const key = "Zq+9/x\"y\\w&v=u%41<k>"
    const scrub = internal.makeScrub(key)
    const json = (text: string) => JSON.stringify(text).slice(1, -1)
    for (
      const text of [json(key), json(json(key)), json(json(json(key))), encodeURIComponent(encodeURIComponent(key))]
    ) {
      assert.strictEqual(scrub(`<${text}>`), "<<redacted>>", text)
    }
    // An error body as a server sends it: its message quotes the key as a JSON string.
    const body = JSON.stringify({ error: { code: "WrongCredentialsError", message: `bad key ${JSON.stringify(key)}` } })
    assert.notInclude(scrub(body), "Zq+9")
    assert.strictEqual(
      scrub(body),
      "{\"error\":{\"code\":\"WrongCredentialsError\",\"message\":\"bad key \\\"<redacted>\\\"\"}}"
    )
    // Runs of backslashes and percent signs as long as a body may be are scrubbed in one pass (no backtracking blow-up).
    assert.strictEqual(scrub("\\".repeat(1 << 20)).length, 1 << 20)
    assert.strictEqual(scrub("%25".repeat(1 << 18)).length, 3 << 18)
  })

  it("the key as base64 (either alphabet, at any offset in a longer text, wrapped) or as hex is scrubbed, with every character that carries its bits", () => {
    const key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    const scrub = internal.makeScrub(key)
    // Any 48 bytes of the key, as base64 at each of the three alignments, in either alphabet.
    const middles = [0, 1, 2, 5, 9, 13].flatMap((start) => {
      const bytes = Buffer.from(key.slice(start, start + 48))
      return [bytes.toString("base64"), bytes.toString("base64url")]
    })
    const wrap = (text: string, width: number, eol: string) => text.match(new RegExp(`.{1,${width}}`, "g"))!.join(eol)
    for (let offset = 0; offset < 3; offset++) {
      const prefix = "u:".slice(0, offset) + "xyz".slice(offset)
      for (const [suffix, encoding] of [["!", "base64"], ["", "base64url"]] as const) {
        const encoded = Buffer.from(`${prefix}${key}${suffix}`).toString(encoding)
        // The same text with the key's bytes all zero: what is left beside the redaction carries no bit of the key
        // if it reads the same there.
        const zeroed = Buffer.from(`${prefix}${"\u0000".repeat(key.length)}${suffix}`).toString(encoding)
        for (
          const wrapped of [
            encoded,
            wrap(encoded, 76, "\r\n"),
            wrap(encoded, 64, "\n"),
            wrap(encoded, 76, "\\n"),
            wrap(encoded, 76, "\\\\r\\\\n"),
            wrap(encoded, 4, " "),
            wrap(encoded, 76, "\",\n  \"")
          ]
        ) {
          const text = `echo: {"authorization":"Basic ${wrapped}"} end`
          const scrubbed = scrub(text)
          for (const middle of middles) assert.notInclude(scrubbed, middle, text)
          const match = /^echo: \{"authorization":"Basic ([^<]*)<redacted>([^<]*)"\} end$/.exec(scrubbed)
          assert.isNotNull(match, scrubbed)
          const [before, after] = [match![1], match![2]].map((part) => part.replace(/[^A-Za-z0-9+/=_-]/g, ""))
          assert.isTrue(zeroed.startsWith(before) && zeroed.endsWith(after), `${text} -> ${scrubbed}`)
        }
      }
    }
    const hex = Buffer.from(key).toString("hex")
    const pairs = hex.match(/../g)!
    for (
      const spelled of [
        hex,
        hex.toUpperCase(),
        pairs.join(":"),
        pairs.join(" "),
        pairs.map((p) => `\\x${p}`).join("")
      ]
    ) {
      assert.strictEqual(scrub(`a ${spelled} b`), "a <redacted> b", spelled)
    }
    // After words of hex letters, or numbers; before the key's base64 on the next line; in an xxd -p dump.
    const b64 = Buffer.from(`ab${key}`).toString("base64")
    for (
      const [text, expected] of [
        [`key received ${hex}`, "key received <redacted>"],
        [`Received ${hex.toUpperCase()}.`, "Received <redacted>."],
        [`code ${pairs.join("-")} end`, "code <redacted> end"],
        [`error 12 ${hex}`, "error 12 <redacted>"],
        [`hex ${pairs.join(":")}\n${b64}`, "hex <redacted>\nYW<redacted>"],
        [`dump:\n${hex.match(/.{1,60}/g)!.join("\n")}\nend`, "dump:\n<redacted>\nend"]
      ]
    ) {
      assert.strictEqual(scrub(text), expected, text)
    }
    // Only what carries the key goes: the words around it stay.
    const basic = Buffer.from(`u:${key}`).toString("base64")
    assert.strictEqual(
      scrub(`Basic ${basic}\r\nRequest-ID: 4f2a-99`),
      "Basic dT<redacted>\r\nRequest-ID: 4f2a-99"
    )
    assert.strictEqual(
      scrub(`"Bad credentials\\n${b64}\\nPlease check the key"`),
      `"Bad credentials\\nYW<redacted>\\nPlease check the key"`
    )
    // Texts without any of these forms are left alone: words, other base64 and hex, a report's hashes.
    for (
      const text of [
        "GET https://www.virustotal.com/api/v3/files/abc",
        `other ${Buffer.from("x".repeat(80)).toString("base64")} and ${"ab:".repeat(60)} ${"0".repeat(64)}`,
        "line one\nline two\r\n  line three"
      ]
    ) {
      assert.strictEqual(scrub(text), text)
    }
  })

  it("a short secret (a proxy's password) in a Basic credential is scrubbed too; a shorter form would match words", () => {
    const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString("base64")
    for (const user of ["a", "bob", "ann1", "alice", "carol1", "mallory"]) {
      const scrubbed = internal.makeScrub("hunter22")(`407: Proxy-Authorization: Basic ${basic(user, "hunter22")}`)
      // Left beside the redaction: only what the same credential with a password of zero bytes reads as well.
      const match = /^407: Proxy-Authorization: Basic ([A-Za-z0-9+/]*)<redacted>(=*)$/.exec(scrubbed)
      assert.isNotNull(match, scrubbed)
      assert.isTrue(basic(user, "\u0000".repeat(8)).startsWith(match![1]), scrubbed)
    }
    assert.strictEqual(internal.makeScrub("abc")("Basic YWxpY2U6YWJj"), "Basic YWxpY2U6YWJj")
  })

  it("bodies of a megabyte made of separators or near-misses are scrubbed as any other", () => {
    const key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    const scrub = internal.makeScrub(key)
    const encoded = Buffer.from(key).toString("base64")
    for (
      const body of [
        "QUJD\n".repeat(1 << 18),
        "a\n \n \t\n".repeat(1 << 17),
        "ab:".repeat(1 << 19),
        "\\n".repeat(1 << 19),
        `${encoded.slice(0, 80)}\n`.repeat(1 << 13)
      ]
    ) {
      assert.strictEqual(scrub(body), body)
      assert.strictEqual(scrub(`${body}| ${encoded} |`), `${body}| <redacted>== |`)
    }
  })

  it("an empty key scrubs nothing", () => {
    assert.strictEqual(internal.makeScrub("")("unchanged"), "unchanged")
  })
})

describe("body helpers", () => {
  it.effect("decompress: gzip by its magic bytes, anything else untouched", () =>
    Effect.gen(function*() {
      const json = new TextEncoder().encode("{\"data\":1}")
      const decompress = (bytes: Uint8Array) => internal.decompress(bytes, 1024 * 1024, 200)
      assert.deepStrictEqual(yield* decompress(new Uint8Array(gzipSync(json))), json)
      assert.strictEqual(yield* decompress(json), json)
      const empty = new Uint8Array(0)
      assert.strictEqual(yield* decompress(empty), empty)
      const error = yield* Effect.flip(decompress(new Uint8Array([0x1f, 0x8b, 0, 0])))
      assert.strictEqual(error._tag, "Gzip")
    }))

  it.effect("decompress: bounded by size and by ratio, without inflating past the bound", () =>
    Effect.gen(function*() {
      const bomb = new Uint8Array(gzipSync(Buffer.alloc(32 * 1024 * 1024, 0x20)))
      const byRatio = yield* Effect.flip(internal.decompress(bomb, 64 * 1024 * 1024, 200))
      assert.deepStrictEqual([byRatio._tag, byRatio._tag === "Bound" && byRatio.reason], ["Bound", "Compression"])
      const bySize = yield* Effect.flip(internal.decompress(bomb, 1024 * 1024, 1_000_000))
      assert.deepStrictEqual([bySize._tag, bySize._tag === "Bound" && bySize.reason], ["Bound", "TooLarge"])
      const plain = yield* Effect.flip(internal.decompress(new Uint8Array(2048), 1024, 200))
      assert.deepStrictEqual([plain._tag, plain._tag === "Bound" && plain.reason], ["Bound", "TooLarge"])
    }))

  it("makeScrub: the key in any spelling a URL or a JSON string allows, never part of the text around it", () => {
    const key = "Ab\"c\\d/e-F"
    const scrub = internal.makeScrub(key)
    for (
      const text of [
        key,
        key.toLowerCase(),
        JSON.stringify(key).slice(1, -1),
        encodeURIComponent(key),
        "\\u0041b\\\"c\\\\d\\/e-f",
        "%41b%22c%5Cd%2fe%2DF"
      ]
    ) {
      assert.strictEqual(scrub(`<${text}>`), "<<redacted>>", text)
    }
    assert.strictEqual(internal.makeScrub("x")("no key here"), "no key here")
  })

  it("unsafeTarget: only the API's origins, scheme and port included", () => {
    const origins = new Set(["https://www.virustotal.com"])
    assert.isUndefined(internal.unsafeTarget("https://www.virustotal.com/_ah/upload/x", origins))
    assert.isString(internal.unsafeTarget("http://www.virustotal.com/_ah/upload/x", origins))
    assert.isString(internal.unsafeTarget("https://www.virustotal.com:8443/x", origins))
    assert.isString(internal.unsafeTarget("https://evil.example/x", origins))
    assert.isString(internal.unsafeTarget("https://www.virustotal.com.evil.example/x", origins))
    assert.isString(internal.unsafeTarget("not a url", origins))
  })

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

describe("describeParseError", () => {
  it("names where and what, at most three places, never the schema's whole type", async () => {
    const Schema = await import("effect/Schema")
    const { describeParseError } = await import("../src/internal/parseError.js")
    const Stats = Schema.Struct({ malicious: Schema.Number, harmless: Schema.Number })
    const Document = Schema.Struct({ data: Schema.Struct({ attributes: Schema.Struct({ stats: Stats }) }) })
    const decode = Schema.decodeUnknownEither(Document, { errors: "all" })
    const bad = decode({ data: { attributes: { stats: { malicious: "7", harmless: null } } } })
    assert.isTrue(bad._tag === "Left")
    const text = bad._tag === "Left" ? describeParseError(bad.left) : ""
    assert.strictEqual(
      text,
      "at data.attributes.stats.malicious: Expected number, actual \"7\"; " +
        "at data.attributes.stats.harmless: Expected number, actual null"
    )
    const notObject = decode({ data: null })
    assert.strictEqual(
      notObject._tag === "Left" ? describeParseError(notObject.left) : "",
      "at data: Expected an object, actual null"
    )
    assert.notInclude(text, "readonly")
  })
})

describe("boundedStream", () => {
  const chunks = (size: number, every: Duration.DurationInput, count: number) =>
    Stream.repeatEffect(Effect.as(Effect.sleep(every), new Uint8Array(size))).pipe(Stream.take(count))
  const run = (body: Stream.Stream<Uint8Array>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Stream.runCount(internal.boundedStream(body, 200, "GET x", 1024 * 1024 * 1024, Duration.seconds(10)))
      )
      yield* TestClock.adjust("10 minutes")
      return yield* Fiber.join(fiber).pipe(Effect.either)
    })

  it.effect("a body that trickles (a byte a second, never a pause of the idle timeout) is abandoned", () =>
    Effect.gen(function*() {
      const trickle = yield* run(chunks(1, "1 second", 600))
      assert.isTrue(Either.isLeft(trickle))
      if (Either.isLeft(trickle)) {
        assert.strictEqual(trickle.left._tag, "TransportError")
        assert.include(trickle.left.message, `less than ${internal.minBytesPerIdle / 1024} KiB in 10s`)
      }
      // 64 KiB a window and more is slow, not stuck: read to its end.
      const slow = yield* run(chunks(8 * 1024, "1 second", 120))
      assert.deepStrictEqual(slow, Either.right(120))
    }))
})
