/**
 * Opening a FIFO for reading waits for a writer, in a thread of libuv's pool that nothing can interrupt; and Node
 * waits for that thread when the process ends, `process.exit` included. So a run stopped (Ctrl-C) while its input
 * or key file is a FIFO nobody writes to would print its summary and then hang. A reader waiting for a writer is
 * released by a writer that comes and goes at once (opened without waiting, then closed): done here when the open
 * is given up, and for every open still waiting when the process exits.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"

// The paths of the opens still waiting, each with how many opens wait on it (the input and the key file may be one).
const waiting = new Map<string, number>()

const leave = (file: string): void => {
  const left = (waiting.get(file) ?? 1) - 1
  if (left === 0) waiting.delete(file)
  else waiting.set(file, left)
}

// A writer that comes and goes: the reader's open returns (and its reads see the end). Nothing to do when no reader
// waits any more (ENXIO) or the path is no longer a FIFO.
const release = (file: string): void => {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK))
  } catch {
    // Nobody waits, or it cannot be opened: nothing to release.
  }
}

let hooked = false
const hookExit = (): void => {
  if (hooked) return
  hooked = true
  process.on("exit", () => {
    for (const file of waiting.keys()) release(file)
  })
}

/** Opens `file` for reading; a FIFO's open, still waiting for a writer when the process exits, is released. */
export const openForReading = (file: string): Promise<number> =>
  new Promise((resolve, reject) => {
    hookExit()
    waiting.set(file, (waiting.get(file) ?? 0) + 1)
    fs.open(file, fs.constants.O_RDONLY, (error, fd) => {
      leave(file)
      if (error !== null) reject(error)
      else resolve(fd)
    })
  })

/**
 * {@link openForReading} as an Effect that can be interrupted while the open waits: the open is released and the
 * descriptor it then returns closed.
 */
export const open = (file: string): Effect.Effect<number, NodeJS.ErrnoException> =>
  Effect.async<number, NodeJS.ErrnoException>((resume) => {
    let abandoned = false
    openForReading(file).then(
      (fd) => (abandoned ? fs.close(fd, () => {}) : resume(Effect.succeed(fd))),
      (error: NodeJS.ErrnoException) => (abandoned ? undefined : resume(Effect.fail(error)))
    )
    return Effect.sync(() => {
      abandoned = true
      if (waiting.has(file)) release(file)
    })
  })
