/**
 * A local VirusTotal API v3 server for tests, demos and benchmarks.
 *
 * @since 0.1.0
 */

/**
 * A local VirusTotal API v3 server: quotas, faults, request log.
 *
 * @since 0.1.0
 * @category modules
 */
export * as VtEmulator from "./VtEmulator.js"
