// Shared set-up of the tests that run the client against the emulator over real HTTP.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as FileSystem from "@effect/platform/FileSystem"
import { assert } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import { inspect } from "node:util"
import * as VtClient from "../src/VtClient.js"

export const KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

export const sha256 = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex")

const find = <A>(make: (i: number) => A, ok: (a: A) => boolean): A => {
  for (let i = 0;; i++) {
    const a = make(i)
    if (ok(a)) return a
  }
}

export const knownFile = find((i) => sha256(`client-file-${i}`), VtEmulator.isKnown)
export const unknownFile = find((i) => sha256(`client-file-${i}`), (id) => !VtEmulator.isKnown(id))
export const knownDomain = find((i) => `host-${i}.example.org`, VtEmulator.isKnown)
export const unknownDomain = find((i) => `host-${i}.example.org`, (d) => !VtEmulator.isKnown(d))
export const knownIp = find((i) => `198.51.100.${i}`, VtEmulator.isKnown)
export const unknownIp = find((i) => `198.51.100.${i}`, (ip) => !VtEmulator.isKnown(ip))
export const knownUrl = find((i) => `https://www.example.net/path/${i}?q=1`, VtEmulator.isKnownUrl)
export const unknownUrl = find((i) => `https://www.example.net/path/${i}?q=1`, (u) => !VtEmulator.isKnownUrl(u))

export type Env = VtClient.VtClient | FileSystem.FileSystem

/**
 * The client for an emulator, as an application builds it: on HttpClient (`layer` with undici's HttpClient), or on
 * undici directly (`layerUndici`) when VT_TEST_TRANSPORT is "undici" (vitest.config.ts runs these suites both ways).
 */
export const clientLayer = (server: VtEmulator.Server, apiKey: string = KEY, options?: Partial<VtClient.Options>) =>
  Layer.merge(
    process.env.VT_TEST_TRANSPORT === "undici"
      ? VtClient.layerUndici({ apiKey: Redacted.make(apiKey), baseUrl: server.url, ...options })
      : VtClient.layer({ apiKey: Redacted.make(apiKey), baseUrl: server.url, ...options }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      ),
    NodeFileSystem.layer
  )

/** Starts an emulator (closed with the scope) and runs `f` with a client for it. */
export const withEmulator = <A, E>(
  options: VtEmulator.Options,
  f: (server: VtEmulator.Server) => Effect.Effect<A, E, Env>
): Effect.Effect<A, E, Scope.Scope> =>
  Effect.flatMap(
    VtEmulator.make({ apiKeys: [KEY], ...options }),
    (server) => Effect.provide(f(server), clientLayer(server))
  )

/** A real pause, for I/O to happen while the TestClock stands still. */
export const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/**
 * Waits (in real time) until the emulator has logged `n` requests and a fiber sleeps `delayMs` from now on the
 * TestClock (the next poll), so that adjusting the clock wakes it.
 */
export const settle = (server: VtEmulator.Server, n: number, delayMs: number) =>
  Effect.gen(function*() {
    while (server.requests.length < n) yield* realSleep(2)
    const now = yield* Clock.currentTimeMillis
    while (!Chunk.some(yield* TestClock.sleeps(), (t) => t === now + delayMs)) yield* realSleep(2)
  })

export const decodeJson = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes))

/** Every string form an error can take on its way to a log, a terminal or a file. */
export const renderings = (error: unknown): ReadonlyArray<string> => {
  const cause = Cause.fail(error)
  return [
    String(error),
    JSON.stringify(error),
    inspect(error, { depth: 10 }),
    error instanceof Error ? error.stack ?? "" : "",
    String(cause),
    Cause.pretty(cause),
    JSON.stringify(cause)
  ]
}

export const assertNoKey = (texts: ReadonlyArray<string>, key: string = KEY) => {
  for (const text of texts) {
    assert.notInclude(text.toLowerCase(), key.toLowerCase())
    assert.notInclude(text.toLowerCase(), key.slice(0, 24).toLowerCase())
  }
}
