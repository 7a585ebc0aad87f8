import * as NodeStream from "@effect/platform-node/NodeStream"
import { Chunk, Data, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as Fifo from "./fifo.js"

/**
 * "-" (standard input) as it reaches the command. @effect/cli takes a bare "-" for the start of an option and
 * then rejects the options after it, so bin.ts swaps it for this value before parsing; a NUL cannot occur in a
 * real argument, so no file name can collide with it.
 */
export const stdinArgument = "\u0000stdin"

/** Whether the input argument means standard input. */
export const isStdin = (source: string): boolean => source === "-" || source === stdinArgument

/** A line of input the user can be pointed at. */
export interface Line {
  readonly number: number
  readonly text: string
}

/** The input could not be read: a usage problem (exit status 2) when it happens before the run starts. */
export class InputError extends Data.TaggedError("InputError")<{ readonly message: string }> {}

/** How the input is named in messages. */
export const describe = (source: string) => (isStdin(source) ? "standard input" : JSON.stringify(source))

const cause = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : String(error)

/** Fails early, before any request, when the input cannot be opened as a readable file. */
export const checkReadable = (source: string): Effect.Effect<void, InputError> =>
  isStdin(source) ? Effect.void : Effect.tryPromise({
    try: async () => {
      const stat = await fs.promises.stat(source)
      if (stat.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" })
      await fs.promises.access(source, fs.constants.R_OK)
    },
    catch: (error) => new InputError({ message: `cannot read input ${describe(source)}: ${cause(error)}` })
  })

/** The longest line accepted (in characters): longer, the input is not a list of ids and the run stops. */
export const maxLineLength = 1024 * 1024

/**
 * Lines holding a NUL character that are taken for invalid lines; one more and the input is binary data (an
 * executable, a UTF-16 file, a disk image) and the run stops rather than report it line by line.
 */
export const maxNulLines = 8

/**
 * Streams the lines of a file (or standard input for "-") with their 1-based numbers, never holding the
 * whole input: CRLF and a UTF-8 byte order mark are accepted, invalid UTF-8 becomes U+FFFD, and {@link classify}
 * reports such a line invalid instead of crashing the run. Memory stays bounded whatever the input is: a line longer than
 * {@link maxLineLength} (`/dev/zero`, a file without line breaks), or binary data (more than {@link maxNulLines}
 * lines holding a NUL), fails the stream with an {@link InputError} that says so.
 */
export const lines = (source: string): Stream.Stream<Line, InputError> =>
  Stream.unwrap(Effect.map(opened(source), (readable) =>
    NodeStream.fromReadable<InputError, Uint8Array>(
      readable,
      (error) => new InputError({ message: `cannot read input ${describe(source)}: ${cause(error)}` })
    ))).pipe(decodeUtf8, splitLines(source))

/**
 * The input as a Node stream. A FIFO (a named pipe, a process substitution, `/dev/stdin` on a pipe) is opened so
 * that a stop (Ctrl-C) is never held up by it: the open that waits for a writer is given up ({@link Fifo.open}),
 * and its bytes are read as a socket's are, by the event loop, not by a pool thread a slow writer would keep
 * blocked (and the process with it). A regular file is read in small chunks: the lines of one chunk wait in the
 * queue together, and with a few thousand of them (256 KiB) enough garbage is made meanwhile that they outlive two
 * scavenges and fill the old space; with a few hundred they die young. A million-line resume peaks under 180 MiB
 * (bench/RESULTS.md (c)); it was 200 to 260 MiB.
 */
const opened = (source: string): Effect.Effect<() => NodeJS.ReadableStream, InputError> => {
  if (isStdin(source)) return Effect.succeed(() => process.stdin)
  const file = (): NodeJS.ReadableStream => fs.createReadStream(source, { highWaterMark: 16 * 1024 })
  return Effect.promise(() => fs.promises.stat(source).then((stat) => stat.isFIFO(), () => false)).pipe(
    Effect.flatMap((fifo): Effect.Effect<() => NodeJS.ReadableStream, NodeJS.ErrnoException> =>
      fifo
        ? Effect.map(Fifo.open(source), (fd) => () => new net.Socket({ fd, readable: true, writable: false }))
        : Effect.succeed(file)
    ),
    Effect.mapError((error) => new InputError({ message: `cannot read input ${describe(source)}: ${cause(error)}` }))
  )
}

/**
 * UTF-8 text as it arrives, the decoder flushed at the end: a sequence the input cuts short there becomes U+FFFD (and
 * its line invalid) instead of being dropped, which would change the line's meaning (a URL would be another URL).
 */
const decodeUtf8 = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8")
    return bytes.pipe(
      Stream.map((chunk) => decoder.decode(chunk, { stream: true })),
      Stream.concat(Stream.sync(() => decoder.decode())),
      Stream.filter((text) => text !== "")
    )
  })

/** Splits decoded text on LF (a CR before it dropped), refusing binary data and unbounded lines. */
const splitLines =
  (source: string) => <R>(text: Stream.Stream<string, InputError, R>): Stream.Stream<Line, InputError, R> =>
    Stream.suspend(() => {
      let carry = ""
      let count = 0
      let nulLines = 0
      const stop = (why: string) =>
        new InputError({ message: `input ${describe(source)}: ${why}; not a list of ids, stopped` })
      /** The next line, or why the input is not a list. */
      const line = (raw: string): Line | InputError => {
        count++
        if (raw.includes("\u0000") && ++nulLines > maxNulLines) {
          return stop(`line ${count} is the ${nulLines}th line holding a NUL byte: binary data`)
        }
        const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw
        return { number: count, text: count === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text }
      }
      const tooLong = (partial: string) =>
        stop(
          `line ${count + 1} is longer than ${maxLineLength / (1024 * 1024)} MiB${
            partial.includes("\u0000") ? " (binary data: NUL bytes)" : ""
          }`
        )
      return text.pipe(
        Stream.mapChunksEffect((chunk) => {
          const out: Array<Line> = []
          for (const piece of chunk) {
            let from = 0
            for (let i = piece.indexOf("\n"); i !== -1; i = piece.indexOf("\n", from)) {
              const rest = piece.slice(from, i)
              if (carry.length + rest.length > maxLineLength) return Effect.fail(tooLong(carry + rest))
              const next = line(carry === "" ? rest : carry + rest)
              if (next instanceof InputError) return Effect.fail(next)
              out.push(next)
              carry = ""
              from = i + 1
            }
            if (carry.length + piece.length - from > maxLineLength) return Effect.fail(tooLong(carry + piece))
            carry += piece.slice(from)
          }
          return Effect.succeed(Chunk.unsafeFromArray(out))
        }),
        Stream.concat(Stream.suspend(() => {
          if (carry === "") return Stream.empty
          const last = line(carry)
          return last instanceof InputError ? Stream.fail(last) : Stream.make(last)
        }))
      )
    })

/** What a line holds once blank lines and comments are set aside. */
export type Parsed =
  | { readonly _tag: "Ignored" }
  | { readonly _tag: "Invalid"; readonly line: Line; readonly reason: string }
  | { readonly _tag: "Id"; readonly line: Line; readonly id: string }

/** Classifies a line with the id kind's validator; the validator trims and normalises. */
export const classify = (line: Line, parse: (input: string) => Either.Either<string, string>): Parsed => {
  const trimmed = line.text.trim()
  if (trimmed === "" || trimmed.startsWith("#")) return { _tag: "Ignored" }
  // Bytes that are not UTF-8 were decoded as U+FFFD (lines): such a line is not what the list holds, and a URL
  // would be sent, and stored, as another one.
  if (trimmed.includes("\uFFFD")) return { _tag: "Invalid", line, reason: "not UTF-8 text" }
  return Either.match(parse(trimmed), {
    onLeft: (reason) => ({ _tag: "Invalid", line, reason }),
    onRight: (id) => ({ _tag: "Id", line, id })
  })
}

/** Counts lines without keeping them, so a progress display can show a total and an ETA for a file. */
export const countLines = (source: string): Effect.Effect<number, InputError> =>
  Effect.async<number, InputError>((resume) => {
    let count = 0
    let last = 10
    const stream = fs.createReadStream(source, { highWaterMark: 1024 * 1024 })
    stream.on("data", (chunk: Buffer | string) => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk
      for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) count++
      if (buffer.length > 0) last = buffer[buffer.length - 1]
    })
    stream.on(
      "error",
      (error) => resume(Effect.fail(new InputError({ message: `cannot read input: ${cause(error)}` })))
    )
    stream.on("end", () => resume(Effect.succeed(last === 10 ? count : count + 1)))
    return Effect.sync(() => stream.destroy())
  })

/** Renders an untrusted string for a log line: one line, control characters escaped, bounded length. */
export { quote } from "./text.js"

/**
 * The number of lines of a regular file, for a progress bar and an ETA; `undefined` for anything else (a pipe, a
 * FIFO, /dev/stdin, a process substitution), which is read once, as it streams, and never drained to count it.
 */
export const countLinesOfFile = (source: string): Effect.Effect<number | undefined> =>
  isStdin(source)
    ? Effect.succeed(undefined)
    : Effect.promise(() => fs.promises.stat(source).then((stat) => stat.isFile(), () => false)).pipe(
      Effect.flatMap((regular) =>
        regular ? Effect.orElseSucceed(countLines(source), () => undefined) : Effect.succeed(undefined)
      )
    )
