/**
 * The commands as a model read from @effect/cli's own descriptions (their help and usage). What is made from the
 * model (the help text, the completion scripts) is done here rather than by the library: see helpText.ts and
 * completions.ts.
 */
import { CliConfig, Command, type HelpDoc } from "@effect/cli"
import type { Span } from "@effect/cli/HelpDoc/Span"
import type { CommandSpec } from "./helpText.js"

const spanText = (span: Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    default:
      return spanText(span.value)
  }
}

/** What @effect/cli adds to every description: the value's type, "optional", "can be set from the environment". */
const boilerplate =
  /^(?:A user-defined piece of text(?: that is confidential)?\.|An integer\.|A floating point number\.|A true or false value\.|One of the following: .*|A date without a time-zone.*|This setting is optional\..*|This option can be set from environment variables\.)$/

const paragraphs = (doc: HelpDoc.HelpDoc): Array<string> => {
  switch (doc._tag) {
    case "Paragraph": {
      const text = spanText(doc.value)
      return boilerplate.test(text) ? [] : [text]
    }
    case "Sequence":
      return [...paragraphs(doc.left), ...paragraphs(doc.right)]
    case "Enumeration":
      return doc.elements.flatMap(paragraphs)
    default:
      return []
  }
}

const optional = (doc: HelpDoc.HelpDoc): boolean => {
  switch (doc._tag) {
    case "Paragraph":
      return spanText(doc.value).startsWith("This setting is optional.")
    case "Sequence":
      return optional(doc.left) || optional(doc.right)
    default:
      return false
  }
}

/** The sections of a help document: header → its content. */
const sections = (doc: HelpDoc.HelpDoc, into = new Map<string, Array<HelpDoc.HelpDoc>>(), current = { name: "" }) => {
  if (doc._tag === "Sequence") {
    sections(doc.left, into, current)
    sections(doc.right, into, current)
  } else if (doc._tag === "Header") {
    current.name = spanText(doc.value)
  } else if (doc._tag !== "Empty") {
    into.set(current.name, [...(into.get(current.name) ?? []), doc])
  }
  return into
}

const definitions = (docs: ReadonlyArray<HelpDoc.HelpDoc>): Array<readonly [string, HelpDoc.HelpDoc]> =>
  docs.flatMap((doc) =>
    doc._tag === "DescriptionList" ? doc.definitions.map(([term, d]) => [spanText(term), d] as const) : []
  )

const config = CliConfig.make({ showBuiltIns: false, showTypes: false })

/** The model of `command` (named by `path`) and of the given subcommands. */
export const spec = <Name extends string, R, E, A>(
  command: Command.Command<Name, R, E, A>,
  path: ReadonlyArray<string>,
  subcommands: ReadonlyArray<CommandSpec> = []
): CommandSpec => {
  const parts = sections(Command.getHelp(command, config))
  return {
    path,
    description: (parts.get("DESCRIPTION") ?? []).flatMap(paragraphs).join("\n"),
    args: definitions(parts.get("ARGUMENTS") ?? []).map(([term, doc]) => ({
      // `<path>...` or `<path> 1+` (at least one), as @effect/cli writes a repeated argument.
      name: term.replace(/(?:\.\.\.|\s+\d+\+)$/, ""),
      repeated: /(?:\.\.\.|\s+\d+\+)$/.test(term),
      optional: optional(doc),
      description: paragraphs(doc).join("\n")
    })),
    options: definitions(parts.get("OPTIONS") ?? []).map(([term, doc]) => {
      const inner = term.replace(/^\((.*)\)$/, "$1")
      const names = inner.match(/^(?:-{1,2}[\w-]+(?:, )?)+/)?.[0] ?? inner
      const value = inner.slice(names.length).trim()
      return {
        names: names.split(", ").map((name) => name.trim()),
        value: value === "" ? undefined : value,
        description: paragraphs(doc).join("\n")
      }
    }),
    subcommands
  }
}
