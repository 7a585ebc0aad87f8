/**
 * How the emulator produces its JSON documents. A document with a large static part (a report: engine results,
 * certificates, scans) is a template: serialised once per kind and variant, with sentinels where the per-object
 * values go, and split into static byte segments. Answering is then a splice of a few short values between those
 * segments, and the large static end is shared by every answer and sent as it is, never copied per request, so
 * that the emulator is not the bottleneck of a benchmark. Small documents are serialised per answer ({@link json}).
 */

/** A slot inside a JSON string: its fill is string content, escaped as JSON (see {@link escape}). */
export const text = (slot: string): string => `@@${slot}@@`

/** A slot that is a whole JSON value (number, literal, object, list): its quotes go too. */
export const value = <A = number>(slot: string): A => `@@#${slot}@@` as unknown as A

const SENTINEL = /"@@#([A-Z0-9_]+)@@"|@@([A-Z0-9_]+)@@/g

/** Tails shorter than this are copied into the head, so that a small document leaves as one buffer. */
const SHARED_TAIL_MIN = 1024

export interface Template {
  /** Static bytes around the slots: one more than `slots`, the last being everything after the last slot. */
  readonly segments: ReadonlyArray<Buffer>
  readonly slots: ReadonlyArray<string>
  /** Length of the segments before the last slot. */
  readonly headStaticLength: number
}

/** A document as it is sent: the per-object head, then the shared tail (never to be modified). */
export interface Body {
  readonly head: Buffer
  readonly tail: Buffer | undefined
}

/** JSON text for a slot: a string (escaped content or a JSON value), or bytes that are already JSON. */
export type Fill = string | Buffer | ReadonlyArray<Buffer>

/** A template from the JSON text of a document with sentinels (see {@link text} and {@link value}). */
export const parse = (json: string): Template => {
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

/** A template from a document skeleton, serialised as `JSON.stringify` would. */
export const compile = (document: unknown): Template => parse(JSON.stringify(document))

/** The length of `json` once every text slot holds `textLength` characters and every value slot `valueLength`. */
export const filledLength = (json: string, textLength: number, valueLength: number): number =>
  json.replace(SENTINEL, (_, valueSlot: string | undefined) => "x".repeat(valueSlot ? valueLength : textLength)).length

const fillLength = (fill: Fill): number => {
  if (typeof fill === "string") return Buffer.byteLength(fill, "utf8")
  if (Buffer.isBuffer(fill)) return fill.length
  let n = 0
  for (const b of fill as ReadonlyArray<Buffer>) n += b.length
  return n
}

const writeFill = (out: Buffer, offset: number, fill: Fill): number => {
  if (typeof fill === "string") return out.write(fill, offset, "utf8")
  if (Buffer.isBuffer(fill)) return fill.copy(out, offset)
  let n = 0
  for (const b of fill as ReadonlyArray<Buffer>) n += b.copy(out, offset + n)
  return n
}

/** The document with its slots filled: a fresh head, and the template's last segment as the shared tail. */
export const render = (t: Template, fills: Readonly<Record<string, Fill>>): Body => {
  const tail = t.segments[t.slots.length]
  if (t.slots.length === 0) return { head: tail, tail: undefined }
  const inline = tail.length < SHARED_TAIL_MIN
  let length = t.headStaticLength + (inline ? tail.length : 0)
  for (const slot of t.slots) length += fillLength(fills[slot])
  const out = Buffer.allocUnsafe(length)
  let offset = 0
  for (let i = 0; i < t.slots.length; i++) {
    offset += t.segments[i].copy(out, offset)
    offset += writeFill(out, offset, fills[t.slots[i]])
  }
  if (!inline) return { head: out, tail }
  tail.copy(out, offset)
  return { head: out, tail: undefined }
}

/** A small document serialised per answer, where a template would save nothing (no static bulk to share). */
export const json = (value: unknown): Body => ({ head: Buffer.from(JSON.stringify(value), "utf8"), tail: undefined })

/** The whole document in a fresh buffer (the parts may be shared and must not be handed out). */
export const copy = (body: Body): Buffer =>
  Buffer.concat(body.tail === undefined ? [body.head] : [body.head, body.tail])

/** String content as `JSON.stringify` writes it inside a string. */
export const escape = (s: string): string => JSON.stringify(s).slice(1, -1)

/** String content in pure ASCII, anything else as \u escapes (as the URL, domain and address reports write it). */
export const escapeAscii = (s: string): string =>
  escape(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** The bytes of the `data` member of a `{"data":…}` document, for embedding in a list. */
export const dataOf = (body: Body): Array<Buffer> => {
  const prefix = "{\"data\":".length
  return body.tail === undefined
    ? [body.head.subarray(prefix, body.head.length - 1)]
    : [body.head.subarray(prefix), body.tail.subarray(0, body.tail.length - 1)]
}

/**
 * A cache of built values by key. Unbounded for the few kinds and variants of documents; bounded (oldest first out)
 * for per-id answers, which are kept only when `keep` says they are worth it.
 */
export const cache = <V>(options: { readonly limit?: number; readonly keep?: (value: V) => boolean } = {}) => {
  const entries = new Map<string, V>()
  const limit = options.limit ?? Infinity
  return (key: string, build: () => V): V => {
    const hit = entries.get(key)
    if (hit !== undefined) return hit
    const built = build()
    if (options.keep !== undefined && !options.keep(built)) return built
    if (entries.size >= limit) entries.delete(entries.keys().next().value as string)
    entries.set(key, built)
    return built
  }
}

/** A function of one key, built once per key: each kind of document is compiled once. */
export const memo = <K extends string | number, V>(build: (key: K) => V): (key: K) => V => {
  const built = cache<V>()
  return (key) => built(String(key), () => build(key))
}
