/**
 * @since 0.1.0
 */
export * as Gzip from "./Gzip.js"

/**
 * @since 0.1.0
 */
export * as ReportKey from "./ReportKey.js"

/**
 * @since 0.1.0
 */
export * as ReportSink from "./ReportSink.js"

/**
 * @since 0.1.0
 */
export * as StoreLayout from "./StoreLayout.js"
