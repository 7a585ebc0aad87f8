/**
 * Claims on ids in flight, shared between processes: before a process requests an id that its store does not have
 * yet, it claims the id; another process that wants the same id meanwhile finds it held and waits for the store to
 * have it (or for the claim to expire: a process that dies holding claims loses them after a lease, and the ids
 * are taken over). A PostgreSQL implementation is `PgClaims` in `@vt-harvest/report-sink-pg`.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { SinkError } from "./internal/model.js"
import type { ReportKey } from "./ReportKey.js"

/**
 * What a claim comes to: the id is this process's now (`takenFrom`: the process whose expired claim it took over),
 * or another process holds it (`retryIn`: milliseconds until that claim expires unless renewed).
 *
 * @since 0.3.0
 * @category models
 */
export type Attempt =
  | { readonly _tag: "Claimed"; readonly takenFrom: string | undefined }
  | { readonly _tag: "Held"; readonly holder: string; readonly retryIn: number }

/**
 * Claims shared between processes. `scope` names what the ids are claimed for (the command and its store), so that
 * the same id in two different stores is not one claim.
 *
 * @since 0.3.0
 * @category models
 */
export interface Service {
  /** Where the claims are kept, for messages (no password). */
  readonly location: string
  /** This process, as other processes see it holding a claim (host, process id). */
  readonly owner: string
  /** Claims `key` in `scope` for this process: one round trip. */
  readonly acquire: (scope: string, key: ReportKey) => Effect.Effect<Attempt, SinkError>
  /** Gives the claim back (the id is in the store, or failed for good). */
  readonly release: (scope: string, key: ReportKey) => Effect.Effect<void, SinkError>
}

/**
 * The claims a pipeline shares with other processes.
 *
 * @since 0.3.0
 * @category tags
 */
export class ReportClaims extends Context.Tag("@vt-harvest/report-sink/ReportClaims")<ReportClaims, Service>() {}
