/**
 * What the example tests share: the emulator and s3rver on loopback, and running an example as a child process
 * with its configuration in the environment, as a user would.
 */
import * as S3 from "@aws-sdk/client-s3"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import S3rver from "s3rver"

// The SDK warns once per process on Node 20 about its own future support policy.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"

/** The examples/ directory. */
export const examplesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** The repository root. */
export const rootDir = path.resolve(examplesDir, "..")

/** Every example, by directory name. */
export const examples = ["stream-to-fs", "fs-and-s3", "ndjson-sink", "scan-folder", "enrich"] as const

export const apiKey = "test-key-for-the-examples"
export const bucket = "vt-reports"

export interface Services {
  readonly vt: VtEmulator.Server
  readonly s3Url: string
  readonly s3: S3.S3Client
  /** A fresh temporary directory for one test. */
  readonly tempDir: (name: string) => string
  readonly close: () => Promise<void>
}

export const startServices = async (): Promise<Services> => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "vt-harvest-examples-"))
  // Analyses complete on the emulator's clock: within a second instead of a minute.
  const vt = await VtEmulator.start({ apiKeys: [apiKey], analysisQueuedMs: 200, analysisCompletedMs: 600 })
  const s3rver = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: path.join(work, "s3rver"),
    configureBuckets: [{ name: bucket, configs: [] }]
  })
  const { port } = await s3rver.run()
  const s3Url = `http://127.0.0.1:${port}`
  const s3 = new S3.S3Client({
    endpoint: s3Url,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED"
  })
  let n = 0
  return {
    vt,
    s3Url,
    s3,
    tempDir: (name) => {
      const dir = path.join(work, `${++n}-${name}`)
      fs.mkdirSync(dir, { recursive: true })
      return dir
    },
    close: async () => {
      s3.destroy()
      await Promise.all([vt.close(), s3rver.close()])
      fs.rmSync(work, { recursive: true, force: true })
    }
  }
}

/** The environment an example runs with: none of the machine's VT_* or AWS_* settings, plus the services'. */
export const exampleEnv = (services: Services, env: Record<string, string>): NodeJS.ProcessEnv => {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(VT_|AWS_|npm_)/.test(name))
  )
  return {
    ...base,
    VT_API_KEY: apiKey,
    VT_BASE_URL: services.vt.url,
    AWS_ENDPOINT_URL_S3: services.s3Url,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    NO_COLOR: "1",
    ...env
  }
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end; never throws (the caller asserts on the outcome). */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly timeoutMs?: number }
): Promise<Run> =>
  new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => stdout += chunk)
    child.stderr.on("data", (chunk) => stderr += chunk)
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 90_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** Runs `<dir>/<example>/main.ts` through tsx, as `pnpm <example>` does. */
export const runExample = (
  services: Services,
  example: string,
  env: Record<string, string>,
  options: { readonly cwd?: string; readonly main?: string } = {}
): Promise<Run> =>
  run(process.execPath, ["--import", "tsx", options.main ?? path.join(example, "main.ts")], {
    cwd: options.cwd ?? examplesDir,
    env: exampleEnv(services, env)
  })

/** Every object key under a prefix of the test bucket. */
export const listKeys = async (s3: S3.S3Client, prefix: string): Promise<Array<string>> => {
  const keys: Array<string> = []
  let token: string | undefined
  do {
    const page = await s3.send(
      new S3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })
    )
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key)
    token = page.NextContinuationToken
  } while (token !== undefined)
  return keys.sort()
}

/** The valid, distinct hashes of a list (as the examples read it), lower-cased. */
export const hashesOf = (file: string): Array<string> => [
  ...new Set(
    fs.readFileSync(file, "utf8").split(/\r?\n/).map((line) => line.trim().toLowerCase()).filter((line) =>
      /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/.test(line)
    )
  )
]

/** A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF line ends. */
export const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") {
        field += "\""
        i++
      } else if (c === "\"") quoted = false
      else field += c
    } else if (c === "\"") quoted = true
    else if (c === ",") {
      row.push(field)
      field = ""
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++
      row.push(field)
      rows.push(row)
      row = []
      field = ""
    } else field += c
  }
  if (field !== "" || row.length > 0) rows.push([...row, field])
  return rows
}
