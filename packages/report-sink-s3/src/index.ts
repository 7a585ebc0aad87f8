/**
 * @since 0.1.0
 */
export * as ReportSinkS3 from "./ReportSinkS3.js"

/**
 * @since 0.1.0
 */
export * as S3Location from "./S3Location.js"
