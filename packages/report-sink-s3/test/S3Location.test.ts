import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { S3Location } from "../src/index.js"

const ok = (url: string) => Either.getOrThrow(S3Location.parse(url))
const problem = (url: string) => {
  const result = S3Location.parse(url)
  assert.isTrue(Either.isLeft(result), url)
  return Either.isLeft(result) ? result.left.message : ""
}

describe("S3Location.parse", () => {
  it("reads a bucket and a prefix", () => {
    assert.deepStrictEqual(ok("s3://my-bucket/vt/reports"), { bucket: "my-bucket", prefix: "vt/reports" })
    assert.deepStrictEqual(ok("s3://my-bucket/reports"), { bucket: "my-bucket", prefix: "reports" })
    assert.deepStrictEqual(ok("s3://my.bucket.2024"), { bucket: "my.bucket.2024", prefix: "" })
    assert.deepStrictEqual(ok("S3://abc/x y/ü"), { bucket: "abc", prefix: "x y/ü" })
  })

  it("drops one trailing slash", () => {
    assert.deepStrictEqual(ok("s3://abc/"), { bucket: "abc", prefix: "" })
    assert.deepStrictEqual(ok("s3://abc/p/q/"), { bucket: "abc", prefix: "p/q" })
  })

  it("refuses what is not s3://bucket/prefix", () => {
    for (const url of ["", "abc", "/tmp/out", "s3:/abc", "https://abc/p", "s3://"]) problem(url)
    assert.include(problem("gs://abc/p"), "expected s3://bucket/prefix")
  })

  it("applies S3's bucket naming rules", () => {
    const bad = [
      "ab",
      "a".repeat(64),
      "My-Bucket",
      "my_bucket",
      "-abc",
      "abc-",
      ".abc",
      "a..b",
      "192.168.5.4",
      "xn--abc",
      "sthree-abc",
      "amzn-s3-demo-abc",
      "abc-s3alias",
      "abc--ol-s3",
      "abc.mrap",
      "abc--x-s3",
      "abc--table-s3",
      "ab c"
    ]
    for (const bucket of bad) assert.isDefined(S3Location.bucketNameProblem(bucket), bucket)
    for (const bucket of ["abc", "a".repeat(63), "my-bucket.v2", "1bucket", "192.168.5.4.x"]) {
      assert.isUndefined(S3Location.bucketNameProblem(bucket), bucket)
    }
    assert.include(problem("s3://Bad/p"), "invalid S3 location \"s3://Bad/p\": a bucket name has only lower-case")
  })

  it("refuses prefixes that could escape or are ambiguous", () => {
    for (
      const url of [
        "s3://abc//p",
        "s3://abc/p//",
        "s3://abc/a//b",
        "s3://abc/..",
        "s3://abc/a/../b",
        "s3://abc/./a",
        "s3://abc/a/.",
        "s3://abc/a\\b",
        "s3://abc/a\u0000b",
        "s3://abc/a\nb",
        `s3://abc/${"x".repeat(801)}`
      ]
    ) {
      problem(url)
    }
    assert.deepStrictEqual(ok(`s3://abc/${"x".repeat(800)}`).prefix.length, 800)
    assert.deepStrictEqual(ok("s3://abc/a..b/.c/d."), { bucket: "abc", prefix: "a..b/.c/d." })
  })
})

describe("S3Location.make / format / objectKey", () => {
  it("checks as given, without dropping slashes", () => {
    assert.isTrue(Either.isRight(S3Location.make({ bucket: "abc", prefix: "p/q" })))
    assert.isTrue(Either.isLeft(S3Location.make({ bucket: "abc", prefix: "p/" })))
    assert.isTrue(Either.isLeft(S3Location.make({ bucket: "abc", prefix: "/p" })))
  })

  it("formats and joins keys", () => {
    assert.strictEqual(S3Location.format({ bucket: "abc", prefix: "" }), "s3://abc")
    assert.strictEqual(S3Location.format({ bucket: "abc", prefix: "p/q" }), "s3://abc/p/q")
    assert.strictEqual(S3Location.objectKey({ bucket: "abc", prefix: "" }, "k.json"), "k.json")
    assert.strictEqual(S3Location.objectKey({ bucket: "abc", prefix: "p/q" }, "k.json"), "p/q/k.json")
    for (const url of ["s3://abc", "s3://abc/p", "s3://abc/p/q r"]) assert.strictEqual(S3Location.format(ok(url)), url)
  })
})
