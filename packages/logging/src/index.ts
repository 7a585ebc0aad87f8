/**
 * Logger layers for vt-harvest programs: the run log file and the console.
 *
 * @since 0.1.0
 */

/**
 * A logger printing short human lines on stderr, coloured only on a terminal.
 *
 * @since 0.1.0
 * @category modules
 */
export * as ConsoleLog from "./ConsoleLog.js"

/**
 * One log file per run (`<dir>/YYYYMMDD_HHMMSS.log`), never overwritten, as text lines or JSON lines.
 *
 * @since 0.1.0
 * @category modules
 */
export * as RunLog from "./RunLog.js"
