/**
 * The one item pipeline every command runs: items → claim (one of each key at a time, duplicates stopped) → the
 * store decision (already saved? recorded as not found?) → the command's requests → an {@link Outcome.Outcome} →
 * one fold into the tally, one log line. A refused key, an untrusted connection or a store that fails stops the
 * run; anything else fails the item only.
 */
import type { ReportClaims, ReportKey } from "@vt-harvest/report-sink"
import { ReportSink } from "@vt-harvest/report-sink"
import type { VtError } from "@vt-harvest/vt-client"
import { Context, Duration, Effect, FiberRef, Option, Queue, Ref, Stream } from "effect"
import type { InputError } from "../internal/input.js"
import * as Failure from "./Failure.js"
import * as Outcome from "./Outcome.js"
import * as StoreHealth from "./StoreHealth.js"

/** An item to work on, and where it came from for messages (`line 3, hash …`, `file "a.exe"`). */
export interface Work<A> {
  readonly _tag: "Work"
  readonly value: A
  readonly where: string
}

/** What the source yields: work, or an outcome already decided (an invalid or ignored line). */
export type Item<A> = Work<A> | Outcome.Outcome

export const work = <A>(value: A, where: string): Item<A> => ({ _tag: "Work", value, where })

/** An item with the key it is stored under, and what its requests need (a file's hash and size, say). */
export interface Claim<B> {
  readonly _tag: "Claim"
  readonly key: ReportKey.ReportKey
  readonly value: B
}

export const claim = <B>(key: ReportKey.ReportKey, value: B): Claim<B> => ({ _tag: "Claim", key, value })

/**
 * What a run shares with other processes: claims on the ids in flight (`--quota-store`), so that no two processes
 * request the same id at once, and the part of the input this process takes (`--shard i/n`).
 */
export interface SharingService {
  readonly claims?: { readonly service: ReportClaims.Service; readonly scope: string } | undefined
  readonly shard?: { readonly index: number; readonly count: number } | undefined
}

/** The sharing of the run, when there is any (see `Run.run`). */
export class Sharing extends Context.Tag("@vt-harvest/cli/Sharing")<Sharing, SharingService>() {}

/**
 * The shard (0 to `count - 1`) of a key: FNV-1a of its bytes, the same on every machine and in every run, so that
 * `--shard 1/4` … `--shard 4/4` split one list into four parts that together hold every id once.
 */
export const shardOf = (key: string, count: number): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % count
}

/** What a command declares; the pipeline does the rest. */
export interface Spec<A, B, R> {
  readonly items: Stream.Stream<Item<A>, InputError, R>
  readonly concurrency: number
  /** The store whose answer decides whether an item is fetched. */
  readonly store: ReportSink.Service
  /** The key an item is stored under, or its outcome when it has none (an unsafe id, an unreadable file). */
  readonly key: (work: Work<A>) => Effect.Effect<Claim<B> | Outcome.Outcome, never, R>
  /** Fetch every item, whatever the store holds (--overwrite, --force). */
  readonly overwrite: boolean
  /** Fetch items recorded as not found by an earlier run. */
  readonly retryNotFound: boolean
  /** Log every skip (a few files or ids) or none (a resumed list of a million lines). */
  readonly logSkips: boolean
  /** What an item the store holds comes to (default: skipped); `undefined` fetches it anyway. */
  readonly stored?:
    | ((work: Work<B>, key: ReportKey.ReportKey) => Effect.Effect<Outcome.Outcome | undefined, Failure.StoreFailed, R>)
    | undefined
  /** The item's requests, and what they come to. A failed request fails the item or stops the run. */
  readonly fetch: (
    work: Work<B>,
    key: ReportKey.ReportKey,
    seen: ReportSink.Presence | undefined
  ) => Effect.Effect<Outcome.Outcome, VtError.VtError | Failure.Stop, R>
}

const log = (outcome: Outcome.Outcome): Effect.Effect<void> => {
  switch (outcome._tag) {
    case "Ignored":
      return Effect.void
    case "Invalid":
      return Effect.logWarning(outcome.message)
    case "Failed":
      return Effect.logError(outcome.message)
    case "NotFound":
      return outcome.warn ? Effect.logWarning(outcome.message) : Effect.logInfo(outcome.message)
    case "Skipped":
      return outcome.message === undefined
        ? Effect.void
        : outcome.warn
        ? Effect.logWarning(outcome.message)
        : Effect.logInfo(outcome.message)
    default:
      return Effect.logInfo(outcome.message)
  }
}

/**
 * The record an item's last step is writing, and what the item comes to once it has landed: set by the step as it
 * writes (Steps.keep), read by the pipeline when the run is stopped before it could count that outcome. A record that
 * landed at the instant of a stop is then counted and logged all the same: the run log and the summary name every
 * record the store gained.
 */
interface Landing {
  pending: { readonly landed: Effect.Effect<boolean, unknown>; readonly outcome: Outcome.Outcome } | undefined
}

const landingRef = FiberRef.unsafeMake<Landing | undefined>(undefined)

/** What a fetch answers once it has counted its own outcome. */
const counted: unique symbol = Symbol("counted")

/**
 * Says that the item being handled comes to `outcome` once the record being written has landed (`landed` tells, when
 * the run stops before the step answers). Outside the pipeline, nothing.
 */
export const landing = (landed: Effect.Effect<boolean, unknown>, outcome: Outcome.Outcome): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(landingRef), (slot) =>
    Effect.sync(() => {
      if (slot !== undefined) slot.pending = { landed, outcome }
    }))

/** Counts an outcome into the tally and writes its log line. */
export const record = (tally: Ref.Ref<Outcome.Tally>) => (outcome: Outcome.Outcome): Effect.Effect<void> =>
  Effect.zipRight(Ref.update(tally, (t) => Outcome.add(t, outcome)), log(outcome))

/** A step of an item counted as it happens (a file uploaded), before the item's outcome is known. */
export const step = (tally: Ref.Ref<Outcome.Tally>, counter: Outcome.Counter): Effect.Effect<void> =>
  Ref.update(tally, (t) => ({ ...t, [counter]: t[counter] + 1 }))

/** Runs `effect` counted as one analysis being waited for. */
export const waitingFor = <A, E, R>(tally: Ref.Ref<Outcome.Tally>, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Ref.update(tally, (t) => Outcome.waiting(t, 1)),
    () => effect,
    () => Ref.update(tally, (t) => Outcome.waiting(t, -1))
  )

/**
 * Runs every item of `spec` through a fixed pool of workers fed from a small bounded queue (memory stays flat: the
 * reader waits while the queue is full). Only keys in flight, and the few keys the store does not answer for
 * (failed, unfinished, or all of them under `overwrite`), are held in memory.
 */
export const run = <A, B, R>(
  spec: Spec<A, B, R>,
  tally: Ref.Ref<Outcome.Tally>
): Effect.Effect<void, Failure.Stop | InputError, R> =>
  Effect.gen(function*() {
    const count = record(tally)
    const sharing = Option.getOrUndefined(yield* Effect.serviceOption(Sharing))
    const shard = sharing?.shard
    const claims = sharing?.claims
    const inFlight = new Set<string>()
    const settled = new Set<string>()
    const skip = (work: { readonly where: string }, why: string) =>
      Outcome.skipped(spec.logSkips ? `skipped ${work.where}: ${why}` : undefined)

    // What the store holds is no answer under --overwrite (an earlier run's report is there to be replaced).
    const fetchedMeanwhile = (seen: ReportSink.Presence | undefined, now: ReportSink.Presence) =>
      !spec.overwrite && now !== seen && !ReportSink.isPendingPresence(now, spec)
    // Under --overwrite or --retry-not-found the store's answer alone cannot tell an earlier run's record from the
    // one another process just wrote: an id this process found held, whose claim was then given back (not taken over
    // from a process that died), and that the store now holds, was fetched by that process during this run.
    const handedBack = (heldElsewhere: boolean, attempt: ReportClaims.Attempt, now: ReportSink.Presence) =>
      heldElsewhere && attempt._tag === "Claimed" && attempt.takenFrom === undefined && now !== "absent"
    // With shared claims, an id is fetched only by the process that holds its claim; another process that wants it
    // meanwhile waits until the store has it (then it is skipped) or the claim is free or has expired (then it
    // claims it: a process that died holding it will not bring it).
    const fetch = (
      work: Work<B>,
      key: ReportKey.ReportKey,
      presence: ReportSink.Presence | undefined
    ): Effect.Effect<Outcome.Outcome, VtError.VtError | Failure.Stop, R> =>
      claims === undefined ? spec.fetch(work, key, presence) : Effect.gen(function*() {
        let seen = presence
        let heldElsewhere = false
        while (true) {
          const attempt = yield* Failure.storeOrStop(claims.service.acquire(claims.scope, key))
          const release = Effect.ignore(claims.service.release(claims.scope, key))
          if (attempt._tag === "Claimed") {
            // Another process may have fetched it, and let its claim go, since the store was asked.
            const now = yield* Failure.storeOrStop(spec.store.has(key)).pipe(Effect.tapError(() => release))
            if (fetchedMeanwhile(seen, now) || handedBack(heldElsewhere, attempt, now)) {
              return yield* Effect.as(release, skip(work, "fetched by another process"))
            }
            if (attempt.takenFrom !== undefined) {
              yield* Effect.logWarning(`took over ${work.where} from ${attempt.takenFrom}, whose claim expired`)
            }
            return yield* spec.fetch(work, key, now).pipe(Effect.ensuring(release))
          }
          heldElsewhere = true
          yield* Effect.sleep(Duration.millis(Math.min(1_000, Math.max(50, attempt.retryIn))))
          const now = yield* Failure.storeOrStop(spec.store.has(key))
          if (fetchedMeanwhile(seen, now)) return skip(work, "fetched by another process")
          seen = now
        }
      })

    // What an item comes to is counted once: its key settled (kept in memory only when the store will not answer
    // for it), then the tally and the log.
    const finish = (key: ReportKey.ReportKey, outcome: Outcome.Outcome) =>
      Effect.zipRight(
        Effect.sync(() => {
          // Memory holds only what the store will not answer for: a skipped item is the store's answer already
          // (a resumed list of a million lines keeps nothing), a failed or unfinished one is not.
          const answered = Outcome.isKept(outcome)
          if (spec.overwrite || !answered || (outcome._tag === "NotFound" && spec.retryNotFound)) settled.add(key)
        }),
        count(outcome)
      )

    /**
     * A fetch whose outcome is counted as it ends, in one uninterruptible step; stopped while its record was being
     * written, or before that step, its outcome is counted if the record landed (Steps.keep says what it writes).
     * Only items that are fetched pay for this: a skipped one is counted by `handle`.
     */
    const fetchCounted = (work: Work<B>, key: ReportKey.ReportKey, presence: ReportSink.Presence | undefined) =>
      Effect.suspend(() => {
        const slot: Landing = { pending: undefined }
        return fetch(work, key, presence).pipe(
          Effect.flatMap((outcome) =>
            Effect.uninterruptible(Effect.zipRight(Effect.sync(() => (slot.pending = undefined)), finish(key, outcome)))
          ),
          Effect.as(counted),
          Effect.locally(landingRef, slot),
          Effect.onInterrupt(() => {
            const pending = slot.pending
            if (pending === undefined) return Effect.void
            // Interruptible within the finalizer, or the bound could not cut a store that does not answer short.
            return Effect.interruptible(pending.landed).pipe(
              Effect.timeout(Duration.seconds(5)),
              Effect.orElseSucceed(() => false),
              Effect.flatMap((landed) => (landed ? count(pending.outcome) : Effect.void))
            )
          })
        )
      })

    const decide = (
      work: Work<B>,
      key: ReportKey.ReportKey
    ): Effect.Effect<Outcome.Outcome | typeof counted, Failure.Stop, R> =>
      Effect.gen(function*() {
        // While the store does not answer (being tried again), no item is started: no request for what may not be kept.
        if (StoreHealth.failing()) yield* StoreHealth.whenReady(Effect.void)
        if (spec.overwrite) return yield* fetchCounted(work, key, undefined)
        const presence = yield* Failure.storeOrStop(spec.store.has(key))
        if (presence === "saved" && spec.stored !== undefined) {
          const outcome = yield* spec.stored(work, key)
          if (outcome !== undefined) return outcome
          return yield* fetchCounted(work, key, presence)
        }
        if (!ReportSink.isPendingPresence(presence, spec)) {
          return skip(work, presence === "saved" ? "already saved" : "recorded as not found")
        }
        return yield* fetchCounted(work, key, presence)
      }).pipe(
        Effect.catchIf(
          (error): error is VtError.VtError => !isStop(error),
          (error) => Failure.classify(work.where)(error)
        ),
        // A fault of the program's own in one item's steps (something a server's answer led to that nothing expected)
        // fails that item, named, and the run goes on: one odd answer does not end a harvest, nor every rerun of it.
        Effect.catchAllDefect((defect) =>
          Effect.succeed(Outcome.failed(`${Failure.describeDefect(defect)} (${work.where})`))
        )
      )

    const handle = (work: Work<A>): Effect.Effect<void, Failure.Stop, R> =>
      Effect.flatMap(spec.key(work), (claimed) => {
        if (claimed._tag !== "Claim") return count(claimed)
        const key = claimed.key
        // Another shard's id: another process's to fetch (counted as handled, so that progress reaches the total).
        if (shard !== undefined && shardOf(key, shard.count) !== shard.index) return count(Outcome.ignored)
        // Checked and claimed in one step (no yield in between), so concurrent duplicates cannot both pass.
        if (inFlight.has(key) || settled.has(key)) {
          return count(skip(work, "a duplicate of an earlier item of this run"))
        }
        inFlight.add(key)
        return decide({ _tag: "Work", value: claimed.value, where: work.where }, key).pipe(
          Effect.flatMap((outcome) => (outcome === counted ? Effect.void : finish(key, outcome))),
          Effect.ensuring(Effect.sync(() => inFlight.delete(key)))
        )
      })

    // A queue hand-off per item: `Stream.mapEffect` with `concurrency` runs each element through its own channel
    // and fiber, about 0.25 ms per item at concurrency 32, more than a request costs (bench/RESULTS.md).
    const workers = Math.max(1, spec.concurrency)
    const queue = yield* Queue.bounded<Work<A> | undefined>(Math.max(64, workers * 2))
    const reader = spec.items.pipe(
      Stream.runForEachChunk((chunk) => {
        const todo: Array<Work<A>> = []
        const decided: Array<Outcome.Outcome> = []
        for (const item of chunk) {
          if (item._tag === "Work") todo.push(item)
          else decided.push(item)
        }
        return Effect.zipRight(Effect.forEach(decided, count, { discard: true }), Queue.offerAll(queue, todo))
      }),
      Effect.zipRight(Queue.offerAll(queue, Array.from({ length: workers }, () => undefined)))
    )
    const worker = Effect.gen(function*() {
      while (true) {
        const item = yield* Queue.take(queue)
        if (item === undefined) return
        yield* handle(item)
      }
    })
    // Any failure (unreadable input, refused key, unwritable store) interrupts the reader and every worker.
    yield* Effect.all([
      reader,
      Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true })
    ], { concurrency: "unbounded", discard: true }).pipe(Effect.ensuring(Queue.shutdown(queue)))
  })

const isStop = (error: unknown): error is Failure.Stop =>
  error instanceof Failure.KeyRefused || error instanceof Failure.Untrusted || error instanceof Failure.StoreFailed
