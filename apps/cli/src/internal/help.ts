/**
 * The commands as a model read from @effect/cli's own descriptions (their help and usage), and what is made from it
 * here rather than by the library: the help text (usage lines that name the program, no type boilerplate, wrapped
 * to the terminal or to 100 columns off one) and the zsh and fish completion scripts.
 */
import { CliConfig, Command, type HelpDoc } from "@effect/cli"
import type { Span } from "@effect/cli/HelpDoc/Span"

/** An option: its names (`-o`, `--out`), what its value looks like (`text`, `public | premium`), what it does. */
export interface OptionSpec {
  readonly names: ReadonlyArray<string>
  readonly value: string | undefined
  readonly description: string
}

/** A positional argument (`<input>`, `<path>...`). */
export interface ArgSpec {
  readonly name: string
  readonly repeated: boolean
  readonly optional: boolean
  readonly description: string
}

/** A command with its options, arguments and subcommands. */
export interface CommandSpec {
  readonly path: ReadonlyArray<string>
  readonly description: string
  readonly options: ReadonlyArray<OptionSpec>
  readonly args: ReadonlyArray<ArgSpec>
  readonly subcommands: ReadonlyArray<CommandSpec>
}

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

// -- help text -----------------------------------------------------------------------------------------------------

/** A description as flowing text: its line breaks were laid out for one width, except before an example. */
const flowing = (text: string) => text.replace(/\n(?!Example:)/g, " ")

/** The first sentence of a description, for a list of commands. */
export const summary = (text: string): string => {
  const flat = flowing(text).split("\n")[0]
  const end = flat.search(/\.(?:\s|$)/)
  return end === -1 ? flat : flat.slice(0, end + 1)
}

/** Words of `text` wrapped to `width`, each line after the first (and the first) indented. */
export const wrap = (text: string, width: number, indent: string, first = indent): Array<string> =>
  text.split("\n").flatMap((paragraph, i) => {
    const lines: Array<string> = []
    let line = i === 0 ? first : indent
    let empty = true
    for (const word of paragraph.split(/ +/).filter((w) => w !== "")) {
      if (!empty && line.length + 1 + word.length > width) {
        lines.push(line)
        line = indent + word
      } else {
        line = empty ? line + word : `${line} ${word}`
      }
      empty = false
    }
    lines.push(line)
    return lines
  })

/** A usage line's tokens: words and bracketed groups (`[--tier public|premium]`) kept whole. */
const usageLine = (program: string, words: ReadonlyArray<string>, width: number): Array<string> => {
  const lines: Array<string> = []
  let line = `  ${program}`
  for (const word of words) {
    if (line.length + 1 + word.length > width && line.trim() !== program) {
      lines.push(line)
      line = `      ${word}`
    } else line = `${line} ${word}`
  }
  lines.push(line)
  return lines
}

const optionTerm = (option: OptionSpec) =>
  `${option.names.join(", ")}${
    option.value === undefined
      ? ""
      : ` ${option.value.includes("|") ? option.value.replace(/ \| /g, "|") : `<${option.value}>`}`
  }`

const argTerm = (arg: ArgSpec) =>
  `${arg.optional ? "[" : ""}${arg.name}${arg.repeated ? "..." : ""}${arg.optional ? "]" : ""}`

/** The help of one command. */
export const render = (program: string, command: CommandSpec, width: number): string => {
  const name = [program, ...command.path].join(" ")
  const out: Array<string> = ["USAGE"]
  if (command.subcommands.length > 0) {
    out.push(...usageLine(name, [command.subcommands.map((c) => c.path.at(-1)).join("|")], width))
  } else {
    out.push(
      ...usageLine(name, [...(command.options.length > 0 ? ["[options]"] : []), ...command.args.map(argTerm)], width)
    )
  }
  if (command.description !== "") out.push("", "DESCRIPTION", ...wrap(flowing(command.description), width, "  "))
  if (command.subcommands.length > 0) {
    out.push("", "COMMANDS")
    for (const sub of command.subcommands) {
      out.push(...wrap(summary(sub.description), width, "      ", `  ${[...sub.path].join(" ")}: `))
    }
  }
  if (command.args.length > 0) {
    out.push("", "ARGUMENTS")
    for (const arg of command.args) out.push(`  ${argTerm(arg)}`, ...wrap(flowing(arg.description), width, "      "))
  }
  if (command.options.length > 0) {
    out.push("", "OPTIONS")
    for (const option of command.options) {
      out.push(`  ${optionTerm(option)}`, ...wrap(flowing(option.description), width, "      "))
    }
  }
  return out.join("\n")
}

/** The help of the program itself: what it is, its commands, the options it takes alone. */
export const renderRoot = (
  program: string,
  version: string,
  description: string,
  commands: ReadonlyArray<CommandSpec>,
  width: number
): string => {
  const out: Array<string> = [...wrap(`${program} ${version}: ${description}`, width, ""), "", "USAGE"]
  out.push(
    `  ${program} <command> [options] ...`,
    `  ${program} <command> --help`,
    `  ${program} --completions bash|zsh|fish`,
    `  ${program} --version`
  )
  out.push("", "COMMANDS")
  const leaves = commands.flatMap((c) => (c.subcommands.length > 0 ? c.subcommands : [c]))
  const pad = Math.max(...leaves.map((c) => c.path.join(" ").length)) + 4
  for (const command of leaves) {
    out.push(
      ...wrap(summary(command.description), width, " ".repeat(pad), `  ${command.path.join(" ").padEnd(pad - 2)}`)
    )
  }
  out.push(
    "",
    "OPTIONS",
    "  -h, --help",
    "      Show the help of the program or of a command",
    "  --version",
    "      Show the version",
    "  --completions bash|zsh|fish",
    ...wrap("Print a completion script for the shell (see the README for how to install it)", width, "      ")
  )
  return out.join("\n")
}
