// Pins what the emulator answers, byte for byte, across every route: status, content type, body (inline when short,
// else its SHA-256) and the request-log entries each request adds. The expected records under characterization/
// were written by the emulator itself; a change of any byte fails here. After a deliberate change of behaviour,
// rewrite them with VT_EMULATOR_RECORD=1 and review the diff.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import * as VtEmulator from "../src/VtEmulator.js"

const KEY = "characterization-key-5f1c9a"
const KEY2 = "characterization-key-77b2e0"
const INACTIVE = "characterization-inactive-key-31d4"
const HOST = "emulator.test"
const T0 = Date.UTC(2024, 4, 7, 12, 0, 0)
const RECORD = process.env.VT_EMULATOR_RECORD === "1"
const DIRECTORY = Path.join(import.meta.dirname, "characterization")

const sha256 = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex")

const find = <A>(make: (i: number) => A, ok: (a: A) => boolean): A => {
  for (let i = 0;; i++) {
    const a = make(i)
    if (ok(a)) return a
  }
}

const knownFile = find((i) => sha256(`char-file-${i}`), VtEmulator.isKnown)
const knownFile2 = find((i) => sha256(`char-file-b-${i}`), VtEmulator.isKnown)
const unknownFile = find((i) => sha256(`char-file-${i}`), (id) => !VtEmulator.isKnown(id))
const knownMd5 = find((i) => sha256(`char-md5-${i}`).slice(0, 32), VtEmulator.isKnown)
const knownSha1 = find((i) => sha256(`char-sha1-${i}`).slice(0, 40), VtEmulator.isKnown)
const knownDomain = find((i) => `char-${i}.example.com`, VtEmulator.isKnown)
const unknownDomain = find((i) => `char-${i}.example.com`, (d) => !VtEmulator.isKnown(d))
const knownIp = find((i) => `198.51.100.${i}`, VtEmulator.isKnown)
const unknownIp = find((i) => `198.51.100.${i}`, (ip) => !VtEmulator.isKnown(ip))
const knownIp6 = find((i) => `2001:db8::${i.toString(16)}`, VtEmulator.isKnown)
const knownUrl = find((i) => `http://char.example.com/page-${i}`, VtEmulator.isKnownUrl)
const unknownUrl = find((i) => `http://char.example.com/page-${i}`, (u) => !VtEmulator.isKnownUrl(u))
const unknownUrl2 = find((i) => `https://char.example.org/other-${i}`, (u) => !VtEmulator.isKnownUrl(u))
const urlId = (url: string) => Buffer.from(url).toString("base64url")

// ---------------------------------------------------------------------------------------------------------------
// One request, over node:http so that the Host header, the method and the path are exactly as written
// ---------------------------------------------------------------------------------------------------------------

interface Request {
  readonly method?: string
  readonly path: string
  /** The x-apikey header: KEY unless given; null sends none. */
  readonly key?: string | null
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Buffer
  /** Shown instead of the body in the record (bodies can be large). */
  readonly label?: string
}

interface Outcome {
  readonly status: number | undefined
  readonly contentType: string | undefined
  readonly declared: number | undefined
  readonly body: Buffer
  /** "reset" when no answer came, "truncated" when fewer bytes than declared. */
  readonly broken: string | undefined
}

const send = (port: number, agent: Http.Agent, request: Request): Effect.Effect<Outcome> =>
  Effect.async<Outcome>((resume) => {
    const headers: Record<string, string> = { host: HOST, ...request.headers }
    const key = request.key === undefined ? KEY : request.key
    if (key !== null) headers["x-apikey"] = key
    const body = request.body === undefined ? undefined : Buffer.from(request.body)
    if (body !== undefined) headers["content-length"] = String(body.length)
    const req = Http.request({
      host: "127.0.0.1",
      port,
      method: request.method ?? "GET",
      path: request.path,
      headers,
      setHost: false,
      agent
    })
    let done = false
    let responded = false
    const finish = (outcome: Outcome) => {
      if (done) return
      done = true
      resume(Effect.succeed(outcome))
    }
    // Once answered, a socket error belongs to the answer (a truncated body), not to the request.
    req.on(
      "error",
      () =>
        responded ||
        finish({
          status: undefined,
          contentType: undefined,
          declared: undefined,
          body: Buffer.alloc(0),
          broken: "reset"
        })
    )
    req.on("response", (res) => {
      responded = true
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("error", () => {})
      res.on("close", () => {
        const declared = res.headers["content-length"] === undefined ? undefined : Number(res.headers["content-length"])
        const received = Buffer.concat(chunks)
        finish({
          status: res.statusCode,
          contentType: res.headers["content-type"],
          declared,
          body: received,
          broken: res.complete ? undefined : "truncated"
        })
      })
    })
    req.end(body)
  })

// ---------------------------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------------------------

/** Upload URLs carry a random token: it is the one part of an answer that is not reproducible. */
const maskTokens = (text: string) => text.replace(/\/_ah\/upload\/[A-Za-z0-9_-]{32}/g, "/_ah/upload/<token>")

const describeBody = (outcome: Outcome): string => {
  const text = outcome.body.toString("utf8")
  const masked = maskTokens(text)
  const printable = Buffer.from(text, "utf8").equals(outcome.body) && !/[\u0000-\u0008\u000e-\u001f]/.test(text)
  if (printable && masked.length <= 320) return masked
  return `${outcome.body.length} bytes, sha256 ${sha256(printable ? masked : outcome.body).slice(0, 32)}`
}

const describeLog = (entry: VtEmulator.RequestLogEntry): string =>
  maskTokens(
    [
      entry.method,
      entry.path,
      entry.id === undefined ? "" : `id=${entry.id}`,
      String(entry.status),
      entry.fault === undefined ? "" : `fault=${entry.fault}`,
      `@${entry.at - T0}`
    ].filter((s) => s !== "").join(" ")
  )

interface Recorder {
  readonly server: VtEmulator.Server
  /** Sends a request and records what came back; returns the outcome for requests that follow from it. */
  readonly call: (request: Request) => Effect.Effect<Outcome>
  /** Records a step that is not a request (a clock move, an update through the API). */
  readonly note: (text: string) => void
}

const json = (outcome: Outcome): Record<string, unknown> => JSON.parse(outcome.body.toString("utf8"))

const scenario = (
  name: string,
  options: (clock: { now: number }) => VtEmulator.Options,
  script: (r: Recorder, clock: { now: number }) => Effect.Effect<void>
) =>
  it.scoped(name, () =>
    Effect.gen(function*() {
      const clock = { now: T0 }
      const server = yield* VtEmulator.make({ now: () => clock.now, ...options(clock) })
      // Keep-alive, as clients are: an answer sent before the body was read never races a closing socket.
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new Http.Agent({ keepAlive: true, maxSockets: 1 })),
        (agent) => Effect.sync(() => agent.destroy())
      )
      const records: Array<unknown> = []
      const recorder: Recorder = {
        server,
        note: (text) => {
          records.push(`-- ${text}`)
        },
        call: (request) =>
          Effect.gen(function*() {
            const log = server.requests
            const before = log.length
            const outcome = yield* send(server.port, agent, request)
            const after = server.requests
            const added = after === log ? after.slice(before) : after
            records.push({
              request: maskTokens(
                `${request.method ?? "GET"} ${request.path}${
                  request.key === undefined ? "" : request.key === null ? " (no key)" : ` (key ${request.key})`
                }${request.label === undefined ? "" : ` [${request.label}]`}`
              ),
              answer: outcome.broken === "reset"
                ? "reset"
                : `${outcome.status} ${outcome.contentType ?? "-"} ${outcome.declared ?? "-"}${
                  outcome.broken === undefined ? "" : ` ${outcome.broken} after ${outcome.body.length}`
                }`,
              body: describeBody(outcome),
              log: added.map(describeLog)
            })
            return outcome
          })
      }
      yield* script(recorder, clock)
      const file = Path.join(DIRECTORY, `${name.replace(/[^a-z0-9]+/gi, "-")}.json`)
      if (RECORD) {
        Fs.mkdirSync(DIRECTORY, { recursive: true })
        Fs.writeFileSync(file, `${JSON.stringify(records, null, 2)}\n`)
      }
      const expected: Array<unknown> = JSON.parse(Fs.readFileSync(file, "utf8"))
      for (let i = 0; i < Math.max(expected.length, records.length); i++) {
        assert.deepStrictEqual(records[i], expected[i], `record ${i} of ${name}`)
      }
    }))

// ---------------------------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------------------------

const BOUNDARY = "characterization-boundary-0b1c"

const multipart = (
  parts: ReadonlyArray<{ readonly name: string; readonly filename?: string; readonly content: string | Buffer }>
): { readonly body: Buffer; readonly headers: Record<string, string> } => ({
  body: Buffer.concat([
    ...parts.flatMap((part) => [
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${
          part.filename === undefined ? "" : `; filename="${part.filename}"`
        }\r\n\r\n`
      ),
      Buffer.from(part.content),
      Buffer.from("\r\n")
    ]),
    Buffer.from(`--${BOUNDARY}--\r\n`)
  ]),
  headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` }
})

const upload = (path: string, content: string | Buffer, key?: string | null, fields: Record<string, string> = {}) => {
  const form = multipart([
    ...Object.entries(fields).map(([name, value]) => ({ name, content: value })),
    { name: "file", filename: "sample.bin", content }
  ])
  return {
    method: "POST",
    path,
    headers: form.headers,
    body: form.body,
    label: `multipart file of ${Buffer.from(content).length} bytes`,
    ...(key === undefined ? {} : { key })
  }
}

const form = (path: string, fields: Record<string, string>, key?: string | null): Request => ({
  method: "POST",
  path,
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
  ...(key === undefined ? {} : { key })
})

const postJson = (path: string, value: unknown): Request => ({
  method: "POST",
  path,
  headers: { "content-type": "application/json" },
  body: typeof value === "string" ? value : JSON.stringify(value)
})

const v3 = (path: string) => `/api/v3${path}`
const v2 = (endpoint: string, query: Record<string, string> = {}) => {
  const q = new URLSearchParams(query).toString()
  return `/vtapi/v2/${endpoint}${q === "" ? "" : `?${q}`}`
}

const cursorOf = (outcome: Outcome): string | undefined => {
  const meta = json(outcome).meta as { cursor?: string } | undefined
  return meta?.cursor
}

const walk = (r: Recorder, path: string, limit: number) =>
  Effect.gen(function*() {
    let cursor: string | undefined = undefined
    for (let page = 0; page < 10; page++) {
      const query: string = cursor === undefined ? `?limit=${limit}` : `?limit=${limit}&cursor=${cursor}`
      const outcome: Outcome = yield* r.call({ path: `${path}${query}` })
      cursor = outcome.status === 200 ? cursorOf(outcome) : undefined
      if (cursor === undefined) return
    }
  })

const advance = (clock: { now: number }, r: Recorder, ms: number) => {
  clock.now += ms
  r.note(`clock +${ms} ms → @${clock.now - T0}`)
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------------------------

describe("characterization", () => {
  scenario(
    "routing and objects",
    () => ({ apiKeys: [KEY, KEY2], inactiveKeys: [INACTIVE] }),
    (r) =>
      Effect.gen(function*() {
        for (
          const id of [knownFile, knownFile.toUpperCase(), knownMd5, knownSha1, unknownFile, "xyz", "%%%", "%E0%A4%A"]
        ) {
          yield* r.call({ path: v3(`/files/${id}`) })
        }
        yield* r.call({ path: v3(`/files/${knownFile}?x=1&limit=3`) })
        yield* r.call({ path: v3(`/files/${knownFile}`), key: null })
        yield* r.call({ path: v3(`/files/${knownFile}`), key: "" })
        yield* r.call({ path: v3(`/files/${knownFile}`), key: "wrong-key-0000000000" })
        yield* r.call({ path: v3(`/files/${knownFile}`), key: INACTIVE })
        yield* r.call({ path: v3(`/files/${knownFile}`), key: KEY2 })
        yield* r.call({ path: v3(`/files/${KEY}`) })
        yield* r.call({ path: v3(`/files/${KEY.replace(/-/g, "%2D")}`) })
        yield* r.call({ path: v3(`/files/${KEY.toUpperCase()}`) })
        yield* r.call({ path: v3(`/files/${KEY}/comments`), key: null })
        for (const method of ["POST", "PUT", "DELETE", "HEAD", "PATCH"]) {
          yield* r.call({ method, path: v3(`/files/${knownFile}`) })
        }
        for (
          const path of [
            "/",
            "/api",
            "/api/v3",
            "/api/v3/",
            "/api/v3x",
            "/api/v4/files/x",
            v3("/files"),
            v3("/files/"),
            v3(`/files/${knownFile}/`),
            v3(`/files//comments`),
            v3("/nope"),
            v3("/nope/x/y"),
            v3("/urls"),
            v3("/domains"),
            v3("/analyses"),
            v3("/file_behaviours"),
            v3("/users"),
            v3("/users/x"),
            "/_ah/upload/",
            "/_emulator/",
            "/vtapi/v2",
            "/vtapi/v2/"
          ]
        ) {
          yield* r.call({ path })
        }
        yield* r.call({ path: "/api/v3/nope", key: null })
        // URLs, domains, IP addresses
        for (
          const id of [
            urlId(knownUrl),
            `${urlId(knownUrl)}==`,
            VtEmulator.urlObjectId(knownUrl) ?? "",
            (VtEmulator.urlObjectId(knownUrl) ?? "").toUpperCase(),
            urlId(unknownUrl),
            VtEmulator.urlObjectId(unknownUrl) ?? "",
            sha256("never-seen-url"),
            urlId("ftp://char.example.com/"),
            "%%%",
            "not base64!"
          ]
        ) {
          yield* r.call({ path: v3(`/urls/${encodeURIComponent(id)}`) })
        }
        for (
          const name of [knownDomain, knownDomain.toUpperCase(), `${knownDomain}.`, unknownDomain, "not_a_domain", "x"]
        ) {
          yield* r.call({ path: v3(`/domains/${name}`) })
        }
        for (const ip of [knownIp, unknownIp, encodeURIComponent(knownIp6), knownIp6.toUpperCase(), "300.1.1.1"]) {
          yield* r.call({ path: v3(`/ip_addresses/${ip}`) })
        }
        for (const method of ["POST", "DELETE"]) {
          yield* r.call({ method, path: v3(`/domains/${knownDomain}`) })
          yield* r.call({ method, path: v3(`/urls/${urlId(knownUrl)}`) })
        }
        // Users: the id is redacted from the log, whatever it is
        yield* r.call({ path: v3(`/users/${KEY}/overall_quotas`) })
        yield* r.call({ path: v3(`/users/someone/overall_quotas`) })
        yield* r.call({ path: v3(`/users/${KEY}/api_usage`) })
        yield* r.call({ path: v3(`/users/${KEY}/other`) })
        yield* r.call({ method: "POST", path: v3(`/users/${KEY}/overall_quotas`) })
        yield* r.call({ path: v3(`/users/${KEY}/overall_quotas/x`) })
        yield* r.call({ path: v3(`/users/${KEY}/overall_quotas`), key: null })
        yield* r.call({ path: v3(`/users/${KEY}/overall_quotas`), key: "wrong-key-0000000000" })
        for (
          const query of [
            "?start_date=20240501&end_date=20240507",
            "?start_date=20240507",
            "?end_date=20240507",
            "?start_date=2024-05-01",
            "?start_date=20240230&end_date=20240301",
            "?start_date=20240510&end_date=20240501",
            "?start_date=20230101&end_date=20240507"
          ]
        ) {
          yield* r.call({ path: v3(`/users/${KEY2}/api_usage${query}`), key: KEY2 })
        }
        yield* r.call({ path: v3(`/users/${KEY}/api_usage?start_date=20240507&end_date=20240507`) })
      })
  )

  // Added with ?relationships= on object requests (a deliberate fidelity change): the report with each
  // relationship's first page in data.relationships; the same requests without the parameter are pinned above.
  scenario("relationships on objects", () => ({ apiKeys: [KEY] }), (r) =>
    Effect.gen(function*() {
      for (
        const path of [
          `/files/${knownFile}?relationships=contacted_domains,comments`,
          `/files/${knownMd5}?relationships=votes`,
          `/files/${knownFile}?relationships=`,
          `/files/${knownFile}?relationships=nonsense`,
          `/files/${unknownFile}?relationships=comments`,
          `/urls/${urlId(knownUrl)}?relationships=last_serving_ip_address,contacted_ips`,
          `/domains/${knownDomain}?relationships=resolutions,parent`,
          `/ip_addresses/${knownIp}?relationships=urls`
        ]
      ) {
        yield* r.call({ path: v3(path) })
      }
    }))

  scenario("collections", () => ({ apiKeys: [KEY, KEY2] }), (r) =>
    Effect.gen(function*() {
      const objects = [
        `/files/${knownFile}`,
        `/urls/${urlId(knownUrl)}`,
        `/domains/${knownDomain}`,
        `/ip_addresses/${knownIp}`
      ]
      for (
        const [object, relationship] of [
          [objects[0], "contacted_domains"],
          [objects[0], "dropped_files"],
          [objects[1], "contacted_ips"],
          [objects[2], "resolutions"],
          [objects[3], "urls"]
        ] as const
      ) {
        yield* r.call({ path: v3(`${object}/${relationship}`) })
        yield* walk(r, v3(`${object}/${relationship}`), 7)
        yield* r.call({ path: v3(`${object}/relationships/${relationship}?limit=40`) })
      }
      for (const path of [`${objects[1]}/last_serving_ip_address`, `${objects[1]}/network_location`]) {
        yield* r.call({ path: v3(path) })
        yield* r.call({ path: v3(path.replace(/\/([a-z_]+)$/, "/relationships/$1")) })
      }
      yield* r.call({ path: v3(`${objects[2]}/parent`) })
      yield* r.call({ path: v3(`${objects[2]}/relationships/parent`) })
      for (
        const query of ["?limit=100", "?limit=0", "?limit=abc", "?limit=", "?limit=2.5", "?cursor=bogus", "?cursor="]
      ) {
        yield* r.call({ path: v3(`${objects[0]}/similar_files${query}`) })
      }
      yield* r.call({
        path: v3(`${objects[0]}/similar_files?cursor=${Buffer.from("vt-emulator:1000").toString("base64url")}`)
      })
      for (
        const path of [
          `${objects[0]}/no_such_relationship`,
          `${objects[0]}/relationships`,
          `${objects[0]}/relationships/no_such_relationship`,
          `${objects[0]}/relationships/a/b`,
          `${objects[0]}/x/y`,
          `${objects[1]}/behaviour_summary`,
          `${objects[2]}/analyse`,
          `${objects[0]}/analyse`,
          `/files/${unknownFile}/contacted_domains`,
          `/files/xyz/contacted_domains`,
          `/urls/${urlId(unknownUrl)}/contacted_ips`,
          `/domains/not_a_domain/resolutions`,
          `/ip_addresses/300.1.1.1/urls`
        ]
      ) {
        yield* r.call({ path: v3(path) })
      }
      yield* r.call({ method: "DELETE", path: v3(`${objects[0]}/contacted_domains`) })
      yield* r.call({ method: "POST", path: v3(`${objects[0]}/relationships/contacted_domains`) })
      // Comments and votes, seeded then posted
      for (const object of objects) {
        yield* walk(r, v3(`${object}/comments`), 10)
        yield* r.call({ path: v3(`${object}/votes?limit=40`) })
        yield* r.call({ path: v3(`${object}/relationships/comments?limit=3`) })
      }
      yield* r.call(
        postJson(v3(`${objects[0]}/comments`), { data: { type: "comment", attributes: { text: "Seen #Twice <b>" } } })
      )
      yield* r.call(
        postJson(v3(`${objects[0]}/comments`), { data: { type: "comment", attributes: { text: "again" } } })
      )
      yield* r.call(
        postJson(v3(`${objects[2]}/comments`), { data: { type: "comment", attributes: { text: "ü #ünï" } } })
      )
      for (
        const body of [
          { data: { type: "comment", attributes: { text: "" } } },
          { data: { type: "vote", attributes: { text: "x" } } },
          { data: { type: "comment" } },
          {},
          "not json"
        ]
      ) {
        yield* r.call(postJson(v3(`${objects[0]}/comments`), body))
      }
      yield* r.call(
        postJson(v3(`/files/${unknownFile}/comments`), { data: { type: "comment", attributes: { text: "x" } } })
      )
      yield* r.call({ method: "PUT", path: v3(`${objects[0]}/comments`) })
      yield* r.call({ path: v3(`${objects[0]}/comments?limit=3`) })
      yield* r.call({ path: v3(`${objects[2]}/comments?limit=2`) })
      yield* r.call(
        postJson(v3(`${objects[1]}/votes`), { data: { type: "vote", attributes: { verdict: "malicious" } } })
      )
      yield* r.call(
        postJson(v3(`${objects[1]}/votes`), { data: { type: "vote", attributes: { verdict: "harmless" } } })
      )
      yield* r.call({
        ...postJson(v3(`${objects[1]}/votes`), { data: { type: "vote", attributes: { verdict: "harmless" } } }),
        key: KEY2
      })
      for (
        const body of [
          { data: { type: "vote", attributes: { verdict: "meh" } } },
          { data: { type: "vote" } },
          { data: { type: "comment", attributes: { verdict: "harmless" } } },
          "[1"
        ]
      ) {
        yield* r.call(postJson(v3(`${objects[3]}/votes`), body))
      }
      yield* r.call(
        postJson(v3(`${objects[3]}/votes`), { data: { type: "vote", attributes: { verdict: "harmless" } } })
      )
      yield* r.call({ path: v3(`${objects[1]}/votes?limit=3`) })
      yield* r.call({ path: v3(`${objects[3]}/relationships/votes?limit=2`) })
      yield* r.call({ method: "POST", path: v3(`${objects[0]}/votes`), body: "x".repeat(1024 * 1024 + 10) })
    }))

  scenario("behaviour", () => ({}), (r) =>
    Effect.gen(function*() {
      yield* r.call({ path: v3(`/files/${knownFile}/behaviour_summary`) })
      yield* r.call({ path: v3(`/files/${knownFile2}/behaviour_summary`) })
      yield* r.call({ path: v3(`/files/${knownFile}/behaviour_mitre_trees`) })
      yield* r.call({ path: v3(`/files/${knownMd5}/behaviour_mitre_trees`) })
      const list = yield* r.call({ path: v3(`/files/${knownFile}/behaviours`) })
      yield* r.call({ path: v3(`/files/${knownFile}/behaviours?limit=2`) })
      yield* walk(r, v3(`/files/${knownFile}/behaviours`), 2)
      for (const path of ["behaviour_summary", "behaviour_mitre_trees", "behaviours"]) {
        yield* r.call({ path: v3(`/files/${unknownFile}/${path}`) })
        yield* r.call({ method: "POST", path: v3(`/files/${knownFile}/${path}`) })
      }
      const ids = (json(list).data as Array<{ id: string }>).map((b) => b.id)
      for (const id of ids) {
        yield* r.call({ path: v3(`/file_behaviours/${encodeURIComponent(id)}`) })
        for (const artefact of ["html", "evtx", "memdump", "pcap", "other"]) {
          yield* r.call({ path: v3(`/file_behaviours/${encodeURIComponent(id)}/${artefact}`) })
        }
      }
      for (
        const path of [
          `/file_behaviours/${knownFile}_NoSuchSandbox`,
          `/file_behaviours/${knownFile}_NoSuchSandbox/html`,
          `/file_behaviours/${unknownFile}_Zenbox`,
          `/file_behaviours/${unknownFile}_Zenbox/html`,
          `/file_behaviours/nope`,
          `/file_behaviours/${encodeURIComponent(ids[0])}/html/x`,
          `/file_behaviours/${ids[0].toUpperCase().replace("_", "%5F")}`
        ]
      ) {
        yield* r.call({ path: v3(path) })
      }
      yield* r.call({ method: "POST", path: v3(`/file_behaviours/${encodeURIComponent(ids[0])}`) })
      yield* r.call({ path: v3(`/file_behaviours/${encodeURIComponent(ids[0])}`), key: null })
    }))

  scenario(
    "uploads and analyses",
    () => ({
      apiKeys: [KEY],
      maxUploadBytes: 64,
      maxLargeUploadBytes: 128,
      analysisQueuedMs: 10_000,
      analysisCompletedMs: 30_000
    }),
    (r, clock) =>
      Effect.gen(function*() {
        const content = "uploaded content one\r\n--not-the-boundary\r\n"
        const sha = sha256(content)
        yield* r.call({ path: v3(`/files/${knownFile}`) })
        const uploaded = yield* r.call(upload(v3("/files"), content, undefined, { password: "infected" }))
        const analysis = (json(uploaded).data as { id: string }).id
        yield* r.call({ path: v3(`/analyses/${analysis}`) })
        yield* r.call({ path: v3(`/analyses/${encodeURIComponent(analysis)}`) })
        yield* r.call({ path: v3(`/analyses/${analysis}/item`) })
        yield* r.call({ path: v3(`/files/${sha}`) })
        yield* r.call({ path: v3(`/files/${knownFile}`) })
        yield* r.call({ path: v3(`/files/${unknownFile}`) })
        yield* r.call({ path: v3(`/files/xyz`) })
        advance(clock, r, 10_000)
        yield* r.call({ path: v3(`/analyses/${analysis}`) })
        yield* r.call({ path: v3(`/analyses/${analysis}/item`) })
        advance(clock, r, 20_000)
        yield* r.call({ path: v3(`/analyses/${analysis}`) })
        yield* r.call({ path: v3(`/analyses/${analysis}`) })
        yield* r.call({ path: v3(`/analyses/${analysis}/item`) })
        const item = yield* r.call({ path: v3(`/files/${sha}`) })
        const attributes = (json(item).data as { attributes: { md5: string; sha1: string } }).attributes
        yield* r.call({ path: v3(`/files/${attributes.md5}`) })
        yield* r.call({ path: v3(`/files/${attributes.sha1.toUpperCase()}`) })
        yield* r.call({ path: v3(`/files/${sha}/behaviour_summary`) })
        yield* r.call({ path: v3(`/files/${sha}/behaviours`) })
        yield* r.call({ path: v3(`/files/${sha}/comments?limit=2`) })
        yield* r.call({ path: v3(`/files/${sha}/contacted_urls?limit=2`) })
        // A resubmission keeps the report; a rescan makes a new analysis
        yield* r.call(upload(v3("/files"), content))
        yield* r.call({ method: "POST", path: v3(`/files/${sha}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/files/${knownFile}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/files/${knownFile}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/files/${unknownFile}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/files/xyz/analyse`) })
        yield* r.call({ path: v3(`/files/${knownFile}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/urls/${urlId(knownUrl)}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/urls/${VtEmulator.urlObjectId(unknownUrl2)}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/domains/${knownDomain}/analyse`) })
        yield* r.call({ method: "POST", path: v3(`/ip_addresses/${knownIp}/analyse`) })
        // Refused uploads
        yield* r.call(upload(v3("/files"), "x".repeat(65)))
        yield* r.call(upload(v3("/files"), "x".repeat(64)))
        yield* r.call({ ...upload(v3("/files"), Buffer.alloc(300 * 1024, 1)), label: "multipart file of 300 KiB" })
        yield* r.call({ method: "POST", path: v3("/files"), headers: { "content-type": "text/plain" }, body: "plain" })
        const fieldOnly = multipart([{ name: "other", content: "x" }])
        yield* r.call({ method: "POST", path: v3("/files"), headers: fieldOnly.headers, body: fieldOnly.body })
        yield* r.call({
          method: "POST",
          path: v3("/files"),
          headers: fieldOnly.headers,
          body: fieldOnly.body.subarray(0, fieldOnly.body.length - 10)
        })
        yield* r.call({ ...upload(v3("/files"), "a"), key: null })
        yield* r.call({ path: v3("/files"), method: "PUT" })
        // Upload URLs
        const first = yield* r.call({ path: v3("/files/upload_url") })
        const path = (url: string) => url.replace(/^http:\/\/[^/]+/, "")
        const token = path(json(first).data as string)
        yield* r.call({ ...upload(token, "x".repeat(100)), method: "GET" })
        yield* r.call(upload(token, "x".repeat(100), null))
        yield* r.call(upload(token, "large upload content"))
        yield* r.call(upload(token, "large upload content"))
        const second = path(json(yield* r.call({ path: v3("/files/upload_url") })).data as string)
        yield* r.call(upload(second, "y".repeat(129)))
        const third = path(json(yield* r.call({ path: v3("/files/upload_url") })).data as string)
        yield* r.call({ method: "POST", path: third, headers: { "content-type": "text/plain" }, body: "x" })
        yield* r.call(upload("/_ah/upload/unknown-token", "z"))
        yield* r.call({ method: "POST", path: v3("/files/upload_url") })
        yield* r.call({ path: v3("/files/upload_url"), key: null })
        // URL submissions
        const submitted = yield* r.call(form(v3("/urls"), { url: unknownUrl }))
        const urlAnalysis = (json(submitted).data as { id: string }).id
        yield* r.call(form(v3("/urls"), { url: unknownUrl }))
        const urlForm = multipart([{ name: "url", content: unknownUrl2 }])
        yield* r.call({ method: "POST", path: v3("/urls"), headers: urlForm.headers, body: urlForm.body })
        yield* r.call(form(v3("/urls"), { url: "nope" }))
        yield* r.call(form(v3("/urls"), { url: "" }))
        yield* r.call(form(v3("/urls"), {}))
        yield* r.call({ method: "POST", path: v3("/urls"), body: "x".repeat(1024 * 1024 + 1), label: "1 MiB + 1" })
        yield* r.call({ method: "POST", path: v3("/urls"), headers: fieldOnly.headers, body: "--broken" })
        yield* r.call({ path: v3(`/urls/${urlId(unknownUrl)}`) })
        yield* r.call({ path: v3(`/analyses/${urlAnalysis}`) })
        advance(clock, r, 30_000)
        yield* r.call({ path: v3(`/analyses/${urlAnalysis}`) })
        yield* r.call({ path: v3(`/analyses/${urlAnalysis}/item`) })
        yield* r.call({ path: v3(`/urls/${VtEmulator.urlObjectId(unknownUrl)}`) })
        yield* r.call({ path: v3(`/urls/${VtEmulator.urlObjectId(unknownUrl2)}`) })
        yield* r.call({ path: v3(`/urls/${VtEmulator.urlObjectId(unknownUrl)}/comments?limit=1`) })
        yield* r.call({ path: v3(`/analyses/${analysis}/other`) })
        yield* r.call({ method: "POST", path: v3(`/analyses/${analysis}`) })
        yield* r.call({ path: v3("/analyses/nope") })
        yield* r.call({ path: v3("/analyses/nope/item") })
        yield* r.call({ path: v3(`/users/${KEY}/api_usage`) })
      })
  )

  scenario(
    "legacy v2",
    () => ({ apiKeys: [KEY], inactiveKeys: [INACTIVE], maxUploadBytes: 64 }),
    (r, clock) =>
      Effect.gen(function*() {
        const q = (query: Record<string, string>) => ({ apikey: KEY, ...query })
        for (
          const resource of [
            knownFile,
            knownFile.toUpperCase(),
            knownMd5,
            knownSha1,
            unknownFile,
            "xyz",
            `${knownFile}-1700000000`
          ]
        ) {
          yield* r.call({ path: v2("file/report", q({ resource })), key: null })
        }
        yield* r.call({ path: v2("file/report", q({})), key: null })
        yield* r.call({ path: v2("file/report", { resource: knownFile }), key: null })
        yield* r.call({ path: v2("file/report", { resource: knownFile }) })
        yield* r.call({ path: v2("file/report", { apikey: "wrong-key-0000000000", resource: knownFile }), key: null })
        yield* r.call({ path: v2("file/report", { apikey: INACTIVE, resource: knownFile }), key: null })
        yield* r.call({ path: v2("file/report", { apikey: "", resource: knownFile }), key: null })
        yield* r.call({ path: v2("file/report", q({ resource: KEY })), key: null })
        yield* r.call({ ...form(v2("file/report"), { apikey: KEY, resource: knownFile }), key: null })
        yield* r.call({ ...form(v2("file/report", { apikey: KEY }), { resource: knownFile }), key: null })
        const fields = multipart([{ name: "apikey", content: KEY }, { name: "resource", content: knownMd5 }])
        yield* r.call({
          method: "POST",
          path: v2("file/report"),
          headers: fields.headers,
          body: fields.body,
          key: null
        })
        yield* r.call({ method: "POST", path: v2("file/report"), headers: fields.headers, body: "--x", key: null })
        for (const method of ["PUT", "DELETE", "HEAD"]) {
          yield* r.call({ method, path: v2("file/report", q({ resource: knownFile })), key: null })
        }
        for (const endpoint of ["file/nope", "file", "file/report/x", "comments/get"]) {
          yield* r.call({ path: v2(endpoint, q({ resource: knownFile })), key: null })
        }
        // Scans
        const content = "legacy upload"
        yield* r.call({ ...upload(v2("file/scan", q({})), content, null) })
        yield* r.call({ ...upload(v2("file/scan"), content, null, { apikey: KEY }) })
        yield* r.call({ ...upload(v2("file/scan"), content, null) })
        yield* r.call({ ...upload(v2("file/scan", q({})), "x".repeat(65), null) })
        yield* r.call({ method: "POST", path: v2("file/scan", q({})), body: "plain", key: null })
        const noFile = multipart([{ name: "apikey", content: KEY }])
        yield* r.call({ method: "POST", path: v2("file/scan"), headers: noFile.headers, body: noFile.body, key: null })
        yield* r.call({ method: "POST", path: v2("file/scan", q({})), headers: noFile.headers, body: "--x", key: null })
        yield* r.call({ path: v2("file/scan", q({})), key: null })
        yield* r.call({ path: v2("file/report", q({ resource: sha256(content) })), key: null })
        yield* r.call({ path: v3(`/files/${sha256(content)}`) })
        // URLs
        for (
          const resource of [
            knownUrl,
            unknownUrl,
            VtEmulator.urlObjectId(knownUrl) ?? "",
            `${VtEmulator.urlObjectId(knownUrl)}-1700000000`,
            "nope",
            sha256("never-seen-url")
          ]
        ) {
          yield* r.call({ path: v2("url/report", q({ resource })), key: null })
        }
        yield* r.call({ path: v2("url/report", q({})), key: null })
        yield* r.call({ path: v2("url/report", q({ resource: unknownUrl, scan: "1" })), key: null })
        yield* r.call({ path: v2("url/report", q({ resource: unknownUrl, scan: "1" })), key: null })
        yield* r.call({
          path: v2("url/report", q({ resource: VtEmulator.urlObjectId(unknownUrl2) ?? "", scan: "1" })),
          key: null
        })
        yield* r.call({ ...form(v2("url/scan"), { apikey: KEY, url: unknownUrl2 }), key: null })
        yield* r.call({ ...form(v2("url/scan"), { apikey: KEY, url: "nope" }), key: null })
        yield* r.call({ ...form(v2("url/scan"), { apikey: KEY }), key: null })
        yield* r.call({ path: v2("url/scan", q({ url: knownUrl })), key: null })
        // Domains and addresses
        for (const domain of [knownDomain, knownDomain.toUpperCase(), unknownDomain, "not_a_domain"]) {
          yield* r.call({ path: v2("domain/report", q({ domain })), key: null })
        }
        yield* r.call({ path: v2("domain/report", q({})), key: null })
        for (const ip of [knownIp, unknownIp, knownIp6, "300.1.1.1"]) {
          yield* r.call({ path: v2("ip-address/report", q({ ip })), key: null })
        }
        yield* r.call({ path: v2("ip-address/report", q({})), key: null })
        advance(clock, r, 60_000)
        yield* r.call({ path: v2("file/report", q({ resource: sha256(content) })), key: null })
        yield* r.call({ path: v2("url/report", q({ resource: unknownUrl })), key: null })
        yield* r.call({ path: v2("url/report", q({ resource: VtEmulator.urlObjectId(unknownUrl) ?? "" })), key: null })
        yield* r.call({ path: v2("url/report", q({ resource: unknownUrl2 })), key: null })
        yield* r.call({ path: v3(`/files/${sha256(content)}`) })
        yield* r.call({ path: v3(`/users/${KEY}/api_usage`) })
      })
  )

  scenario("quota", () => ({ perMinute: 3, perDay: 5, perMonth: 8 }), (r, clock) =>
    Effect.gen(function*() {
      const quotas = () => r.call({ path: v3(`/users/${KEY}/overall_quotas`) })
      yield* quotas()
      for (let i = 0; i < 4; i++) yield* r.call({ path: v3(`/files/${knownFile}`) })
      yield* r.call({ path: v2("domain/report", { apikey: KEY, domain: knownDomain }), key: null })
      yield* r.call({ path: v3("/nope") })
      yield* quotas()
      yield* r.call({ path: v3(`/files/${knownFile}`), key: KEY2 })
      advance(clock, r, 60_000)
      yield* r.call({ path: v3(`/domains/${knownDomain}`) })
      yield* r.call({ path: v3("/nope") })
      yield* r.call({ path: v2("domain/report", { apikey: KEY, domain: knownDomain }), key: null })
      yield* r.call({ path: v3(`/files/${unknownFile}`) })
      yield* quotas()
      yield* r.call({ path: v3(`/users/${KEY}/api_usage`) })
      advance(clock, r, 3_600_000)
      yield* quotas()
      advance(clock, r, 86_400_000)
      for (let i = 0; i < 4; i++) yield* r.call({ path: v3(`/ip_addresses/${knownIp}`) })
      yield* quotas()
      advance(clock, r, 60_000)
      yield* r.call({ path: v3(`/ip_addresses/${knownIp}`) })
      yield* r.call({ path: v3(`/ip_addresses/${knownIp}`) })
      yield* quotas()
      yield* r.call({ path: v3(`/users/${KEY}/api_usage?start_date=20240506&end_date=20240509`) })
      advance(clock, r, 86_400_000 * 25)
      yield* r.call({ path: v3(`/files/${knownFile}`) })
      yield* quotas()
      r.server.update({ perMonth: undefined })
      r.note("update: perMonth removed")
      yield* r.call({ path: v3(`/files/${knownFile}`) })
      yield* quotas()
      r.server.resetQuota()
      r.note("resetQuota")
      yield* quotas()
      yield* r.call({ path: v3(`/users/${KEY}/api_usage`) })
      r.server.update({ perMinute: 1, perDay: undefined })
      r.note("update: perMinute 1, perDay removed")
      yield* r.call({ path: v3(`/files/${knownFile}`) })
      yield* r.call({ path: v3(`/files/${knownFile}`) })
      yield* quotas()
      yield* r.call({ method: "POST", path: "/_emulator/reset", key: null })
      yield* quotas()
      yield* r.call({ path: v3(`/files/${knownFile}`) })
    }))

  scenario("faults", () => ({
    seed: 42,
    latencyMs: 1,
    faults: {
      reset: 0.08,
      truncated: 0.08,
      transient: 0.08,
      tooManyRequests: 0.08,
      deadlineExceeded: 0.08,
      slow: 0.08,
      slowMs: 2,
      error: { status: 424, code: "FailedDependencyError", rate: 0.25 }
    }
  }), (r) =>
    Effect.gen(function*() {
      const requests: ReadonlyArray<Request> = [
        { path: v3(`/files/${knownFile}`) },
        { path: v3(`/files/${unknownFile}`) },
        { path: v3(`/domains/${knownDomain}`) },
        { path: v3(`/urls/${urlId(knownUrl)}/comments?limit=2`) },
        { path: v3(`/users/${KEY}/overall_quotas`) },
        { path: v2("file/report", { apikey: KEY, resource: knownFile }), key: null },
        { path: v2("domain/report", { apikey: KEY, domain: knownDomain }), key: null },
        { path: v3(`/files/${knownFile}`), key: null },
        { path: v3("/nope") },
        { path: v3(`/files/${knownFile}/behaviour_summary`) },
        postJson(v3(`/ip_addresses/${knownIp}/comments`), { data: { type: "comment", attributes: { text: "hi" } } }),
        { path: v3("/files/upload_url") }
      ]
      for (let round = 0; round < 6; round++) {
        for (const request of requests) yield* r.call(request)
      }
      r.server.update({ seed: 7 })
      r.note("update: seed 7")
      for (const request of requests) yield* r.call(request)
      r.server.update({ faults: { error: { status: 400, code: "NotAvailableYet", message: "Later", rate: 1 } } })
      r.note("update: error fault only, with a message")
      for (const request of requests.slice(0, 8)) yield* r.call(request)
      r.server.update({ faults: { transient: 0.5 } })
      r.note("update: transient 0.5")
      yield* r.call({ method: "POST", path: "/_emulator/reset", key: null })
      for (let i = 0; i < 12; i++) yield* r.call({ path: v3(`/files/${knownFile}`) })
    }))

  scenario("pagination styles and admin", () => ({ pagination: "cursor" }), (r) =>
    Effect.gen(function*() {
      const path = v3(`/domains/${knownDomain}/subdomains?limit=4`)
      yield* r.call({ path })
      yield* r.call({ path: v3(`/domains/${knownDomain}/comments?limit=4`) })
      r.server.update({ pagination: "links" })
      r.note("update: pagination links")
      yield* r.call({ path })
      yield* r.call({ path: v3(`/domains/${knownDomain}/relationships/subdomains?limit=40`) })
      r.server.update({ pagination: "both" })
      r.note("update: pagination both")
      yield* r.call({ path })
      yield* r.call({ path: "/_emulator/requests", key: null })
      yield* r.call({ method: "POST", path: "/_emulator/requests", key: null })
      yield* r.call({ path: "/_emulator/reset", key: null })
      yield* r.call({ path: "/_emulator/nope", key: null })
      yield* r.call({ path: "/_emulator/requests?x=1", key: null })
      yield* r.call({ method: "POST", path: "/_emulator/reset", key: null })
      yield* r.call({ path: "/_emulator/requests", key: null })
    }))
})
