/**
 * VirusTotal quota policies as Effect Schedules and a process-wide quota gate.
 *
 * @since 0.1.0
 */

/**
 * The limits of a key (public and premium presets, overrides) and the spacing they imply.
 *
 * @since 0.1.0
 * @category modules
 */
export * as QuotaPolicy from "./QuotaPolicy.js"

/**
 * The quota rules as plain Schedules: UTC day and month boundaries, the refusal escalation, transient backoff.
 *
 * @since 0.1.0
 * @category modules
 */
export * as QuotaSchedule from "./QuotaSchedule.js"

/**
 * The gate every request of the process passes through (seeded with what the key already used, asking which
 * window is spent after a refusal), and `request`, the whole per-item retry policy.
 *
 * @since 0.1.0
 * @category modules
 */
export * as QuotaGate from "./QuotaGate.js"

/**
 * The quota gate's state machine as pure functions: spacing on a monotonic clock, the UTC hour/day/month ledger,
 * pauses after refusals, the key's learned limits.
 *
 * @since 0.2.0
 * @category modules
 */
export * as GateState from "./GateState.js"

/**
 * Finish-time estimates under a policy, for ETAs.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Planner from "./Planner.js"

/**
 * A quota ledger shared by every process that uses one key (spacing, hour/day/month counts, pauses), the gate's
 * rules on one row; in memory here, in PostgreSQL in `@vt-harvest/report-sink-pg`.
 *
 * @since 0.3.0
 * @category modules
 */
export * as SharedLedger from "./SharedLedger.js"
