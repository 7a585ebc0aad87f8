/**
 * s3rver on 127.0.0.1, started by the tests themselves: a real S3 API over loopback.
 */
import * as S3 from "@aws-sdk/client-s3"
import { Gzip } from "@vt-harvest/report-sink"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import S3rver from "s3rver"

// The SDK warns once per process on Node 20 about its own future support policy.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"

export interface Server {
  readonly url: string
  readonly port: number
  readonly directory: string
  /** A plain client for looking at what the sink stored. */
  readonly client: S3.S3Client
  /** Stops accepting connections; requests already being answered finish. */
  readonly stop: () => Promise<void>
  /** Starts again on the same port and directory, keeping every object. */
  readonly restart: () => Promise<void>
}

export const clientConfig = (url: string): S3.S3ClientConfig => ({
  endpoint: url,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
  maxAttempts: 1
})

export const start = async (buckets: ReadonlyArray<string>): Promise<Server> => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "s3rver-"))
  const launch = (port: number) =>
    new S3rver({
      address: "127.0.0.1",
      port,
      silent: true,
      directory,
      configureBuckets: buckets.map((name) => ({ name, configs: [] }))
    })
  let server = launch(0)
  const { port } = await server.run()
  const url = `http://127.0.0.1:${port}`
  const client = new S3.S3Client(clientConfig(url))
  let running = true
  return {
    url,
    port,
    directory,
    client,
    stop: async () => {
      if (!running) return
      running = false
      await server.close()
    },
    restart: async () => {
      if (running) return
      server = launch(port)
      await server.run()
      running = true
    }
  }
}

/** A server for the whole test file, closed (and its directory removed) at the end. */
export const startScoped = (buckets: ReadonlyArray<string>) =>
  Effect.acquireRelease(Effect.promise(() => start(buckets)), (server) =>
    Effect.promise(async () => {
      await server.stop()
      server.client.destroy()
      fs.rmSync(server.directory, { recursive: true, force: true })
    }))

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode

/** The object as stored (raw bytes and headers), or undefined. */
export const getObject = (client: S3.S3Client, bucket: string, key: string) =>
  Effect.promise(async () => {
    try {
      const object = await client.send(new S3.GetObjectCommand({ Bucket: bucket, Key: key }))
      const body = await object.Body!.transformToByteArray()
      return { body, contentType: object.ContentType, contentEncoding: object.ContentEncoding }
    } catch (error) {
      if (statusOf(error) === 404) return undefined
      throw error
    }
  })

/** The document of an object, decompressed when it was stored with `Content-Encoding: gzip`. */
export const readDocument = (client: S3.S3Client, bucket: string, key: string) =>
  Effect.flatMap(
    getObject(client, bucket, key),
    (object) =>
      object === undefined
        ? Effect.succeed(undefined)
        : object.contentEncoding === "gzip"
        ? Gzip.decompress(object.body)
        : Effect.succeed(object.body)
  )

/** Every key in the bucket (all pages). */
export const allKeys = (client: S3.S3Client, bucket: string, prefix = "") =>
  Effect.promise(async () => {
    const keys: Array<string> = []
    let token: string | undefined
    do {
      const page = await client.send(
        new S3.ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ...(token === undefined ? {} : { ContinuationToken: token })
        })
      )
      keys.push(...(page.Contents ?? []).map((object) => object.Key!))
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    return keys.sort()
  })

// A setup write that meets the server closing an idle keep-alive connection ("socket hang up", once in 2,015 writes on
// a busy machine) is sent again: what the tests look at is the sink, not this write.
export const putRaw = (client: S3.S3Client, bucket: string, key: string, body: string | Uint8Array) =>
  Effect.tryPromise(() => client.send(new S3.PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))).pipe(
    Effect.retry({ times: 2 }),
    Effect.orDie
  )
