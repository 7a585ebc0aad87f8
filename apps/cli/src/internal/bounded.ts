/**
 * Small files read whole (a key file, a `.env`, the user config file), never more than a bound: `/dev/zero` or a
 * huge file must not grow memory without limit.
 */
import * as fs from "node:fs"
import * as Fifo from "./fifo.js"

/** Why a small file could not be read. */
export type Problem =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "NotRegular" }
  | { readonly _tag: "TooLarge"; readonly max: number }
  | { readonly _tag: "Unreadable"; readonly code: string }

/** A problem in words, for a message: "not a regular file", "larger than 4 KiB"… */
export const describeProblem = (problem: Problem): string => {
  switch (problem._tag) {
    case "Missing":
      return "no such file"
    case "NotRegular":
      return "not a regular file"
    case "TooLarge":
      return `larger than ${problem.max / 1024} KiB`
    case "Unreadable":
      return problem.code
  }
}

const code = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : String(error)

const readInto = (fd: number, buffer: Buffer, offset: number): Promise<number> =>
  new Promise((resolve, reject) =>
    fs.read(
      fd,
      buffer,
      offset,
      buffer.length - offset,
      null,
      (error, bytesRead) => error === null ? resolve(bytesRead) : reject(error)
    )
  )

/**
 * At most `max` bytes of `path` as text, or the problem. A FIFO or a process substitution (`<(pass show vt)`) is
 * read when `regularOnly` is false; a file that holds more than `max` bytes is refused, not cut.
 */
export const read = async (
  path: string,
  options: { readonly max: number; readonly regularOnly: boolean }
): Promise<{ readonly _tag: "Text"; readonly text: string } | Problem> => {
  try {
    const stat = await fs.promises.stat(path)
    if (stat.isDirectory() || (options.regularOnly && !stat.isFile())) return { _tag: "NotRegular" }
    if (stat.isFile() && stat.size > options.max) return { _tag: "TooLarge", max: options.max }
    // Opened through fifo.ts: a FIFO nobody writes to would otherwise keep the process from ending.
    const fd = await Fifo.openForReading(path)
    try {
      const buffer = Buffer.alloc(options.max + 1)
      let length = 0
      while (length < buffer.length) {
        const bytesRead = await readInto(fd, buffer, length)
        if (bytesRead === 0) break
        length += bytesRead
      }
      if (length > options.max) return { _tag: "TooLarge", max: options.max }
      return { _tag: "Text", text: buffer.subarray(0, length).toString("utf8") }
    } finally {
      fs.close(fd, () => {})
    }
  } catch (error) {
    const why = code(error)
    return why === "ENOENT" ? { _tag: "Missing" } : { _tag: "Unreadable", code: why }
  }
}
