/**
 * A ReportSink on an S3 bucket and prefix (AWS SDK v3): whole-object puts, not-found records, resume.
 *
 * @since 0.1.0
 */

/**
 * The S3 sink (`make`, `layer`) and the S3 client it uses (`S3Client`, `layerS3Client` from the AWS environment).
 *
 * @since 0.1.0
 * @category modules
 */
export * as ReportSinkS3 from "./ReportSinkS3.js"

/**
 * `s3://bucket/prefix` locations: parsing and checking against S3's naming rules.
 *
 * @since 0.1.0
 * @category modules
 */
export * as S3Location from "./S3Location.js"
