/**
 * Fault injection: one seeded generator for the whole server, so that a seed picks the same requests on every run.
 * Each admitted request draws in a fixed order and stops at the first hit; the draw order is part of the contract.
 * Some faults answer in place of the route; the others (reset, truncated, slow) change how its answer is delivered.
 */
import type { FaultOptions } from "./model.js"
import { mulberry32, type Prng } from "./prng.js"
import * as R from "./reply.js"

export type FaultKind = "reset" | "truncated" | "transient" | "tooManyRequests" | "deadlineExceeded" | "slow" | "error"

const ORDER: ReadonlyArray<Exclude<keyof FaultOptions, "slowMs" | "error">> = [
  "reset",
  "truncated",
  "transient",
  "tooManyRequests",
  "deadlineExceeded",
  "slow"
]

export class Faults {
  private rng: Prng

  constructor(seed: number) {
    this.rng = mulberry32(seed)
  }

  reseed(seed: number): void {
    this.rng = mulberry32(seed)
  }

  /** The fault that hits this request, if any; draws nothing when no fault is configured. */
  draw(faults: FaultOptions | undefined): FaultKind | undefined {
    if (faults === undefined) return undefined
    for (const kind of ORDER) {
      const rate = faults[kind]
      if (rate !== undefined && rate > 0 && this.rng() < rate) return kind
    }
    if (faults.error !== undefined) {
      const rate = faults.error.rate ?? 1
      if (rate > 0 && this.rng() < rate) return "error"
    }
    return undefined
  }
}

const v2Transient = R.empty(503)
const v2TooManyRequests = R.empty(204)
const v2DeadlineExceeded = R.empty(504)

/** The answer a fault puts in place of the route's; undefined for the faults that only change its delivery. */
export const replacement = (
  kind: FaultKind,
  faults: FaultOptions | undefined,
  dialect: R.Dialect
): R.Reply | undefined => {
  const v3 = dialect === "v3"
  switch (kind) {
    case "transient":
      return v3 ? R.transient : v2Transient
    case "tooManyRequests":
      return v3 ? R.tooManyRequests : v2TooManyRequests
    case "deadlineExceeded":
      return v3 ? R.deadlineExceeded : v2DeadlineExceeded
    case "error": {
      const error = faults?.error
      const status = error?.status ?? 500
      return v3
        ? R.error(status, error?.code ?? "UnknownError", error?.message ?? `Injected ${error?.code}`)
        : R.empty(status)
    }
    default:
      return undefined
  }
}
