/**
 * @since 0.1.0
 */
export * as ConsoleLog from "./ConsoleLog.js"

/**
 * @since 0.1.0
 */
export * as RunLog from "./RunLog.js"
