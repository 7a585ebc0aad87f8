import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as ReportKey from "../src/ReportKey.js"

// Independent statement of what a safe key is: no path can be built from it that leaves the store directory.
const isSafe = (s: string): boolean =>
  s.length >= 1 && s.length <= 200 && !s.startsWith(".") && !s.includes("/") && !s.includes("\\") &&
  !s.includes("\u0000") && !s.includes(":") && [...s].every((ch) => /[A-Za-z0-9._-]/.test(ch))

const hostile = [
  "",
  ".",
  "..",
  "../x",
  "..\\x",
  "a/b",
  "a\\b",
  "/etc/passwd",
  ".hidden",
  "x\u0000y",
  "x\ny",
  "a b",
  "C:x",
  "é",
  "x".repeat(201),
  "%2e%2e",
  "_not_found/x"
]

describe("ReportKey.make", () => {
  it("accepts ordinary keys unchanged", () => {
    for (
      const s of ["44d88612fea8a8f36de82e1278abb02f", "example.com", "1.2.3.4", "2001_db8__1", "a..b", "x".repeat(200)]
    ) {
      assert.deepStrictEqual(ReportKey.make(s), Either.right(s as ReportKey.ReportKey))
    }
  })

  it("rejects hostile inputs with an InvalidKeyError", () => {
    for (const s of hostile) {
      const result = ReportKey.make(s)
      assert.isTrue(Either.isLeft(result), JSON.stringify(s))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "InvalidKeyError")
        assert.strictEqual(result.left.input, s)
        assert.include(result.left.message, "invalid report key")
      }
    }
  })

  it("keeps error messages short and free of raw control characters", () => {
    const result = ReportKey.make("\u001b[31m" + "a".repeat(5000))
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.isBelow(result.left.message.length, 200)
      assert.notInclude(result.left.message, "\u001b")
    }
  })

  it("any string is either rejected or a safe key (property)", () => {
    const alphabet = fc.constantFrom(..."aZ09._-/\\:\u0000 \n%é".split(""))
    const arbitrary = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.string({ unit: alphabet, maxLength: 12 }),
      fc.string({ unit: alphabet, minLength: 195, maxLength: 205 })
    )
    fc.assert(
      fc.property(arbitrary, (s) => {
        const result = ReportKey.make(s)
        return Either.isLeft(result) ? !isSafe(s) : result.right === s && isSafe(s)
      }),
      { numRuns: 2000 }
    )
  })

  it("agrees with the Schema and the predicate", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 210 }), (s) => {
        const viaSchema = Either.isRight(Schema.decodeUnknownEither(ReportKey.ReportKey)(s))
        return viaSchema === Either.isRight(ReportKey.make(s)) && viaSchema === ReportKey.isReportKey(s)
      })
    )
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(ReportKey.ReportKey)("../x")))
  })
})

describe("ReportKey constructors", () => {
  it("fromFileHash lower-cases md5, sha1 and sha256", () => {
    const md5 = "44D88612FEA8A8F36DE82E1278ABB02F"
    const sha1 = "3395856CE81F2B7382DEE72602F798B642F14140"
    const sha256 = "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F"
    for (const hash of [md5, sha1, sha256]) {
      assert.deepStrictEqual(ReportKey.fromFileHash(hash), Either.right(hash.toLowerCase() as ReportKey.ReportKey))
    }
  })

  it("fromFileHash refuses what is not a hash", () => {
    for (const s of ["", "abc", "../44d88612fea8a8f36de82e1278abb02f", "g".repeat(32), "a".repeat(33)]) {
      assert.isTrue(Either.isLeft(ReportKey.fromFileHash(s)), s)
    }
  })

  it("fromDomain lower-cases and refuses unsafe names", () => {
    assert.deepStrictEqual(ReportKey.fromDomain("Example.COM"), Either.right("example.com" as ReportKey.ReportKey))
    assert.isTrue(Either.isLeft(ReportKey.fromDomain(".example.com")))
    assert.isTrue(Either.isLeft(ReportKey.fromDomain("a/b.com")))
  })

  it("fromIpAddress replaces ':' with '_'", () => {
    assert.deepStrictEqual(ReportKey.fromIpAddress("8.8.8.8"), Either.right("8.8.8.8" as ReportKey.ReportKey))
    assert.deepStrictEqual(
      ReportKey.fromIpAddress("2001:DB8::1"),
      Either.right("2001_db8__1" as ReportKey.ReportKey)
    )
    assert.isTrue(Either.isLeft(ReportKey.fromIpAddress("fe80::1%eth0/../x")))
  })

  it("fromUrl is the SHA-256 hex of the URL as listed", () => {
    const url = "http://www.example.com/path?q=1"
    assert.strictEqual(ReportKey.fromUrl(url), createHash("sha256").update(url).digest("hex"))
    assert.strictEqual(
      ReportKey.fromUrl(""),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    // "As listed": no normalisation, a trailing slash is a different URL.
    assert.notStrictEqual(ReportKey.fromUrl("http://a.com"), ReportKey.fromUrl("http://a.com/"))
  })

  it("fromUrl always yields a valid key (property)", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (url) => ReportKey.isReportKey(ReportKey.fromUrl(url))))
  })

  it("fromAnalysisId keeps URL-safe ids and maps base64 ids to unpadded base64url + .b64", () => {
    const file = "NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw=="
    assert.deepStrictEqual(
      ReportKey.fromAnalysisId(file),
      Either.right("NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw.b64" as ReportKey.ReportKey)
    )
    const url = `u-${"0123456789abcdef".repeat(4)}-1715100808`
    assert.deepStrictEqual(ReportKey.fromAnalysisId(url), Either.right(url as ReportKey.ReportKey))
    assert.deepStrictEqual(ReportKey.fromAnalysisId("ab+/cd=="), Either.right("ab-_cd.b64" as ReportKey.ReportKey))
    // Two ids that differ only in the alphabet stay apart.
    assert.notStrictEqual(
      Either.getOrThrow(ReportKey.fromAnalysisId("ab-_cdef")),
      Either.getOrThrow(ReportKey.fromAnalysisId("ab+/cdef"))
    )
    for (const bad of ["", "abcd=", "ab=c", "a.b", "../x", "ab-+cdef", "a b", "x".repeat(201), "a".repeat(197) + "="]) {
      assert.isTrue(Either.isLeft(ReportKey.fromAnalysisId(bad)), JSON.stringify(bad))
    }
  })

  it("fromAnalysisId is one to one, and toAnalysisId undoes it (property)", () => {
    const urlSafe = fc.stringMatching(/^[A-Za-z0-9_-]{1,150}$/)
    const base64 = fc.uint8Array({ minLength: 1, maxLength: 140 }).map((bytes) => Buffer.from(bytes).toString("base64"))
    fc.assert(
      fc.property(fc.oneof(urlSafe, base64), fc.oneof(urlSafe, base64), (a, b) => {
        const ka = Either.getOrThrow(ReportKey.fromAnalysisId(a))
        const kb = Either.getOrThrow(ReportKey.fromAnalysisId(b))
        return ReportKey.isReportKey(ka) && ReportKey.toAnalysisId(ka) === a && (a === b) === (ka === kb)
      }),
      { numRuns: 2000 }
    )
  })
})
