/**
 * A {@link ReportSink.ReportSink} on an S3 bucket and prefix, with the AWS SDK v3.
 *
 * Layout: `<prefix>/<key>.json` for reports and `<prefix>/_not_found/<key>.json` for not-found records, each one
 * object written by a single PutObject (which S3 makes visible whole or not at all), `Content-Type:
 * application/json`, and `Content-Encoding: gzip` when compressed (the key stays `.json`). Without `overwrite` an
 * existing report is kept: the sink asks with HEAD first and then puts with `If-None-Match: *`, so that on S3 a
 * concurrent writer can never be overwritten either. Every request is retried on 5xx, throttling, timeouts and
 * network errors, with capped exponential backoff.
 *
 * The bucket supplies the primitives (`StorePrimitives`: find, read, write, remove, list records); the rules of the
 * contract come from `ReportSink.make`, the same for every store.
 *
 * @since 0.1.0
 */
import * as S3 from "@aws-sdk/client-s3"
import { ReportSink } from "@vt-harvest/report-sink"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as internal from "./internal/s3Primitives.js"

/**
 * The S3 client the sink sends its requests with. Provide your own (`Layer.succeed(S3Client, new S3.S3Client(…))`)
 * or build one from the standard AWS environment with {@link layerS3Client}.
 *
 * @since 0.1.0
 * @category models
 */
export class S3Client extends Context.Tag("@vt-harvest/report-sink-s3/S3Client")<S3Client, S3.S3Client>() {}

const nonEmpty = (name: string) =>
  Config.string(name).pipe(Config.option, Config.map(Option.filter((value) => value.trim() !== "")))

const isHttpUrl = (value: string) => URL.canParse(value) && ["http:", "https:"].includes(new URL(value).protocol)

const endpointUrl = (name: string) =>
  nonEmpty(name).pipe(
    Config.mapOrFail((endpoint) =>
      Option.match(endpoint, { onNone: () => true, onSome: isHttpUrl })
        ? Either.right(endpoint)
        : Either.left(ConfigError.InvalidData([name], "must be an http(s) URL, e.g. http://127.0.0.1:9000"))
    )
  )

/**
 * The client configuration from the standard AWS environment:
 *
 * - `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: a custom endpoint (s3rver, MinIO…), which also turns on
 *   path-style addressing (`forcePathStyle`);
 * - `AWS_REGION` (default `us-east-1`; requests to a bucket in another region of AWS are redirected to it);
 * - `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) when both are set in the configuration
 *   (the environment, or a `.env` file your ConfigProvider reads); otherwise the SDK's default credential chain
 *   (environment, shared config and credentials files, SSO, web identity, container and instance roles).
 *
 * Checksums are only computed where S3 requires them (`WHEN_REQUIRED`): S3-compatible servers such as s3rver
 * store the SDK's default aws-chunked framing verbatim. The SDK's own retries are off (`maxAttempts: 1`): the
 * sink retries on its own schedule.
 *
 * @since 0.1.0
 * @category config
 */
export const clientConfig: Config.Config<S3.S3ClientConfig> = Config.all({
  endpoint: Config.all([endpointUrl("AWS_ENDPOINT_URL_S3"), endpointUrl("AWS_ENDPOINT_URL")]).pipe(
    Config.map(([s3, any]) => Option.orElse(s3, () => any))
  ),
  region: nonEmpty("AWS_REGION").pipe(Config.map(Option.getOrElse(() => "us-east-1"))),
  accessKeyId: nonEmpty("AWS_ACCESS_KEY_ID"),
  secretAccessKey: Config.redacted("AWS_SECRET_ACCESS_KEY").pipe(Config.option),
  sessionToken: Config.redacted("AWS_SESSION_TOKEN").pipe(Config.option)
}).pipe(
  Config.map((env): S3.S3ClientConfig => {
    const credentials = Option.all({ accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey })
    return {
      region: env.region,
      followRegionRedirects: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 1,
      ...Option.match(env.endpoint, {
        onNone: () => ({}),
        onSome: (endpoint) => ({ endpoint, forcePathStyle: true })
      }),
      // A provider function rather than the values: the secret stays out of anything that prints the config.
      ...Option.match(credentials, {
        onNone: () => ({}),
        onSome: ({ accessKeyId, secretAccessKey }) => ({
          credentials: () =>
            Promise.resolve({
              accessKeyId,
              secretAccessKey: Redacted.value(secretAccessKey),
              ...Option.match(env.sessionToken, {
                onNone: () => ({}),
                onSome: (token) => ({ sessionToken: Redacted.value(token) })
              })
            })
        })
      })
    }
  })
)

/**
 * An {@link S3Client} configured by {@link clientConfig}, with `overrides` applied on top; destroyed (its sockets
 * closed) when the layer is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerS3Client = (overrides: S3.S3ClientConfig = {}): Layer.Layer<S3Client, ConfigError.ConfigError> =>
  Layer.scoped(
    S3Client,
    Effect.flatMap(clientConfig, (config) =>
      Effect.acquireRelease(
        Effect.sync(() => new S3.S3Client({ ...config, ...overrides })),
        (client) => Effect.sync(() => client.destroy())
      ))
  )

/**
 * The bucket and prefix (see `S3Location.parse` for `s3://bucket/prefix`), the options every sink takes
 * (`overwrite`, `gzip`), and how requests are retried and timed out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ReportSink.Options {
  readonly bucket: string
  /** The key prefix, without leading or trailing `/`; `""` for the bucket's root. */
  readonly prefix: string
  /**
   * When to try a failed request again, fed the failure (default {@link defaultRetry}). Only transient failures are
   * retried: 5xx, 408, 429, throttling, timeouts and network errors.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** How long one attempt may take before it is aborted and counted as a transient failure (default 60 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Whether a failure a `retry` schedule is fed (a failed S3 request) is one the sink tries again: no answer in time,
 * 5xx but 501, 408, 429, a connection refused or reset… The schedule is stepped for every failure; this says which
 * ones it will be asked to wait on.
 *
 * @since 0.3.0
 * @category models
 */
export const isTransient: (error: unknown) => boolean = internal.isRetryable

/**
 * Exponential backoff from 200 ms, each wait at most 20 s, with jitter, for up to 5 minutes: a store that is down
 * for a few minutes loses nothing, while one that stays down fails the operation with a {@link ReportSink.SinkError}.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.union(Schedule.spaced("20 seconds")),
  Schedule.jittered,
  Schedule.upTo("5 minutes")
)

/**
 * Checks the location and that the bucket answers (HEAD, a few retries at most), and returns the sink. The
 * credentials need `s3:ListBucket` on the bucket (without it a missing object answers 403 instead of 404),
 * `s3:GetObject`, `s3:PutObject` and `s3:DeleteObject` under the prefix.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ReportSink.Service, ReportSink.SinkError, S3Client> =>
  Effect.flatMap(S3Client, (client) =>
    internal.make(client, {
      location: { bucket: options.bucket, prefix: options.prefix },
      retry: options.retry ?? defaultRetry,
      openRetries: 3,
      timeout: Duration.decode(options.timeout ?? "60 seconds")
    })).pipe(Effect.map((primitives) => ReportSink.make(primitives, options)))

/**
 * {@link make} as a layer providing {@link ReportSink.ReportSink}; needs an {@link S3Client} (see
 * {@link layerS3Client}) and fails with a `SinkError` when the bucket does not answer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ReportSink.ReportSink, ReportSink.SinkError, S3Client> =>
  Layer.effect(ReportSink.ReportSink, make(options))
