/**
 * The help text made from the model of the commands (help.ts reads it from @effect/cli's descriptions): usage lines
 * that name the program, no type boilerplate, wrapped to the terminal or to 100 columns off one.
 *
 * Nothing here imports Effect or @effect/cli: the bundle's entry (main.ts) answers `--help` with these functions and a
 * model written at build time, without loading the rest of the program; Cli.ts answers it with the same functions
 * and the model read from the declarations, so the two cannot render differently.
 */

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

// -- what the arguments ask --------------------------------------------------------------------------------------

/** Everything the help texts are made from: the program, its version and description, its commands. */
export interface Model {
  readonly program: string
  readonly version: string
  readonly description: string
  readonly commands: ReadonlyArray<CommandSpec>
}

/** @effect/cli's built-in options that vt-harvest does not offer: --wizard (interactive) and --log-level. */
export const refused = (arg: string): boolean =>
  arg === "--wizard" || arg === "--log-level" || arg.startsWith("--log-level=")

/** The arguments before `--`: the ones that can be options. */
export const head = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const cut = args.indexOf("--")
  return cut === -1 ? args : args.slice(0, cut)
}

/** Whether the arguments (before `--`) ask for help. */
export const asksHelp = (head: ReadonlyArray<string>): boolean => head.includes("--help") || head.includes("-h")

/** The width help is wrapped to: the terminal's (40 to 100 columns), 100 off a terminal. */
export const width = (stream: { readonly isTTY?: boolean; readonly columns?: number }): number =>
  stream.isTTY === true ? Math.max(40, Math.min(stream.columns ?? 100, 100)) : 100

/**
 * The help the arguments (before `--`) show, once they are known to ask for it, or to name no command: the
 * command's (or subcommand's) when they start with one, else the program's.
 */
export const helpOf = (head: ReadonlyArray<string>, model: Model, columns: number): string => {
  const first = head[0]
  const command = model.commands.find((c) => c.path[0] === first)
  if (command === undefined) {
    return renderRoot(model.program, model.version, model.description, model.commands, columns)
  }
  const sub = command.subcommands.find((c) => c.path[1] === head[1])
  return render(model.program, sub ?? command, columns)
}

/**
 * What `vt-harvest --version` prints, as @effect/cli's built-in option prints it (the version, then an empty line).
 */
export const versionText = (model: Model): string => `${model.version}\n`

/**
 * The text the arguments ask for when it needs nothing but the model: `--version` alone, or help (`--help`, `-h`)
 * for the program or a known command with no refused option; `undefined` for everything else, which the program
 * itself answers (Cli.ts), errors included. Printed with a line break after it, as `Console.log` prints.
 */
export const answer = (args: ReadonlyArray<string>, model: Model, columns: number): string | undefined => {
  if (args.length === 1 && args[0] === "--version") return versionText(model)
  const words = head(args)
  if (!asksHelp(words) || words.some(refused)) return undefined
  const first = words[0]
  if (first !== undefined && !first.startsWith("-") && !model.commands.some((c) => c.path[0] === first)) {
    return undefined
  }
  return helpOf(words, model, columns)
}
