// The plain-Node floor of a harvest: what a script with no framework does for the same job as `vt-harvest files`,
// and nothing more. For every id of the input: a GET of /files/<id> over a keep-alive connection (node:http, at most
// `--concurrency` at once, the x-apikey header, `accept: application/json` and `accept-encoding: gzip` as the CLI
// sends them, a gzip answer decompressed), the answer checked (status 200, `JSON.parse`, `data.id` is the id asked
// for), then written to a temporary file in the store and renamed to `<id>.json`. bench/cpu.mjs runs it beside the
// CLI, on the same emulator, and compares their CPU time per report.
//
//   node bench/floor.mjs --base-url <…/api/v3> --out <dir> [--concurrency 16] ids.txt      (VT_API_KEY: the key)
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as zlib from "node:zlib"

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    "base-url": { type: "string" },
    out: { type: "string" },
    concurrency: { type: "string", default: "16" }
  }
})
const base = new URL(values["base-url"])
const out = values.out
const concurrency = Number(values.concurrency)
const key = process.env.VT_API_KEY ?? ""
const ids = fs.readFileSync(positionals[0], "utf8").split("\n").filter((line) => line !== "")
fs.mkdirSync(out, { recursive: true })

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
const headers = { "x-apikey": key, accept: "application/json", "accept-encoding": "gzip" }

const get = (id) =>
  new Promise((resolve, reject) => {
    const request = http.get({
      agent,
      host: base.hostname,
      port: base.port,
      path: `${base.pathname}/files/${id}`,
      headers
    }, (response) => {
      const chunks = []
      response.on("data", (chunk) => chunks.push(chunk))
      response.on("error", reject)
      response.on("end", () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: response.statusCode,
          body: response.headers["content-encoding"] === "gzip" ? zlib.gunzipSync(body) : body
        })
      })
    })
    request.on("error", reject)
  })

let saved = 0
let temp = 0
const one = async (id) => {
  const { body, status } = await get(id)
  if (status !== 200) throw new Error(`${id}: HTTP ${status}`)
  const document = JSON.parse(body.toString("utf8"))
  if (document?.data?.id !== id) throw new Error(`${id}: the answer is about another object`)
  const partial = path.join(out, `.${id}.${process.pid}.${temp++}.tmp`)
  await fs.promises.writeFile(partial, body)
  await fs.promises.rename(partial, path.join(out, `${id}.json`))
  saved++
}

let next = 0
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < ids.length) await one(ids[next++])
}))
agent.destroy()
process.stderr.write(`floor: saved ${saved} of ${ids.length}\n`)
