import type * as S3 from "@aws-sdk/client-s3"
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand
} from "@aws-sdk/client-s3"
import { Gzip, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import type { ReportKey, StorePrimitives } from "@vt-harvest/report-sink"
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { createHash, randomBytes } from "node:crypto"
import { Readable, Transform } from "node:stream"
import * as S3Location from "../S3Location.js"

/** @internal */
export interface Config {
  readonly location: S3Location.S3Location
  readonly retry: Schedule.Schedule<unknown, unknown>
  readonly openRetries: number
  readonly timeout: Duration.Duration
}

type Kind = StorePrimitives.Kind

/** The longest an attempt to open the store (HEAD on the bucket) may take. */
const openTimeout = Duration.seconds(10)

/** One attempt took longer than the configured timeout; the request was aborted. */
class AttemptTimeout extends Data.TaggedError("AttemptTimeout")<{ readonly duration: Duration.Duration }> {}

/** HEAD on the bucket answered 404 or 403, which carry no body and so no message of their own. */
class BucketProblem extends Data.TaggedError("BucketProblem")<{ readonly error: unknown; readonly reason: string }> {}

const statusOf = (error: unknown): number | undefined => {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode
  return typeof status === "number" ? status : undefined
}

const field = (error: unknown, name: "name" | "code" | "message"): string | undefined => {
  const value = typeof error === "object" && error !== null ? (error as Record<string, unknown>)[name] : undefined
  return typeof value === "string" ? value : undefined
}

const retryableNames = new Set([
  "SlowDown",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "InternalError",
  "ServiceUnavailable",
  "ConditionalRequestConflict",
  "TimeoutError",
  "RequestTimeoutException"
])

const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET"
])

/**
 * Worth another attempt: 5xx but 501, 408, 429 and S3's throttling and conflict codes, timeouts, and failures where no
 * HTTP answer came back (connection refused or reset…). Anything else (403, 404 on a bucket, bad credentials, a
 * missing credential provider) fails at once.
 *
 * @internal
 */
export const isRetryable = (error: unknown): boolean => {
  if (error instanceof AttemptTimeout) return true
  const status = statusOf(error)
  const name = field(error, "name")
  if (status !== undefined) {
    // 501 Not Implemented is an answer, not an outage.
    return (status >= 500 && status !== 501) || status === 408 || status === 429 ||
      (name !== undefined && retryableNames.has(name))
  }
  const code = field(error, "code")
  return (code !== undefined && networkCodes.has(code)) || (name !== undefined && retryableNames.has(name))
}

const describe = (error: unknown): string => {
  if (error instanceof AttemptTimeout) return `no answer within ${Duration.format(error.duration)}`
  if (error instanceof BucketProblem) return `${error.reason} (HTTP ${statusOf(error.error)})`
  const status = statusOf(error)
  const name = field(error, "name") ?? "Error"
  const code = field(error, "code")
  // The endpoint's own words, on one line: a message may hold line breaks and control characters.
  const message = (field(error, "message") ?? String(error)).replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim()
  const what = status !== undefined ? `${name} (HTTP ${status})` : code !== undefined ? `${name} ${code}` : name
  return message === "" || message === name || message === "UnknownError" ? what : `${what}: ${message}`
}

const hasStatus = (...statuses: ReadonlyArray<number>) => (error: unknown): boolean => {
  const status = statusOf(error)
  return status !== undefined && statuses.includes(status)
}

/** The start of the name of the objects {@link make}'s `probe` puts and deletes; never a key (a leading `.`). */
const probeName = ".vt-harvest-probe-"

/** User metadata (`x-amz-meta-vt-harvest-length`) holding the number of bytes a record was written with. */
const lengthMetadata = "vt-harvest-length"

const md5Base64 = (data: Uint8Array) => createHash("md5").update(data).digest("base64")

/** @internal */
/** The most of an answer's body other than a record's (a listing page, an error document, a HEAD): 8 MiB. */
export const maxAnswerBytes = 8 * 1024 * 1024

const boundsName = "vtHarvestBoundedBodies"

/**
 * Bounds the body of every answer `client` receives, before the SDK reads it whole: a record (GetObject answered
 * 2xx) to what a record can be, anything else (a listing, an error page) to {@link maxAnswerBytes}. An endpoint that
 * answers 400 MB of error page, or of listing, fails the operation there instead of taking the memory. Added once per
 * client, whichever sinks share it.
 */
const boundBodies = (client: S3.S3Client): void => {
  if (client.middlewareStack.identify().some((entry) => entry.startsWith(boundsName))) return
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args)
      const response = result.response as { statusCode?: number; body?: unknown }
      if (!(response.body instanceof Readable)) return result
      const record = context.commandName === "GetObjectCommand" && (response.statusCode ?? 0) < 300
      const max = record ? StoreLayout.maxRecordBytes : maxAnswerBytes
      const source = response.body
      let seen = 0
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          seen += chunk.length
          if (seen <= max) return done(null, chunk)
          source.destroy()
          done(new Error(`an answer of more than ${max} bytes (HTTP ${response.statusCode ?? "?"})`))
        }
      })
      source.on("error", (error) => counted.destroy(error))
      // A reader that lets the body go (destroys it unread) lets the connection go: the source with it.
      counted.on("close", () => {
        if (!source.readableEnded) source.destroy()
      })
      response.body = source.pipe(counted)
      return result
    },
    // Inside the SDK's deserializer (the same step, a lower priority): what it reads is the bounded body.
    { step: "deserialize", name: boundsName, priority: "low" }
  )
}

export const make = (
  client: S3.S3Client,
  config: Config
): Effect.Effect<StorePrimitives.StorePrimitives, ReportSink.SinkError> =>
  Effect.gen(function*() {
    boundBodies(client)
    const { location } = config
    const { bucket } = location
    const url = S3Location.format(location)
    const invalid = S3Location.make(location)
    if (invalid._tag === "Left") {
      return yield* new ReportSink.SinkError({ operation: "open", message: invalid.left.message })
    }
    const objectKey = (kind: Kind, key: ReportKey.ReportKey) =>
      S3Location.objectKey(
        location,
        kind === "saved" ? StoreLayout.fileName(key) : `${StoreLayout.notFoundDirectory}/${StoreLayout.fileName(key)}`
      )
    const savedPrefix = S3Location.objectKey(location, "")
    const notFoundPrefix = S3Location.objectKey(location, `${StoreLayout.notFoundDirectory}/`)

    // Servers that refuse `If-None-Match` on PUT with 501 are remembered, and written to without it from then on.
    let conditionalPuts = true

    /** One request: aborted after the timeout, retried per the schedule while the failure is transient. */
    const send = <A, E = never>(
      operation: string,
      what: string,
      key: string | undefined,
      request: (signal: AbortSignal) => Promise<A>,
      handle: (effect: Effect.Effect<A, unknown>) => Effect.Effect<A | E, unknown> = (effect) => effect,
      schedule: Schedule.Schedule<unknown, unknown> = config.retry,
      timeout: Duration.Duration = config.timeout
    ): Effect.Effect<A | E, ReportSink.SinkError> =>
      Effect.tryPromise({ try: request, catch: (error) => error }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new AttemptTimeout({ duration: timeout })
        }),
        handle,
        Effect.retry({ schedule, while: isRetryable }),
        Effect.mapError((error) =>
          new ReportSink.SinkError({
            operation,
            ...(key === undefined ? {} : { key }),
            message: `${what}: ${describe(error)}`,
            cause: error
          })
        )
      )

    // HEAD on the bucket checks the name, the credentials and the endpoint before anything is requested from
    // VirusTotal; a few retries only, each of at most 10 s (a HEAD has nothing to carry), since a wrong endpoint
    // should not keep a user waiting for minutes.
    yield* send(
      "open",
      `cannot open ${url}`,
      undefined,
      (abortSignal) => client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal }),
      (effect) =>
        effect.pipe(
          Effect.catchIf(
            hasStatus(404),
            (error) => Effect.fail(new BucketProblem({ error, reason: "no such bucket" }))
          ),
          Effect.catchIf(
            hasStatus(403),
            (error) => Effect.fail(new BucketProblem({ error, reason: "access denied (check the credentials)" }))
          )
        ),
      Schedule.intersect(config.retry, Schedule.recurs(config.openRetries)),
      Duration.min(config.timeout, openTimeout)
    )

    // An object counts only when it holds as many bytes as it was written with (`lengthMetadata`). S3 stores a PUT
    // whole or not at all, but some S3-compatible servers (s3rver among them) keep what arrived of a PUT whose client
    // died mid-request: the first bytes under the full length, or an empty object with no metadata at all when
    // nothing but the head arrived. Neither is a record, and the next put replaces it. An object written without the
    // length (by an earlier version, or another tool) counts unless it is empty: no report is zero bytes long.
    const isWhole = (length: number, metadata: Record<string, string> | undefined) => {
      const written = metadata?.[lengthMetadata]
      return written === undefined ? length > 0 : Number(written) === length
    }
    const exists = (kind: Kind, key: ReportKey.ReportKey) => {
      const target = objectKey(kind, key)
      return send(
        "exists",
        `cannot check s3://${bucket}/${target}`,
        key,
        (abortSignal) =>
          client.send(new HeadObjectCommand({ Bucket: bucket, Key: target }), { abortSignal }).then((head) =>
            head.ContentLength === undefined || isWhole(head.ContentLength, head.Metadata)
          ),
        (effect) => Effect.catchIf(effect, hasStatus(404), () => Effect.succeed(false))
      )
    }

    const write = (kind: Kind, key: ReportKey.ReportKey, data: Uint8Array, options: StorePrimitives.WriteOptions) =>
      Effect.suspend(() => {
        const target = objectKey(kind, key)
        const input: S3.PutObjectCommandInput = {
          Bucket: bucket,
          Key: target,
          Body: data,
          ContentType: "application/json",
          ContentMD5: md5Base64(data),
          Metadata: { [lengthMetadata]: String(data.length) },
          ...(options.gzip ? { ContentEncoding: Gzip.contentEncoding } : {})
        }
        const put = (conditional: boolean): Effect.Effect<"written" | "kept", ReportSink.SinkError> =>
          send(
            "write",
            `cannot write s3://${bucket}/${target}`,
            key,
            (abortSignal) =>
              client.send(new PutObjectCommand(conditional ? { ...input, IfNoneMatch: "*" } : input), { abortSignal })
                .then(() => "written" as const),
            // 412: another writer created the object first (or an earlier attempt of this one did, its answer lost).
            (effect) =>
              conditional ? Effect.catchIf(effect, hasStatus(412), () => Effect.succeed("kept" as const)) : effect
          ).pipe(
            // What is there is kept only if it is a whole record; an incomplete one is replaced.
            Effect.flatMap((outcome) =>
              outcome === "kept"
                ? Effect.flatMap(exists(kind, key), (whole) => whole ? Effect.succeed(outcome) : put(false))
                : Effect.succeed(outcome)
            )
          )
        if (!options.ifAbsent || !conditionalPuts) return put(false)
        return put(true).pipe(
          Effect.catchIf(
            (error) => hasStatus(501)(error.cause),
            () =>
              Effect.suspend(() => {
                conditionalPuts = false
                return put(false)
              })
          )
        )
      }).pipe(Effect.asVoid)

    const remove = (kind: Kind, key: ReportKey.ReportKey) => {
      const target = objectKey(kind, key)
      return send(
        "remove",
        `cannot delete s3://${bucket}/${target}`,
        key,
        (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: target }), { abortSignal })
      ).pipe(Effect.asVoid)
    }

    // Writes of one key from this sink go one at a time. S3 would keep the last of concurrent PUTs whole, but some
    // S3-compatible servers (s3rver among them) interleave them into one corrupt object; and one at a time, the
    // HEAD of a second put sees the first one's report. Only keys being written are held here.
    const writing = new Map<string, { readonly lock: Effect.Semaphore; users: number }>()
    const exclusive = <A, E>(key: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        const entry = writing.get(key) ?? { lock: Effect.unsafeMakeSemaphore(1), users: 0 }
        writing.set(key, entry)
        entry.users++
        return entry.lock.withPermits(1)(effect).pipe(
          Effect.ensuring(Effect.sync(() => {
            if (--entry.users === 0) writing.delete(key)
          }))
        )
      })

    // The SDK hands Content-Encoding: gzip bodies over as stored; the rules decompress them. A body that starts
    // with gzip's magic number is compressed too (no JSON document does), whatever the headers say.
    const read = (kind: Kind, key: ReportKey.ReportKey) => {
      const target = objectKey(kind, key)
      return send(
        "read",
        `cannot read s3://${bucket}/${target}`,
        key,
        (abortSignal) =>
          client.send(new GetObjectCommand({ Bucket: bucket, Key: target }), { abortSignal }).then(async (object) => {
            // Never read whole what no record can be.
            if ((object.ContentLength ?? 0) > StoreLayout.maxRecordBytes) {
              ;(object.Body as { destroy?: () => void } | undefined)?.destroy?.()
              throw new Error(
                `${object.ContentLength} bytes, more than a record holds (${StoreLayout.maxRecordBytes})`
              )
            }
            const bytes = object.Body === undefined ? new Uint8Array() : await object.Body.transformToByteArray()
            // What `exists` would not count is not read as a record either.
            return isWhole(bytes.length, object.Metadata)
              ? Option.some<StorePrimitives.Stored>({
                bytes,
                gzip: object.ContentEncoding === Gzip.contentEncoding || Gzip.isGzip(bytes)
              })
              : Option.none()
          }),
        (effect) => Effect.catchIf(effect, hasStatus(404), () => Effect.succeed(Option.none<StorePrimitives.Stored>()))
      )
    }

    // The keys of the records directly under `prefix`, page by page (ListObjectsV2 with a `/` delimiter, so
    // `_not_found/` and any other sub-prefix is not descended into).
    // The continuation tokens a listing was given, as digests: one given again (a server going round) ends it in an
    // error, not in an endless list of the same keys.
    const keysUnder = (prefix: string): Stream.Stream<ReportKey.ReportKey, ReportSink.SinkError> =>
      Stream.suspend(() => {
        const given = new Set<string>()
        return pagesUnder(prefix, given)
      })

    const pagesUnder = (prefix: string, given: Set<string>): Stream.Stream<ReportKey.ReportKey, ReportSink.SinkError> =>
      Stream.paginateChunkEffect(Option.none<string>(), (token) =>
        send(
          "list",
          `cannot list s3://${bucket}/${prefix}`,
          undefined,
          (abortSignal) =>
            client.send(
              new ListObjectsV2Command({
                Bucket: bucket,
                Prefix: prefix,
                Delimiter: "/",
                ...Option.match(token, { onNone: () => ({}), onSome: (ContinuationToken) => ({ ContinuationToken }) })
              }),
              { abortSignal }
            )
        ).pipe(
          Effect.map((page) => {
            const keys = (page.Contents ?? []).flatMap((object) => {
              const name = object.Key?.startsWith(prefix) === true ? object.Key.slice(prefix.length) : ""
              // Only `<key>.json`: S3 records carry compression in Content-Encoding, never in the name.
              return Option.toArray(StoreLayout.parseFileName(name)).filter((parsed) => !parsed.gzip)
                .map((parsed) => parsed.key)
            })
            const next = page.IsTruncated === true && page.NextContinuationToken !== undefined
              ? Option.some(Option.some(page.NextContinuationToken))
              : Option.none()
            return [Chunk.fromIterable(keys), next] as const
          }),
          Effect.filterOrFail(
            ([, next]) => {
              if (Option.isNone(next) || Option.isNone(next.value)) return true
              const digest = createHash("sha256").update(next.value.value).digest("base64")
              if (given.has(digest)) return false
              given.add(digest)
              return true
            },
            () =>
              new ReportSink.SinkError({
                operation: "list",
                message:
                  `cannot list s3://${bucket}/${prefix}: its listing names a page it gave already (a continuation ` +
                  "token repeated)"
              })
          )
        ))

    const keys = (kind: Kind) => keysUnder(kind === "saved" ? savedPrefix : notFoundPrefix)

    // An object no record can have (a leading `.` is never a key, so it is never listed), put and deleted under the
    // prefix and under `_not_found/`: a policy may grant writes to one and not the other, and `put` deletes
    // not-found records, so the delete is proven as well.
    const probeAt = (prefix: string) =>
      Effect.suspend(() => {
        const target = `${prefix}${probeName}${randomBytes(8).toString("hex")}`
        return send(
          "probe",
          `cannot write to s3://${bucket}/${prefix}`,
          undefined,
          (abortSignal) =>
            client.send(
              new PutObjectCommand({ Bucket: bucket, Key: target, Body: new Uint8Array(), ContentType: "text/plain" }),
              { abortSignal }
            )
        ).pipe(
          Effect.zipRight(send(
            "probe",
            `cannot delete s3://${bucket}/${target}`,
            undefined,
            (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: target }), { abortSignal })
          )),
          Effect.asVoid
        )
      })
    const probe = Effect.zipRight(probeAt(savedPrefix), probeAt(notFoundPrefix))

    return { location: url, exists, read, write, remove, keys, exclusive, probe }
  })
