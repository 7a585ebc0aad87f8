/**
 * The errors a VirusTotal request can end with, and the predicates the retry policy is built on.
 *
 * VirusTotal answers every failure with `{"error":{"code":"<Code>","message":"<text>"}}`; each code
 * becomes its own tagged error so callers can `Effect.catchTag` the one they care about.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const apiErrorFields = {
  /** The HTTP status of the answer. */
  status: Schema.Number,
  /** The `error.code` VirusTotal sent, or `""` when the body was not an error document. */
  code: Schema.String,
  message: Schema.String,
  /** The error document as received (decompressed text), for logs and not-found records. */
  body: Schema.String
}

/**
 * 400: the request is malformed.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequestError extends Schema.TaggedError<BadRequestError>()("BadRequestError", apiErrorFields) {}

/**
 * 400: an argument (for example an id) is not valid.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgumentError
  extends Schema.TaggedError<InvalidArgumentError>()("InvalidArgumentError", apiErrorFields)
{}

/**
 * 400: the resource exists but is not ready yet (an analysis still running); worth asking again later.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotAvailableYet extends Schema.TaggedError<NotAvailableYet>()("NotAvailableYet", apiErrorFields) {}

/**
 * 400: a content search query is not selective enough.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnselectiveContentQueryError
  extends Schema.TaggedError<UnselectiveContentQueryError>()("UnselectiveContentQueryError", apiErrorFields)
{}

/**
 * 400: a content search query uses an unsupported construct.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedContentQueryError
  extends Schema.TaggedError<UnsupportedContentQueryError>()("UnsupportedContentQueryError", apiErrorFields)
{}

/**
 * 401: the request carried no `x-apikey` header.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationRequiredError
  extends Schema.TaggedError<AuthenticationRequiredError>()("AuthenticationRequiredError", apiErrorFields)
{}

/**
 * 401: the key belongs to an inactive user.
 *
 * @since 0.1.0
 * @category errors
 */
export class UserNotActiveError
  extends Schema.TaggedError<UserNotActiveError>()("UserNotActiveError", apiErrorFields)
{}

/**
 * 401: the key is not valid.
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongCredentialsError
  extends Schema.TaggedError<WrongCredentialsError>()("WrongCredentialsError", apiErrorFields)
{}

/**
 * 403: the key may not perform this request.
 *
 * @since 0.1.0
 * @category errors
 */
export class ForbiddenError extends Schema.TaggedError<ForbiddenError>()("ForbiddenError", apiErrorFields) {}

/**
 * 404: VirusTotal does not know the object; `body` is the document worth recording.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends Schema.TaggedError<NotFoundError>()("NotFoundError", apiErrorFields) {}

/**
 * 409: the resource already exists (for example a second vote).
 *
 * @since 0.1.0
 * @category errors
 */
export class AlreadyExistsError
  extends Schema.TaggedError<AlreadyExistsError>()("AlreadyExistsError", apiErrorFields)
{}

/**
 * 424: a dependency of the request failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class FailedDependencyError
  extends Schema.TaggedError<FailedDependencyError>()("FailedDependencyError", apiErrorFields)
{}

/**
 * 429: a minute, daily or monthly quota window of the key is spent; retry after the window resets.
 *
 * @since 0.1.0
 * @category errors
 */
export class QuotaExceededError
  extends Schema.TaggedError<QuotaExceededError>()("QuotaExceededError", apiErrorFields)
{}

/**
 * 429: too many requests at once; retry with backoff.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyRequestsError
  extends Schema.TaggedError<TooManyRequestsError>()("TooManyRequestsError", apiErrorFields)
{}

/**
 * 503: a transient server-side failure; retry with backoff.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransientError extends Schema.TaggedError<TransientError>()("TransientError", apiErrorFields) {}

/**
 * 504: the server ran out of time; retry with backoff.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadlineExceededError
  extends Schema.TaggedError<DeadlineExceededError>()("DeadlineExceededError", apiErrorFields)
{}

/**
 * Any answer that is neither a success nor one of the documented error codes: an unknown code, or a body
 * that is not a VirusTotal error document (a proxy's HTML page, for instance) on a status that says
 * nothing reliable about retrying.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownApiError extends Schema.TaggedError<UnknownApiError>()("UnknownApiError", apiErrorFields) {}

/**
 * No usable answer: the connection failed or was reset, or the request timed out (`Timeout`, `Connection`,
 * `Other`: all worth another try); or the request could not be sent safely: the server's certificate or the TLS
 * handshake failed (`Tls`, which another try would only repeat: the run should stop and say why), or the target
 * was refused before anything left (`UnsafeTarget`: another origin than the API's, or plain http where the API
 * is https, which would receive the key).
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literal("Timeout", "Connection", "Other", "Tls", "UnsafeTarget"),
  message: Schema.String
}) {}

/**
 * An answer arrived and was refused as it stands: its body is larger than the client accepts (`TooLarge`, counted
 * after decompression), it decompresses beyond the accepted ratio (`Compression`, a gzip bomb), or it is a
 * well-formed object that is not the one asked for (`UnexpectedObject`: another `data.id`, another type), or it is a
 * success (2xx) to a request that changes something (a POST: a submission, an upload, a comment) whose body could not
 * be read whole or is not JSON (`Unconfirmed`: VirusTotal may have acted on it). Not transient: asking again would
 * bring the same answer, or, for `Unconfirmed`, do the same thing twice. `LinkRefused`: a 401 or 403 to a request sent
 * without the key (a signed storage URL, expired say): the link's refusal, not the key's (not `isAuthFailure`).
 *
 * @since 0.2.0
 * @category errors
 */
export class RejectedResponseError extends Schema.TaggedError<RejectedResponseError>()("RejectedResponseError", {
  status: Schema.Number,
  reason: Schema.Literal("TooLarge", "Compression", "UnexpectedObject", "Unconfirmed", "LinkRefused"),
  message: Schema.String
}) {}

/**
 * An answer arrived but its body is unusable: cut short, not JSON, or not the expected shape. Treated as
 * transient because VirusTotal never means it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResponseDecodeError extends Schema.TaggedError<ResponseDecodeError>()("ResponseDecodeError", {
  status: Schema.Number,
  message: Schema.String
}) {}

/**
 * The client refused to send a request because an id is malformed: no request was made and no quota was
 * spent. VirusTotal would have answered 400 InvalidArgumentError; a separate tag keeps "the server said"
 * apart from "we never asked".
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidIdError extends Schema.TaggedError<InvalidIdError>()("InvalidIdError", {
  /** What the id should have been: "file", "domain", "ip_address", "url", … */
  kind: Schema.String,
  input: Schema.String,
  message: Schema.String
}) {}

/**
 * Every error VirusTotal itself can answer with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ApiError =
  | BadRequestError
  | InvalidArgumentError
  | NotAvailableYet
  | UnselectiveContentQueryError
  | UnsupportedContentQueryError
  | AuthenticationRequiredError
  | UserNotActiveError
  | WrongCredentialsError
  | ForbiddenError
  | NotFoundError
  | AlreadyExistsError
  | FailedDependencyError
  | QuotaExceededError
  | TooManyRequestsError
  | TransientError
  | DeadlineExceededError
  | UnknownApiError

/**
 * Every way a client call can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type VtError = ApiError | TransportError | ResponseDecodeError | RejectedResponseError | InvalidIdError

type ApiErrorClass = new(props: { status: number; code: string; message: string; body: string }) => ApiError

const byCode: Readonly<Record<string, ApiErrorClass>> = {
  BadRequestError,
  InvalidArgumentError,
  NotAvailableYet,
  UnselectiveContentQueryError,
  UnsupportedContentQueryError,
  AuthenticationRequiredError,
  UserNotActiveError,
  WrongCredentialsError,
  ForbiddenError,
  NotFoundError,
  AlreadyExistsError,
  FailedDependencyError,
  QuotaExceededError,
  TooManyRequestsError,
  TransientError,
  DeadlineExceededError
}

/**
 * The error codes VirusTotal documents, each decoded by {@link fromResponse} to the class of the same name.
 *
 * @since 0.1.0
 * @category models
 */
export const apiErrorCodes: ReadonlyArray<string> = Object.keys(byCode)

// Without an error document only these statuses say how to retry; every other status (404 included: a
// wrong base URL must not turn every id into "not found") becomes UnknownApiError.
//
// Any 429 without a document is taken for a spent quota window (every worker pauses, the request is tried again once
// the window has reset), never for a request to retry at once: an empty or foreign 429 body is what a proxy or a
// rate limiter in front of VirusTotal sends, and hammering it would only earn more refusals.
const byStatus: Readonly<Record<number, ApiErrorClass>> = {
  429: QuotaExceededError,
  502: TransientError,
  503: TransientError,
  504: DeadlineExceededError
}

const parseErrorDocument = (body: string): { readonly code: string; readonly message: string } | undefined => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return undefined
  }
  if (!Predicate.hasProperty(json, "error")) return undefined
  const error = json.error
  if (!Predicate.hasProperty(error, "code") || typeof error.code !== "string" || error.code === "") return undefined
  const message = Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : ""
  return { code: error.code, message }
}

/**
 * Decodes a non-2xx answer into its tagged error.
 *
 * - A VirusTotal error document with a documented code gives that code's error, whatever the status.
 * - A document with an undocumented code gives UnknownApiError carrying that code.
 * - A body that is not an error document (HTML from a proxy, empty, truncated) gives, by status:
 *   429 QuotaExceededError, 502/503 TransientError, 504 DeadlineExceededError, otherwise UnknownApiError;
 *   `code` is then `""` so the synthesis stays visible.
 *
 * `redact` is applied to the texts the error carries (`message`, `body`, an undocumented `code`) once the body has
 * been decoded: the key is hidden from whatever prints the error, and what decides the error's class is the body
 * as the server sent it (a key that happens to be part of an error code must not change the code).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (status: number, body: string, redact: (text: string) => string = identity): ApiError => {
  const document = parseErrorDocument(body)
  if (document !== undefined) {
    const known = Object.hasOwn(byCode, document.code)
    const Class = known ? byCode[document.code] : UnknownApiError
    return new Class({
      status,
      code: known ? document.code : redact(document.code),
      message: redact(document.message) || `HTTP ${status}`,
      body: redact(body)
    })
  }
  const Class = Object.hasOwn(byStatus, status) ? byStatus[status] : UnknownApiError
  return new Class({
    status,
    code: "",
    message: `HTTP ${status} without a VirusTotal error document`,
    body: redact(body)
  })
}

const identity = (text: string): string => text

/**
 * A quota window of the key is spent: wait for it to reset, then retry the same request.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isQuotaExceeded = (u: unknown): u is QuotaExceededError => u instanceof QuotaExceededError

/**
 * Worth retrying the same request after a backoff: 429 TooManyRequestsError, 503, 504, a connection that failed or
 * timed out, a body cut short or not JSON. Not a TLS failure nor a target refused before sending
 * (`TransportError` reasons `Tls` and `UnsafeTarget`), which another try would only repeat.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (
  u: unknown
): u is TooManyRequestsError | TransientError | DeadlineExceededError | TransportError | ResponseDecodeError =>
  u instanceof TooManyRequestsError ||
  u instanceof TransientError ||
  u instanceof DeadlineExceededError ||
  (u instanceof TransportError && u.reason !== "Tls" && u.reason !== "UnsafeTarget") ||
  u instanceof ResponseDecodeError

const authTags: ReadonlySet<string> = new Set([
  "AuthenticationRequiredError",
  "UserNotActiveError",
  "WrongCredentialsError",
  "ForbiddenError"
])

/**
 * Any answer VirusTotal (or whatever stands in front of it) gave with an error status: every {@link ApiError}.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isApiError = (u: unknown): u is ApiError =>
  Predicate.isTagged(u, "UnknownApiError") || (Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" &&
    Object.hasOwn(byCode, u._tag) && Predicate.hasProperty(u, "status"))

/**
 * The key is refused: nothing more should be sent with it. Any answer with status 401 or 403 is a refusal, whatever
 * its body (a proxy's HTML login page included), as are VirusTotal's own codes for it.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAuthFailure = (u: unknown): u is ApiError =>
  isApiError(u) && (authTags.has(u._tag) || u.status === 401 || u.status === 403)

/**
 * The connection could not be secured (a certificate that does not verify, a TLS handshake that fails): every
 * request would fail the same way, so a run should stop and say how to fix it (`NODE_EXTRA_CA_CERTS` for a
 * corporate proxy's certificate authority).
 *
 * @since 0.2.0
 * @category predicates
 */
export const isTlsFailure = (u: unknown): u is TransportError => u instanceof TransportError && u.reason === "Tls"

/**
 * Nothing more should be sent after this error: the key is refused, or no request can be sent securely.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isFatal = (u: unknown): u is ApiError | TransportError => isAuthFailure(u) || isTlsFailure(u)

/**
 * VirusTotal does not know the object.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isNotFound = (u: unknown): u is NotFoundError => u instanceof NotFoundError
