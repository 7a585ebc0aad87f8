import * as ParseResult from "effect/ParseResult"

/**
 * A decoding failure in a line: where in the document and what was found, for at most three places, instead of the
 * schema's whole type (which runs to kilobytes for a report). A struct's type is named "an object".
 *
 * @internal
 */
export const describeParseError = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const shown = issues.slice(0, 3).map((issue) => {
    const message = issue.message.replace(/^Expected \{.*\}, actual /s, "Expected an object, actual ")
    const brief = message.length > 160 ? `${message.slice(0, 160)}…` : message
    return issue.path.length > 0 ? `at ${issue.path.map(String).join(".")}: ${brief}` : brief
  })
  return `${shown.join("; ")}${issues.length > 3 ? ` (and ${issues.length - 3} more)` : ""}`
}
