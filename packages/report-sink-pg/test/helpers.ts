import type { ReportSink } from "@vt-harvest/report-sink"
import { ReportKey } from "@vt-harvest/report-sink"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import pg from "pg"
import { inject } from "vitest"

export const url = (): string => inject("postgresUrl")

let sequence = 0

/** A schema name no other test uses. */
export const freshSchema = (name = "t"): string =>
  `${name}_${process.pid}_${++sequence}_${Math.random().toString(36).slice(2, 8)}`

export const key = (s: string): ReportKey.ReportKey => Either.getOrThrow(ReportKey.make(s))
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b)

export const listed = (sink: ReportSink.Service) =>
  Effect.map(
    Stream.runCollect(sink.list),
    (entries) => Chunk.toReadonlyArray(entries).map((e) => `${e.presence}:${e.key}`).sort()
  )

/** A client of its own, closed with the scope: to look at the tables behind the sink's back. */
export const client = (connectionString = url()) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end())
  )

export const sql = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.Client,
  text: string,
  values: ReadonlyArray<unknown> = []
) => Effect.promise(() => client.query<R>(text, [...values]).then((result) => result.rows))
