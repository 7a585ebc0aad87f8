import * as S3 from "@aws-sdk/client-s3"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import S3rver from "s3rver"

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"

/** A real S3 server (s3rver) on loopback with one bucket, and a client configured as TOOLCHAIN.md says. */
export const startS3rver = async (bucket: string) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "cli-s3rver-"))
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }]
  })
  const { port } = await server.run()
  const url = `http://127.0.0.1:${port}`
  const client = new S3.S3Client({
    endpoint: url,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED"
  })
  return {
    url,
    client,
    directory,
    /** The standard AWS environment, pointing at this server. */
    env: { AWS_ENDPOINT_URL_S3: url, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" },
    close: async () => {
      client.destroy()
      await server.close()
      fs.rmSync(directory, { recursive: true, force: true })
    }
  }
}
