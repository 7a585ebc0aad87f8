/**
 * A JSON validator over bytes that builds nothing: it says whether a body is one well-formed JSON text (RFC 8259,
 * UTF-8) and, for object answers, finds the envelope (`data.type`, `data.id`, `data.attributes`) on the way.
 *
 * Why not `JSON.parse`: a report is tens of KB, and parsing one builds thousands of objects only to throw them away
 * when the caller keeps the bytes. Alone the two cost about the same, but in a pipeline holding dozens of reports
 * in flight the parse and its garbage do not: a `getFile` costs 147 µs of CPU with this scan and 323 µs when its
 * document is parsed too (bench/RESULTS.md). It accepts exactly what `JSON.parse` of the
 * strictly decoded text accepts (property-tested against it), except nesting deeper than {@link maxDepth}.
 */
import { isUtf8 } from "node:buffer"

/** @internal */
export const maxDepth = 1024

/** @internal */
export type Scan =
  | { readonly _tag: "Valid"; readonly envelope: Envelope | undefined }
  | { readonly _tag: "Invalid"; readonly reason: string }

/**
 * Where the envelope's members are in the bytes. `type` and `id` are present when they are strings; `attributes`
 * tells whether `data.attributes` is an object. Missing members are reported by {@link envelopeProblem}.
 *
 * @internal
 */
export interface Envelope {
  readonly dataIsObject: boolean
  readonly type: string | undefined
  readonly id: string | undefined
  readonly attributesIsObject: boolean
}

const WS = new Uint8Array(256)
WS[0x20] =
  WS[0x0a] =
  WS[0x0d] =
  WS[0x09] =
    1
const HEX = new Uint8Array(256)
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1
const ESCAPE = new Uint8Array(256)
for (const c of "\"\\/bfnrt") ESCAPE[c.charCodeAt(0)] = 1
// Inside a string: the bytes that end the fast run (quote, backslash, control characters).
const STOP = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) STOP[c] = 1
STOP[0x22] = STOP[0x5c] = 1

const OBJECT = 1
const ARRAY = 2
const DATA = 3 // the top-level object's "data" member, itself an object

const strict = new TextDecoder("utf-8", { fatal: true })

/** Set by {@link skipString} when a string it skipped holds an escape; cleared by the callers that read it. */
let escaped = false

/** The index after the string that starts (with its quote) at `i`, or -1 when it is not a valid string. */
const skipString = (b: Uint8Array, i: number, n: number): number => {
  i++
  while (true) {
    while (i < n && STOP[b[i]] === 0) i++
    if (i >= n) return -1
    const c = b[i]
    if (c === 0x22) return i + 1
    if (c < 0x20) return -1
    escaped = true
    const e = b[i + 1]
    if (e === 0x75) {
      if (HEX[b[i + 2]] === 0 || HEX[b[i + 3]] === 0 || HEX[b[i + 4]] === 0 || HEX[b[i + 5]] === 0) return -1
      i += 6
    } else if (e !== undefined && ESCAPE[e] === 1) {
      i += 2
    } else {
      return -1
    }
  }
}

// Most JSON from servers has no whitespace between tokens: one table look-up before the loop.
const skipWs = (b: Uint8Array, i: number, n: number): number => {
  if (i >= n || WS[b[i]] === 0) return i
  i++
  while (i < n && WS[b[i]] === 1) i++
  return i
}

const skipDigits = (b: Uint8Array, i: number, n: number): number => {
  while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++
  return i
}

/** The index after the number at `i`, or -1. */
const skipNumber = (b: Uint8Array, i: number, n: number): number => {
  if (b[i] === 0x2d) i++
  if (b[i] === 0x30) i++
  else if (b[i] >= 0x31 && b[i] <= 0x39) i = skipDigits(b, i + 1, n)
  else return -1
  if (b[i] === 0x2e) {
    const start = i + 1
    i = skipDigits(b, start, n)
    if (i === start) return -1
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++
    if (b[i] === 0x2b || b[i] === 0x2d) i++
    const start = i
    i = skipDigits(b, start, n)
    if (i === start) return -1
  }
  return i
}

const literal = (b: Uint8Array, i: number, text: string): number => {
  for (let k = 0; k < text.length; k++) if (b[i + k] !== text.charCodeAt(k)) return -1
  return i + text.length
}

/** The string (a key or a value) between `start` (its opening quote) and `end` (after its closing quote). */
const stringAt = (b: Uint8Array, start: number, end: number, hasEscape: boolean): string =>
  hasEscape
    ? JSON.parse(strict.decode(b.subarray(start, end))) as string
    : strict.decode(b.subarray(start + 1, end - 1))

const keyIs = (b: Uint8Array, start: number, end: number, hasEscape: boolean, name: string): boolean => {
  if (hasEscape) return stringAt(b, start, end, true) === name
  if (end - start - 2 !== name.length) return false
  for (let k = 0; k < name.length; k++) if (b[start + 1 + k] !== name.charCodeAt(k)) return false
  return true
}

// What the value about to be read is, for the envelope.
const NONE = 0
const ROLE_DATA = 1
const ROLE_TYPE = 2
const ROLE_ID = 3
const ROLE_ATTRIBUTES = 4

/** Which envelope members the keys of the innermost open object can name. */
const keyContext = (sp: number, stack: Uint8Array): number => sp === 1 ? 1 : sp === 2 && stack[1] === DATA ? 2 : 0

/** Set by {@link readKey}: which envelope member the value after the key is. */
let keyRole = NONE

/**
 * After `{` or `,` in an object: a key and a colon. Answers the index after the colon, or -1; sets {@link keyRole}
 * (context 1: the top-level object, 2: its `data` object).
 */
const readKey = (b: Uint8Array, i: number, n: number, context: number): number => {
  keyRole = NONE
  i = skipWs(b, i, n)
  if (b[i] !== 0x22) return -1
  const start = i
  escaped = false
  i = skipString(b, i, n)
  if (i < 0) return -1
  const hasEscape = escaped
  if (context === 1) {
    keyRole = keyIs(b, start, i, hasEscape, "data") ? ROLE_DATA : NONE
  } else if (context === 2) {
    keyRole = keyIs(b, start, i, hasEscape, "type")
      ? ROLE_TYPE
      : keyIs(b, start, i, hasEscape, "id")
      ? ROLE_ID
      : keyIs(b, start, i, hasEscape, "attributes")
      ? ROLE_ATTRIBUTES
      : NONE
  }
  i = skipWs(b, i, n)
  if (b[i] !== 0x3a) return -1
  return i + 1
}

const invalid = (reason: string): Scan => ({ _tag: "Invalid", reason })
const notJson = (i: number): Scan => invalid(`the body is not JSON (unexpected input at byte ${i})`)

/**
 * Scans the whole body once. Invalid UTF-8, anything `JSON.parse` would refuse, trailing bytes and nesting deeper
 * than {@link maxDepth} are `Invalid`; a valid text whose top level is an object also gets its envelope.
 *
 * @internal
 */
export const scan = (bytes: Uint8Array): Scan => {
  if (!isUtf8(bytes)) return invalid("the body is not UTF-8 text")
  const b = bytes
  const n = b.length
  // A byte order mark is dropped by the UTF-8 decoder before JSON.parse sees the text: accepted likewise.
  let i = n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0
  i = skipWs(b, i, n)
  if (i >= n) return invalid("the body is empty")
  const stack = new Uint8Array(maxDepth)
  let sp = 0
  let role = NONE
  let topIsObject = false
  let dataIsObject = false
  let type: [number, number, boolean] | undefined
  let id: [number, number, boolean] | undefined
  let attributesIsObject = false

  value: while (true) {
    i = skipWs(b, i, n)
    if (i >= n) return notJson(i)
    const c = b[i]
    const valueRole = role
    role = NONE
    // A later member of the same name replaces an earlier one, as in JSON.parse.
    if (valueRole === ROLE_DATA) {
      dataIsObject = c === 0x7b
      type = undefined
      id = undefined
      attributesIsObject = false
    } else if (valueRole === ROLE_TYPE) {
      type = undefined
    } else if (valueRole === ROLE_ID) {
      id = undefined
    } else if (valueRole === ROLE_ATTRIBUTES) {
      attributesIsObject = c === 0x7b
    }
    if (c === 0x7b || c === 0x5b) {
      if (sp === 0 && c === 0x7b) topIsObject = true
      i = skipWs(b, i + 1, n)
      const close = c === 0x7b ? 0x7d : 0x5d
      if (b[i] === close) {
        i++
      } else {
        if (sp >= maxDepth) return invalid(`the body nests deeper than ${maxDepth} levels`)
        stack[sp++] = c === 0x5b ? ARRAY : valueRole === ROLE_DATA ? DATA : OBJECT
        if (c === 0x7b) {
          i = readKey(b, i, n, keyContext(sp, stack))
          if (i < 0) return notJson(n)
          role = keyRole
        }
        continue value
      }
    } else if (c === 0x22) {
      const start = i
      escaped = false
      i = skipString(b, i, n)
      if (i < 0) return notJson(start)
      if (valueRole === ROLE_TYPE) type = [start, i, escaped]
      else if (valueRole === ROLE_ID) id = [start, i, escaped]
    } else {
      const start = i
      i = c === 0x74
        ? literal(b, i, "true")
        : c === 0x66
        ? literal(b, i, "false")
        : c === 0x6e
        ? literal(b, i, "null")
        : skipNumber(b, i, n)
      if (i < 0) return notJson(start)
    }
    // After a value: close containers, or a comma and the next member.
    while (true) {
      i = skipWs(b, i, n)
      if (sp === 0) {
        if (i !== n) return notJson(i)
        return {
          _tag: "Valid",
          envelope: topIsObject
            ? {
              dataIsObject,
              type: type === undefined ? undefined : stringAt(b, type[0], type[1], type[2]),
              id: id === undefined ? undefined : stringAt(b, id[0], id[1], id[2]),
              attributesIsObject
            }
            : undefined
        }
      }
      const c = b[i]
      const top = stack[sp - 1]
      if (c === 0x2c) {
        i++
        if (top !== ARRAY) {
          i = readKey(b, i, n, keyContext(sp, stack))
          if (i < 0) return notJson(n)
          role = keyRole
        }
        continue value
      }
      if (c === (top === ARRAY ? 0x5d : 0x7d)) {
        i++
        sp--
        continue
      }
      return notJson(i)
    }
  }
}

/**
 * What is wrong with a valid JSON text as an object answer, in the words `checkEnvelope` uses; `undefined` when
 * nothing is.
 *
 * @internal
 */
export const envelopeProblem = (envelope: Envelope | undefined): string | undefined => {
  if (envelope === undefined) return "the body is not a JSON object"
  if (!envelope.dataIsObject) return "the document has no \"data\" object"
  if (envelope.type === undefined) return "\"data.type\" is not a string"
  if (envelope.id === undefined) return "\"data.id\" is not a string"
  if (!envelope.attributesIsObject) return "\"data.attributes\" is not an object"
  return undefined
}
