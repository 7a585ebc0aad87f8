/**
 * The numbers that decide how fast a VirusTotal key may be used: the published request limits of the key
 * and how the client reacts to refusals and transient failures.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * A quota policy. A limit that is `undefined` is not enforced on the client side (VirusTotal may still
 * refuse, which the quota gate handles). Limits are counted per gate (one per process, or one shared ledger), per
 * UTC hour, day and month, which is how VirusTotal counts them; the per-minute limit is kept by spacing request
 * starts evenly.
 *
 * @since 0.1.0
 * @category models
 */
export interface QuotaPolicy {
  /** Requests per minute; request starts are spaced `60 s / perMinute` apart for the whole process. */
  readonly perMinute: number | undefined
  /**
   * Requests per UTC hour counted by the gate's own ledger (VirusTotal reports an hourly window for some keys;
   * the gate learns it from `overall_quotas`). Optional: a policy without it has no hourly limit.
   *
   * @since 0.2.0
   */
  readonly perHour?: number | undefined
  /** Requests per UTC day counted by the process's own ledger. */
  readonly perDay: number | undefined
  /** Requests per UTC month counted by the process's own ledger. */
  readonly perMonth: number | undefined
  /** How many items may be in flight at once (the spacing still applies across all of them). */
  readonly concurrency: number
  /** How long every worker pauses after a first `QuotaExceededError`: VirusTotal's shortest window. */
  readonly quotaWindow: Duration.Duration
  /** Extra wait after a UTC day or month boundary, so clocks that disagree by a little do not cost a refusal. */
  readonly resetMargin: Duration.Duration
  /** How many times one item is retried after transient failures before it fails for good. */
  readonly maxTransientRetries: number
  /** The first transient backoff delay; it doubles on each retry. */
  readonly backoffBase: Duration.Duration
  /** The longest transient backoff delay. */
  readonly backoffCap: Duration.Duration
}

const defaults = {
  quotaWindow: Duration.minutes(1),
  resetMargin: Duration.seconds(5),
  maxTransientRetries: 5,
  backoffBase: Duration.seconds(1),
  backoffCap: Duration.minutes(1)
} as const

/**
 * The limits of a public (free) VirusTotal API key: 4 requests per minute, 500 per day, 15,500 per month,
 * one item at a time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const publicTier: QuotaPolicy = {
  perMinute: 4,
  perDay: 500,
  perMonth: 15_500,
  concurrency: 1,
  ...defaults
}

/**
 * A premium key: the limits depend on the contract, so none is enforced unless given; 16 items in flight.
 *
 * @since 0.1.0
 * @category constructors
 */
export const premiumTier: QuotaPolicy = {
  perMinute: undefined,
  perDay: undefined,
  perMonth: undefined,
  concurrency: 16,
  ...defaults
}

/**
 * A policy from a preset and the limits a user overrides; an override of `undefined` for a limit removes it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (base: QuotaPolicy, overrides: Partial<QuotaPolicy>): QuotaPolicy => ({ ...base, ...overrides })

/**
 * The minimum time between two request starts anywhere in the process. Rounded up to a whole millisecond
 * so that a per-minute limit that does not divide a minute evenly is never exceeded; zero when the policy
 * has no per-minute limit, infinite for a limit of zero.
 *
 * @since 0.1.0
 * @category utils
 */
export const spacing = (p: QuotaPolicy): Duration.Duration =>
  p.perMinute === undefined || p.perMinute === Infinity
    ? Duration.zero
    : p.perMinute <= 0
    ? Duration.infinity
    : Duration.millis(Math.ceil(60_000 / p.perMinute))
