/**
 * zsh and fish completion scripts made from the command model (help.ts): commands, subcommands, every option with
 * its values (choices listed, directories for `--out`/`--log-dir`, files for `--api-key-file`, nothing but an
 * argument for the others), and file or directory arguments. bash's comes from @effect/cli (Cli.ts).
 */
import type { ArgSpec, CommandSpec, OptionSpec } from "./helpText.js"
import { summary } from "./helpText.js"

type Values = { readonly _tag: "None" } | { readonly _tag: "Any" } | {
  readonly _tag: "Choice"
  readonly choices: ReadonlyArray<string>
} | {
  readonly _tag: "Directories"
} | { readonly _tag: "Files" }

/** Options whose value is a path on this machine (an `s3://` output is typed in full). */
const directoryOptions = new Set(["--out", "--log-dir", "--download-dir"])
const fileOptions = new Set(["--api-key-file"])

const valuesOf = (option: OptionSpec): Values => {
  if (option.value === undefined) return { _tag: "None" }
  if (option.value.includes("|")) return { _tag: "Choice", choices: option.value.split("|").map((c) => c.trim()) }
  if (option.names.some((name) => directoryOptions.has(name))) return { _tag: "Directories" }
  if (option.names.some((name) => fileOptions.has(name))) return { _tag: "Files" }
  return { _tag: "Any" }
}

/** What an argument names: a store is a directory, an input or a path is a file (or a directory, for scan). */
const argValues = (arg: ArgSpec): "files" | "directories" | "none" =>
  arg.name === "<store>" ? "directories" : ["<input>", "<path>"].includes(arg.name) ? "files" : "none"

const short = (text: string, max = 90) => {
  const line = summary(text)
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

const leaves = (commands: ReadonlyArray<CommandSpec>) =>
  commands.flatMap((c) => (c.subcommands.length > 0 ? c.subcommands : [c]))

// -- zsh ----------------------------------------------------------------------------------------------------------

/** A zsh single-quoted word. */
const zq = (text: string) => `'${text.replaceAll("'", "'\\''")}'`
/** Text inside an _arguments `[...]` description: brackets, colons and backslashes escaped. */
const zdesc = (text: string) => text.replace(/([\\[\]:])/g, "\\$1")

const zshOption = (option: OptionSpec): string => {
  const values = valuesOf(option)
  const action = values._tag === "None"
    ? ""
    : values._tag === "Choice"
    ? `:value:(${values.choices.join(" ")})`
    : values._tag === "Directories"
    ? ":directory:_directories"
    : values._tag === "Files"
    ? ":file:_files"
    : ":value: "
  const description = `[${zdesc(short(option.description))}]${action}`
  if (option.names.length === 1) return zq(`${option.names[0]}${description}`)
  return `${zq(`(${option.names.join(" ")})`)}{${option.names.join(",")}}${zq(description)}`
}

const zshArg = (arg: ArgSpec): string => {
  const kind = argValues(arg)
  const action = kind === "directories" ? "_directories" : kind === "files" ? "_files" : " "
  const name = arg.name.replace(/[<>]/g, "")
  return zq(`${arg.repeated ? "*" : arg.optional ? ":" : ""}:${name}:${action}`)
}

const zshDescribe = (commands: ReadonlyArray<CommandSpec>, depth: number) =>
  commands.map((c) => `    ${zq(`${c.path[depth]}:${short(c.description, 70).replace(/:/g, "\\:")}`)}`).join("\n")

export const zsh = (program: string, commands: ReadonlyArray<CommandSpec>): string => {
  const fn = `_${program.replace(/-/g, "_")}`
  const help = `${zq("(- *)")}{-h,--help}${zq("[Show the help of the command]")}`
  const cases = leaves(commands).map((command) => {
    const specs = [...command.options.map(zshOption), help, ...command.args.map(zshArg)]
    return `    (${zq(command.path.join(" "))})\n      _arguments -s -S \\\n        ${
      specs.join(" \\\n        ")
    }\n      ;;`
  })
  const groups = commands.filter((c) => c.subcommands.length > 0).map((c) =>
    `    (${c.path[0]})
      if (( CURRENT == 3 )); then
        local -a subcommands
        subcommands=(
${zshDescribe(c.subcommands, 1)}
        )
        _describe -t commands ${zq(`${program} ${c.path[0]} command`)} subcommands
        return
      fi
      command="${c.path[0]} $words[3]"
      shift 2 words
      (( CURRENT -= 2 ))
      ;;`
  )
  return `#compdef ${program}
# zsh completion for ${program}: put it in a directory of $fpath as _${program} (then compinit), or source it.

${fn}() {
  local -a commands
  commands=(
${zshDescribe(commands, 0)}
  )
  if (( CURRENT == 2 )); then
    if [[ $words[CURRENT] == -* ]]; then
      _arguments ${help} '--version[Show the version]' '--completions[Print a completion script]:shell:(bash zsh fish)'
    else
      _describe -t commands ${zq(`${program} command`)} commands
    fi
    return
  fi
  local command=$words[2]
  case $command in
${groups.join("\n")}
    (*)
      shift words
      (( CURRENT-- ))
      ;;
  esac
  case $command in
${cases.join("\n")}
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${program}
fi
`
}

// -- fish ---------------------------------------------------------------------------------------------------------

/** A fish single-quoted word. */
const fq = (text: string) => `'${text.replace(/[\\']/g, "\\$&")}'`

const fishOption = (program: string, condition: string, option: OptionSpec): string => {
  const values = valuesOf(option)
  const names = option.names.map((name) => (name.startsWith("--") ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`))
  const action = values._tag === "None"
    ? []
    : values._tag === "Choice"
    ? ["-x", "-a", fq(values.choices.join(" "))]
    : values._tag === "Directories"
    ? ["-x", "-a", fq("(__fish_complete_directories (commandline -ct) '')")]
    : values._tag === "Files"
    ? ["-r", "-F"]
    : ["-x"]
  return ["complete -c", program, "-n", fq(condition), ...names, ...action, "-d", fq(short(option.description))].join(
    " "
  )
}

export const fish = (program: string, commands: ReadonlyArray<CommandSpec>): string => {
  const lines = [
    `# fish completion for ${program}: save as ~/.config/fish/completions/${program}.fish, or source it.`,
    `complete -c ${program} -f`,
    ...commands.map((c) =>
      `complete -c ${program} -n __fish_use_subcommand -a ${fq(c.path[0])} -d ${fq(short(c.description))}`
    ),
    `complete -c ${program} -s h -l help -d ${fq("Show the help")}`,
    `complete -c ${program} -n __fish_use_subcommand -l version -d ${fq("Show the version")}`,
    `complete -c ${program} -n __fish_use_subcommand -l completions -x -a ${fq("bash zsh fish")} -d ${
      fq("Print a completion script")
    }`
  ]
  for (const group of commands.filter((c) => c.subcommands.length > 0)) {
    const names = group.subcommands.map((c) => c.path[1]).join(" ")
    for (const sub of group.subcommands) {
      lines.push(
        `complete -c ${program} -n ${
          fq(`__fish_seen_subcommand_from ${group.path[0]}; and not __fish_seen_subcommand_from ${names}`)
        } -a ${fq(sub.path[1])} -d ${fq(short(sub.description))}`
      )
    }
  }
  for (const command of leaves(commands)) {
    const condition = command.path.map((word) => `__fish_seen_subcommand_from ${word}`).join("; and ")
    for (const option of command.options) lines.push(fishOption(program, condition, option))
    const kinds = new Set(command.args.map(argValues))
    if (kinds.has("files")) lines.push(`complete -c ${program} -n ${fq(condition)} -F`)
    else if (kinds.has("directories")) {
      lines.push(
        `complete -c ${program} -n ${fq(condition)} -a ${fq("(__fish_complete_directories (commandline -ct) '')")}`
      )
    }
  }
  return `${lines.join("\n")}\n`
}
