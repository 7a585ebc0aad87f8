/**
 * VirusTotal API v3 client (and the legacy v2 reports) as an Effect service with typed errors.
 *
 * @since 0.1.0
 */

/**
 * Analyses: get, wait until completed on a Schedule, the analysed item.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Analysis from "./Analysis.js"

/**
 * Sandbox behaviour of files: summary, MITRE trees, per-sandbox reports and their artefacts.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Behaviour from "./Behaviour.js"

/**
 * Collections as lazy Streams following `meta.cursor` / `links.next`.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Collection from "./Collection.js"

/**
 * Comments on files, URLs, domains and IP addresses.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Comments from "./Comments.js"

/**
 * Domain reports.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Domains from "./Domains.js"

/**
 * Files: reports, streamed uploads (through one-time upload URLs above 32 MB), rescans, downloads.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Files from "./Files.js"

/**
 * IP address reports.
 *
 * @since 0.1.0
 * @category modules
 */
export * as IpAddresses from "./IpAddresses.js"

/**
 * VirusTotal Intelligence search (premium): matching objects followed page by page.
 *
 * @since 0.2.0
 * @category modules
 */
export * as Intelligence from "./Intelligence.js"

/**
 * The legacy v2 API: reports and scans, `response_code` mapped onto the tagged errors.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Legacy from "./Legacy.js"

/**
 * The key's quotas: `overall_quotas` and `api_usage`.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Quota from "./Quota.js"

/**
 * Relationships: related objects and descriptors as lazy Streams.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Relationships from "./Relationships.js"

/**
 * URLs: reports, submissions, rescans.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Urls from "./Urls.js"

/**
 * Votes on files, URLs, domains and IP addresses.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Votes from "./Votes.js"

/**
 * The VirusTotal API client service, its layers and its answer types.
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

/**
 * Object references, attribute schemas and typed accessors.
 *
 * @since 0.1.0
 * @category modules
 */
export * as VtObject from "./VtObject.js"
