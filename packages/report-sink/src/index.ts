/**
 * The store contract shared by every vt-harvest sink: keys, the ReportSink service, the layout and gzip.
 *
 * @since 0.1.0
 */

/**
 * Gzip compression of stored records, and recognising compressed ones.
 *
 * @since 0.1.0
 * @category modules
 */
export * as Gzip from "./Gzip.js"

/**
 * The names reports are stored under (`ReportKey`), and how file hashes, domains, IPs and URLs become one.
 *
 * @since 0.1.0
 * @category modules
 */
export * as ReportKey from "./ReportKey.js"

/**
 * The `ReportSink` service every store implements, its options and errors, and `isPending`, the resume check.
 *
 * @since 0.1.0
 * @category modules
 */
export * as ReportSink from "./ReportSink.js"

/**
 * What a store supplies so that `ReportSink.make` gives it the whole contract: find, read, write, remove and list
 * records.
 *
 * @since 0.2.0
 * @category modules
 */
export * as StorePrimitives from "./StorePrimitives.js"

/**
 * File names of records (`<key>.json`, `<key>.json.gz`) and the not-found directory.
 *
 * @since 0.1.0
 * @category modules
 */
export * as StoreLayout from "./StoreLayout.js"

/**
 * Claims on ids in flight shared between processes, with a lease so that a dead process's claims are taken over.
 *
 * @since 0.3.0
 * @category modules
 */
export * as ReportClaims from "./ReportClaims.js"
