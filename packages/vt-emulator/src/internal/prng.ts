/**
 * mulberry32: tiny, fast and good enough for test faults and synthetic data. It is seeded so that a test (or a
 * benchmark) sees the same sequence of faults and the same documents on every run.
 */
export type Prng = () => number

export const mulberry32 = (seed: number): Prng => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const pick = <A>(rng: Prng, items: ReadonlyArray<A>): A => items[Math.floor(rng() * items.length)]

export const intBetween = (rng: Prng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1))

export const hexString = (rng: Prng, length: number): string => {
  let out = ""
  for (let i = 0; i < length; i++) out += "0123456789abcdef"[Math.floor(rng() * 16)]
  return out
}
