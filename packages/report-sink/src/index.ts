/**
 * @since 0.1.0
 */
export * as ReportKey from "./ReportKey.js"

/**
 * @since 0.1.0
 */
export * as ReportSink from "./ReportSink.js"
