import * as S3 from "@aws-sdk/client-s3"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { hashes, runCli, tempDir } from "./helpers.js"
import { startS3rver } from "./s3rver.js"

const key = "cli-s3-test-key-4b1d9e"
const bucket = "vt-reports"
let server: VtEmulator.Server
let store: Awaited<ReturnType<typeof startS3rver>>
let s3: S3.S3Client

beforeAll(async () => {
  server = await VtEmulator.start({ apiKeys: [key] })
  store = await startS3rver(bucket)
  s3 = store.client
})
afterAll(async () => {
  await store.close()
  await server.close()
})
beforeEach(() => {
  server.clearLog()
  server.resetQuota()
})

/** The standard AWS environment, pointing at s3rver. */
const awsEnv = () => store.env

const files = (dir: string, out: string, extra: ReadonlyArray<string> = [], env: Record<string, string> = {}) =>
  runCli(
    [
      "files",
      "in.txt",
      "--out",
      out,
      "--log-dir",
      path.join(dir, "log"),
      "--base-url",
      server.url,
      "--per-minute",
      "60000",
      ...extra
    ],
    { env: { VT_API_KEY: key, ...awsEnv(), ...env }, cwd: dir }
  )

const fileRequests = () => server.requests.filter((r) => r.path.includes("/files/"))

const objectKeys = async (prefix: string) => {
  const page = await s3.send(new S3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
  return (page.Contents ?? []).map((object) => object.Key!).sort()
}

const getObject = async (objectKey: string) => {
  const object = await s3.send(new S3.GetObjectCommand({ Bucket: bucket, Key: objectKey }))
  return {
    body: Buffer.from(await object.Body!.transformToByteArray()),
    contentType: object.ContentType,
    contentEncoding: object.ContentEncoding
  }
}

describe("vt-harvest files --out s3://bucket/prefix", () => {
  it("stores every report as an object, records unknown ids, and a rerun sends no request", async () => {
    const dir = tempDir()
    const known = hashes(4, true, "s3")
    const unknown = hashes(2, false, "s3")
    fs.writeFileSync(path.join(dir, "in.txt"), [...known, "not-a-hash", ...unknown, known[0]].join("\n") + "\n")

    const result = await files(dir, `s3://${bucket}/runs/first`)
    expect(result.stderr).toContain("summary: saved 4, not found 2, skipped 1, invalid 1, failed 0, requests 6")
    expect(result.code).toBe(0)
    expect(result.stderr).not.toContain("Warning")
    expect(await objectKeys("runs/")).toEqual(
      [
        ...known.map((id) => `runs/first/${id}.json`),
        ...unknown.map((id) => `runs/first/_not_found/${id}.json`)
      ].sort()
    )
    for (const id of known) {
      const object = await getObject(`runs/first/${id}.json`)
      expect(Buffer.compare(object.body, Buffer.from(VtEmulator.fileDocument(id)))).toBe(0)
      expect(object.contentType).toBe("application/json")
      expect(object.contentEncoding).toBeUndefined()
    }
    const notFound = JSON.parse((await getObject(`runs/first/_not_found/${unknown[0]}.json`)).body.toString("utf8"))
    expect(notFound.error.code).toBe("NotFoundError")

    server.clearLog()
    const again = await files(dir, `s3://${bucket}/runs/first`)
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("summary: saved 0, not found 0, skipped 7, invalid 1, failed 0, requests 0")
    expect(fileRequests()).toHaveLength(0)

    // The same store named through VT_OUT, with a trailing slash, asks again only for the not-found ids.
    const retry = await runCli(
      ["files", "in.txt", "--log-dir", "log", "--base-url", server.url, "--per-minute", "60000", "--retry-not-found"],
      { env: { VT_API_KEY: key, VT_OUT: `s3://${bucket}/runs/first/`, ...awsEnv() }, cwd: dir }
    )
    expect(retry.code).toBe(0)
    expect(fileRequests().map((r) => r.id).sort()).toEqual([...unknown].sort())
    expect(await objectKeys("runs/")).toHaveLength(6)
  })

  it("--gzip stores Content-Encoding: gzip objects, which a rerun without --gzip counts as saved", async () => {
    const dir = tempDir()
    const known = hashes(3, true, "s3-gzip")
    fs.writeFileSync(path.join(dir, "in.txt"), known.join("\n"))

    const result = await files(dir, `s3://${bucket}/gz`, ["--gzip"])
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("summary: saved 3, not found 0")
    for (const id of known) {
      const object = await getObject(`gz/${id}.json`)
      expect(object.contentEncoding).toBe("gzip")
      expect(object.contentType).toBe("application/json")
      expect(Buffer.compare(zlib.gunzipSync(object.body), Buffer.from(VtEmulator.fileDocument(id)))).toBe(0)
    }

    server.clearLog()
    const again = await files(dir, `s3://${bucket}/gz`)
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("skipped 3")
    expect(fileRequests()).toHaveLength(0)

    // summary reads the gzipped objects back.
    const summary = await runCli(["summary", `s3://${bucket}/gz`], { env: awsEnv(), cwd: dir })
    expect(summary.code).toBe(0)
    const lines = summary.stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^key,id,type,malicious/)
    expect(lines.slice(1).map((line) => line.split(",")[0]).sort()).toEqual([...known].sort())

    // A bucket that does not exist is a store that does not exist: exit 2, as for a missing directory.
    const missing = await runCli(["summary", "s3://no-such-bucket-here/x"], { env: awsEnv(), cwd: dir })
    expect(missing.code).toBe(2)
    expect(missing.stdout).toBe("")
  })

  it("exits 2 before sending anything for a bad s3:// URL, a missing bucket or a bad endpoint", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true, "s3-bad")[0])
    for (const out of ["s3://Bad_Bucket/x", `s3://${bucket}/../x`, `s3://${bucket}//x`, "s3://", "s3://ab/x"]) {
      const result = await files(dir, out)
      expect(result.code, out).toBe(2)
      expect(result.stderr, out).toContain("bad --out: invalid S3 location")
    }
    const missing = await files(dir, "s3://no-such-bucket/x")
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("cannot use --out s3://no-such-bucket/x")
    expect(missing.stderr).toContain("no such bucket")
    // A name holding "cert" or "ssl" is no TLS failure: no hint about certificates.
    const named = await files(dir, "s3://certs-ssl-tls/x")
    expect(named.code).toBe(2)
    expect(named.stderr).not.toContain("NODE_EXTRA_CA_CERTS")
    const endpoint = await files(dir, `s3://${bucket}/x`, [], { AWS_ENDPOINT_URL_S3: "localhost:9000" })
    expect(endpoint.code).toBe(2)
    expect(endpoint.stderr).toContain("AWS_ENDPOINT_URL_S3")
    expect(server.requests).toHaveLength(0)
    expect(await objectKeys("x/")).toEqual([])
  })

  const opensslAvailable = spawnSync("openssl", ["version"]).status === 0
  it.skipIf(!opensslAvailable)(
    "an endpoint whose certificate is not trusted: exit 2 naming NODE_EXTRA_CA_CERTS",
    async () => {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true, "s3-tls")[0])
      const made = spawnSync("openssl", [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
        ...["-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"],
        ...["-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")]
      ])
      expect(made.status).toBe(0)
      const tls = https.createServer(
        { key: fs.readFileSync(path.join(dir, "key.pem")), cert: fs.readFileSync(path.join(dir, "cert.pem")) },
        (_request, response) => response.writeHead(200).end()
      )
      await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve))
      try {
        const port = (tls.address() as AddressInfo).port
        const result = await files(dir, "s3://bucket/x", [], { AWS_ENDPOINT_URL_S3: `https://127.0.0.1:${port}` })
        expect(result.code).toBe(2)
        expect(result.stderr).toContain("NODE_EXTRA_CA_CERTS")
      } finally {
        await new Promise((resolve) => tls.close(resolve))
      }
    }
  )

  it("an endpoint's error text with line breaks and escapes stays on one line of the error", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "in.txt"), hashes(1, true, "s3-lines")[0])
    const hostile = http.createServer((request, response) => {
      request.resume()
      if (request.method === "HEAD") return void response.writeHead(200).end()
      response.writeHead(400, { "content-type": "application/xml" })
      response.end(
        "<Error><Code>InvalidRequest</Code><Message>no&#10;summary: saved 999, not found 0, skipped 0, invalid 0, " +
          "failed 0, requests 0&#13;&#10;\u001b[2J</Message></Error>"
      )
    })
    await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve))
    try {
      const port = (hostile.address() as AddressInfo).port
      const result = await files(dir, "s3://bucket/x", [], { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("--out s3://bucket/x")
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(result.stderr).not.toContain("\u001b")
    } finally {
      await new Promise((resolve) => hostile.close(resolve))
    }
  })
})
