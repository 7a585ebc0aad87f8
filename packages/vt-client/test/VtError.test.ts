import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as VtError from "../src/VtError.js"

const document = (code: string, message: string) => JSON.stringify({ error: { code, message } })

// Every documented code, the status VirusTotal pairs it with, and the class it must decode to.
type ApiErrorClass = new(props: { status: number; code: string; message: string; body: string }) => VtError.ApiError

const table: ReadonlyArray<readonly [code: string, status: number, Class: ApiErrorClass]> = [
  ["BadRequestError", 400, VtError.BadRequestError],
  ["InvalidArgumentError", 400, VtError.InvalidArgumentError],
  ["NotAvailableYet", 400, VtError.NotAvailableYet],
  ["UnselectiveContentQueryError", 400, VtError.UnselectiveContentQueryError],
  ["UnsupportedContentQueryError", 400, VtError.UnsupportedContentQueryError],
  ["AuthenticationRequiredError", 401, VtError.AuthenticationRequiredError],
  ["UserNotActiveError", 401, VtError.UserNotActiveError],
  ["WrongCredentialsError", 401, VtError.WrongCredentialsError],
  ["ForbiddenError", 403, VtError.ForbiddenError],
  ["NotFoundError", 404, VtError.NotFoundError],
  ["AlreadyExistsError", 409, VtError.AlreadyExistsError],
  ["FailedDependencyError", 424, VtError.FailedDependencyError],
  ["QuotaExceededError", 429, VtError.QuotaExceededError],
  ["TooManyRequestsError", 429, VtError.TooManyRequestsError],
  ["TransientError", 503, VtError.TransientError],
  ["DeadlineExceededError", 504, VtError.DeadlineExceededError]
]

describe("fromResponse", () => {
  it("the table covers every documented code", () => {
    assert.deepStrictEqual([...VtError.apiErrorCodes].sort(), table.map(([code]) => code).sort())
  })

  for (const [code, status, Class] of table) {
    it(`decodes ${code} (${status}) to its own error`, () => {
      const body = document(code, `a ${code} happened`)
      const error = VtError.fromResponse(status, body)
      assert.instanceOf(error, Class)
      assert.strictEqual(error._tag, code)
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.code, code)
      assert.strictEqual(error.message, `a ${code} happened`)
      assert.strictEqual(error.body, body)
      // Other codes' predicates and tags stay apart.
      assert.strictEqual(table.filter(([, , Other]) => error instanceof Other).length, 1)
    })
  }

  it("trusts the code over the status", () => {
    const error = VtError.fromResponse(500, document("NotFoundError", "File \"x\" not found"))
    assert.instanceOf(error, VtError.NotFoundError)
    assert.strictEqual(error.status, 500)
  })

  it("keeps the body exactly as received, whitespace and extra fields included", () => {
    const body =
      "{ \"error\" : { \"code\" : \"NotFoundError\", \"message\" : \"File \\\"abc\\\" not found\", \"x\": 1 } }\n"
    const error = VtError.fromResponse(404, body)
    assert.instanceOf(error, VtError.NotFoundError)
    assert.strictEqual(error.body, body)
    assert.strictEqual(error.message, "File \"abc\" not found")
  })

  it("an undocumented code gives UnknownApiError carrying the code", () => {
    const error = VtError.fromResponse(418, document("TeapotError", "short and stout"))
    assert.instanceOf(error, VtError.UnknownApiError)
    assert.strictEqual(error.code, "TeapotError")
    assert.strictEqual(error.message, "short and stout")
  })

  it("a missing message falls back to the status", () => {
    const error = VtError.fromResponse(404, "{\"error\":{\"code\":\"NotFoundError\"}}")
    assert.instanceOf(error, VtError.NotFoundError)
    assert.strictEqual(error.message, "HTTP 404")
  })

  it("without an error document, only retry-relevant statuses are synthesised", () => {
    const html = "<html><body>502 Bad Gateway</body></html>"
    const cases: ReadonlyArray<readonly [number, string, string]> = [
      [429, "", "QuotaExceededError"],
      [429, html, "QuotaExceededError"],
      [502, html, "TransientError"],
      [503, "", "TransientError"],
      [503, "Service Unavailable", "TransientError"],
      [504, html, "DeadlineExceededError"],
      [404, html, "UnknownApiError"],
      [401, "", "UnknownApiError"],
      [403, html, "UnknownApiError"],
      [500, "{\"error\":\"boom\"}", "UnknownApiError"],
      [400, "{\"error\":{\"code\":\"\"}}", "UnknownApiError"],
      [400, "{\"error\":{\"code\":42}}", "UnknownApiError"],
      [404, "[]", "UnknownApiError"],
      [404, "null", "UnknownApiError"],
      [404, "{\"error\":{\"code\":\"NotFoundErr", "UnknownApiError"]
    ]
    for (const [status, body, tag] of cases) {
      const error = VtError.fromResponse(status, body)
      assert.strictEqual(error._tag, tag, `${status} ${body}`)
      assert.strictEqual(error.code, "")
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.body, body)
      assert.include(error.message, `HTTP ${status}`)
    }
  })

  it("errors are Schema values that encode and decode", () => {
    const error = VtError.fromResponse(404, document("NotFoundError", "nope"))
    const encoded = Schema.encodeSync(VtError.NotFoundError)(error as VtError.NotFoundError)
    assert.deepStrictEqual(encoded, {
      _tag: "NotFoundError",
      status: 404,
      code: "NotFoundError",
      message: "nope",
      body: document("NotFoundError", "nope")
    })
    assert.deepStrictEqual(Schema.decodeUnknownSync(VtError.NotFoundError)(encoded), error)
  })
})

describe("predicates", () => {
  const api = (code: string, status: number) => VtError.fromResponse(status, document(code, code))
  const transport = new VtError.TransportError({ reason: "Connection", message: "reset" })
  const decode = new VtError.ResponseDecodeError({ status: 200, message: "truncated" })
  const invalid = new VtError.InvalidIdError({ kind: "file", input: "x", message: "invalid" })
  const unknown = VtError.fromResponse(418, "")

  const all: ReadonlyArray<VtError.VtError> = [
    ...table.map(([code, status]) => api(code, status)),
    unknown,
    transport,
    decode,
    invalid
  ]
  const tagsWhere = (predicate: (e: VtError.VtError) => boolean) => all.filter(predicate).map((e) => e._tag).sort()

  it("isQuotaExceeded: the 429 QuotaExceededError only", () => {
    assert.deepStrictEqual(tagsWhere(VtError.isQuotaExceeded), ["QuotaExceededError"])
  })

  it("isTransient: 429 TooManyRequests, 503, 504, transport and decoding failures", () => {
    assert.deepStrictEqual(tagsWhere(VtError.isTransient), [
      "DeadlineExceededError",
      "ResponseDecodeError",
      "TooManyRequestsError",
      "TransientError",
      "TransportError"
    ])
  })

  it("isAuthFailure: the 401 codes and 403", () => {
    assert.deepStrictEqual(tagsWhere(VtError.isAuthFailure), [
      "AuthenticationRequiredError",
      "ForbiddenError",
      "UserNotActiveError",
      "WrongCredentialsError"
    ])
  })

  it("isNotFound: the 404 NotFoundError only", () => {
    assert.deepStrictEqual(tagsWhere(VtError.isNotFound), ["NotFoundError"])
  })

  it("the classes never overlap", () => {
    for (const e of all) {
      const hits = [VtError.isQuotaExceeded, VtError.isTransient, VtError.isAuthFailure, VtError.isNotFound]
        .filter((p) => p(e)).length
      assert.isAtMost(hits, 1, e._tag)
    }
  })

  it("isAuthFailure: any 401 or 403, whatever the body (a proxy's HTML page included)", () => {
    const page = "<html><body>Proxy Authentication Required</body></html>"
    for (const status of [401, 403]) {
      for (const body of [page, "", document("NotFoundError", "odd"), document("SomethingNew", "x")]) {
        assert.isTrue(VtError.isAuthFailure(VtError.fromResponse(status, body)), `${status} ${body}`)
      }
    }
    assert.isFalse(VtError.isAuthFailure(VtError.fromResponse(404, page)))
  })

  it("isTransient and isFatal: TLS failures and refused targets are not worth another try", () => {
    const tls = new VtError.TransportError({ reason: "Tls", message: "self-signed certificate" })
    const unsafe = new VtError.TransportError({ reason: "UnsafeTarget", message: "another origin" })
    assert.isFalse(VtError.isTransient(tls))
    assert.isFalse(VtError.isTransient(unsafe))
    assert.isTrue(VtError.isTlsFailure(tls))
    assert.isTrue(VtError.isFatal(tls))
    assert.isFalse(VtError.isFatal(unsafe))
    assert.isTrue(VtError.isFatal(api("WrongCredentialsError", 401)))
    assert.isFalse(VtError.isFatal(transport))
  })

  it("fromResponse decodes the body before redacting it: a key inside an error code changes nothing", () => {
    const redact = (text: string) => text.replaceAll("x", "<redacted>")
    const error = VtError.fromResponse(429, document("QuotaExceededError", "quota x"), redact)
    assert.strictEqual(error._tag, "QuotaExceededError")
    assert.strictEqual(error.code, "QuotaExceededError")
    assert.strictEqual(error.message, "quota <redacted>")
    assert.notInclude(error.body, "x")
  })

  it("accept any value", () => {
    assert.isFalse(VtError.isTransient(new Error("x")))
    assert.isFalse(VtError.isNotFound({ _tag: "NotFoundError" }))
    assert.isFalse(VtError.isAuthFailure(undefined))
  })
})
