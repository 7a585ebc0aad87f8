/**
 * VirusTotal API v3 client as an Effect service with typed errors.
 *
 * @since 0.1.0
 */

/**
 * The VirusTotal API v3 client service, its layers and its answer types.
 *
 * @since 0.1.0
 * @category modules
 */
export * as VtClient from "./VtClient.js"

/**
 * One tagged error per VirusTotal error code, plus transport and decoding failures, and the predicates
 * retry policies are built on.
 *
 * @since 0.1.0
 * @category modules
 */
export * as VtError from "./VtError.js"

/**
 * Validation and normalisation of file hashes, domains, IP addresses and URLs.
 *
 * @since 0.1.0
 * @category modules
 */
export * as VtId from "./VtId.js"
