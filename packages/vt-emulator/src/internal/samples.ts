/**
 * The files the emulator has the content of: a small corpus of deterministic samples (what `/files/{id}/download`
 * serves and Intelligence search finds), each generated once, on first use, and then served from memory. A real
 * sample's SHA-256 is the hash of its bytes, so the corpus is what makes downloads verifiable: no other known id has
 * content.
 */
import * as crypto from "node:crypto"

/** How many samples the corpus holds. */
export const SAMPLE_COUNT = 32

export interface Sample {
  readonly index: number
  readonly bytes: Buffer
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
}

/** 4 KiB to 1 MiB, spread over the corpus: sample 0 is the largest (tests interrupt its download). */
const sizeOf = (index: number): number => 4096 * (index === 0 ? 256 : 1 + ((index * 37) % 200))

const generate = (index: number): Sample => {
  const key = crypto.createHash("sha256").update(`vt-emulator sample ${index}`).digest()
  const cipher = crypto.createCipheriv("aes-256-ctr", key, Buffer.alloc(16))
  const bytes = Buffer.concat([
    Buffer.from(`MZ vt-emulator sample ${index}: synthetic bytes, not a program\n`, "latin1"),
    cipher.update(Buffer.alloc(sizeOf(index))),
    cipher.final()
  ])
  const digest = (algorithm: string) => crypto.createHash(algorithm).update(bytes).digest("hex")
  return { index, bytes, sha256: digest("sha256"), sha1: digest("sha1"), md5: digest("md5") }
}

const cache: Array<Sample | undefined> = []
let bySha256: Map<string, number> | undefined

/** Sample `index` (0 ≤ index < SAMPLE_COUNT). */
export const sample = (index: number): Sample => (cache[index] ??= generate(index))

/** The sample whose SHA-256 (lower-cased) this is, if any. */
export const sampleBySha256 = (sha256: string): Sample | undefined => {
  bySha256 ??= new Map(Array.from({ length: SAMPLE_COUNT }, (_, i) => [sample(i).sha256, i]))
  const index = bySha256.get(sha256.toLowerCase())
  return index === undefined ? undefined : sample(index)
}
