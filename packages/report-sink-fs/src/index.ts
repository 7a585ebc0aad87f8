/**
 * A ReportSink on a local directory: atomic writes, not-found records, resume.
 *
 * @since 0.1.0
 */

/**
 * The directory sink: `make` and `layer` from a directory and the common sink options.
 *
 * @since 0.1.0
 * @category modules
 */
export * as ReportSinkFs from "./ReportSinkFs.js"
