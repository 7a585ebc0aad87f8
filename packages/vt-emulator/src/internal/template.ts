/**
 * Documents as static bytes with holes: a document is serialised once with sentinels where the per-object values
 * go, then answering is a splice of a few short strings between shared segments. The last segment (the bulk of
 * the document: engine results, certificates…) is shared and sent as it is.
 */

/** A slot inside a JSON string: the value must already be JSON-escaped string content. */
export const str = (slot: string): string => `@@${slot}@@`

/** A slot that is a whole JSON value (number, or a JSON literal): its quotes go too. */
export const num = (slot: string): number => `@@#${slot}@@` as unknown as number

const SENTINEL = /"@@#([A-Z0-9_]+)@@"|@@([A-Z0-9_]+)@@/g

export interface Template {
  /** Static bytes around the slots: one more than `slots`, the last being everything after the last slot. */
  readonly segments: ReadonlyArray<Buffer>
  readonly slots: ReadonlyArray<string>
  /** Length of the segments before the last slot. */
  readonly headStaticLength: number
}

export const compile = (json: string): Template => {
  const segments: Array<Buffer> = []
  const slots: Array<string> = []
  let last = 0
  for (const match of json.matchAll(SENTINEL)) {
    segments.push(Buffer.from(json.slice(last, match.index), "utf8"))
    slots.push(match[1] ?? match[2])
    last = match.index + match[0].length
  }
  const headStaticLength = segments.reduce((n, s) => n + s.length, 0)
  segments.push(Buffer.from(json.slice(last), "utf8"))
  return { segments, slots, headStaticLength }
}

/** The per-object head; `values` must be ASCII (see {@link jsonText}). */
export const head = (t: Template, values: Readonly<Record<string, string>>): Buffer => {
  let length = t.headStaticLength
  for (const slot of t.slots) length += values[slot].length
  const out = Buffer.allocUnsafe(length)
  let offset = 0
  for (let i = 0; i < t.slots.length; i++) {
    offset += t.segments[i].copy(out, offset)
    offset += out.write(values[t.slots[i]], offset, "latin1")
  }
  return out
}

export const tail = (t: Template): Buffer => t.segments[t.slots.length]

/** JSON string content, pure ASCII (anything else as \u escapes), ready for a string slot. */
export const jsonText = (s: string): string =>
  JSON.stringify(s).slice(1, -1).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** The bytes of the `data` member of a `{"data":…}` document given as head and tail, for embedding in a list. */
export const dataOf = (headBytes: Buffer, tailBytes: Buffer | undefined): Array<Buffer> => {
  const prefix = "{\"data\":".length
  return tailBytes === undefined
    ? [headBytes.subarray(prefix, headBytes.length - 1)]
    : [headBytes.subarray(prefix), tailBytes.subarray(0, tailBytes.length - 1)]
}
