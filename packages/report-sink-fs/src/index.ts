/**
 * @since 0.1.0
 */
export * as ReportSinkFs from "./ReportSinkFs.js"
