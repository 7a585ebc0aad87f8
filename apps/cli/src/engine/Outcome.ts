/**
 * What became of one item of a run, as a value, and the tally every outcome folds into. Progress displays and the
 * summary line are views of the tally; the exit status is read from it.
 */

/** The numbers a tally keeps: one per outcome, and the extra steps some outcomes record (`also`). */
export type Counter =
  | "saved"
  | "notFound"
  | "skipped"
  | "invalid"
  | "failed"
  | "uploaded"
  | "known"
  | "analysed"
  | "completed"
  | "found"

/** What became of one item. `message` (for the run log) is written once, by the pipeline, at the tag's level. */
export type Outcome =
  | {
    /** The item's record was stored. */
    readonly _tag: "Saved"
    readonly message: string
    readonly also: ReadonlyArray<Counter>
    /** The store now answers for this key: a later duplicate is decided by the store, not by memory. */
    readonly kept: boolean
  }
  | { readonly _tag: "NotFound"; readonly message: string; readonly kept: boolean; readonly warn: boolean }
  /** Sent, with nothing to keep as a report yet (scan --no-wait). */
  | { readonly _tag: "Submitted"; readonly message: string; readonly also: ReadonlyArray<Counter> }
  /**
   * `warn`: the user should see why (a symbolic link not followed), not only the run log. `kept`: the store answers
   * for the item (already saved, recorded as not found); not so for one skipped for another reason (its upload still
   * analysed), whose duplicates in the run are then stopped from memory.
   */
  | { readonly _tag: "Skipped"; readonly message: string | undefined; readonly warn: boolean; readonly kept: boolean }
  | { readonly _tag: "Invalid"; readonly message: string }
  | { readonly _tag: "Failed"; readonly message: string; readonly also: ReadonlyArray<Counter> }
  /** A blank or comment line (another shard's id): no item, but a line of the input, counted towards its total. */
  | { readonly _tag: "Ignored" }

export const saved = (
  message: string,
  options?: { readonly also?: ReadonlyArray<Counter>; readonly kept?: boolean }
): Outcome => ({ _tag: "Saved", message, also: options?.also ?? [], kept: options?.kept ?? true })

export const notFound = (message: string, options?: { readonly kept?: boolean; readonly warn?: boolean }): Outcome => ({
  _tag: "NotFound",
  message,
  kept: options?.kept ?? true,
  warn: options?.warn === true
})

export const submitted = (message: string, also: ReadonlyArray<Counter> = []): Outcome => ({
  _tag: "Submitted",
  message,
  also
})

/** Skips of a resumed run are counted, not logged: a million lines would otherwise make a million messages. */
export const skipped = (message?: string, options?: { readonly warn?: boolean; readonly kept?: boolean }): Outcome => ({
  _tag: "Skipped",
  message,
  warn: options?.warn === true,
  kept: options?.kept ?? true
})

export const invalid = (message: string): Outcome => ({ _tag: "Invalid", message })

export const failed = (message: string, also: ReadonlyArray<Counter> = []): Outcome => ({
  _tag: "Failed",
  message,
  also
})

export const ignored: Outcome = { _tag: "Ignored" }

/** Whether the store answers for the item's key after this outcome (else a duplicate is stopped from memory). */
export const isKept = (outcome: Outcome): boolean =>
  (outcome._tag === "Saved" || outcome._tag === "NotFound" || outcome._tag === "Skipped") && outcome.kept

// -- the tally -----------------------------------------------------------------------------------------------------

/**
 * Every outcome so far, counted; `handled` counts every item and ignored line (a blank or comment line, another
 * shard's id), `ignored` those lines alone; `waiting`, analyses awaited now.
 */
export type Tally = { readonly [C in Counter]: number } & {
  readonly handled: number
  readonly ignored: number
  readonly waiting: number
}

export const empty: Tally = {
  saved: 0,
  notFound: 0,
  skipped: 0,
  invalid: 0,
  failed: 0,
  uploaded: 0,
  known: 0,
  analysed: 0,
  completed: 0,
  found: 0,
  handled: 0,
  ignored: 0,
  waiting: 0
}

const counterOf = (outcome: Outcome): Counter | undefined => {
  switch (outcome._tag) {
    case "Saved":
      return "saved"
    case "NotFound":
      return "notFound"
    case "Skipped":
      return "skipped"
    case "Invalid":
      return "invalid"
    case "Failed":
      return "failed"
    default:
      return undefined
  }
}

/** The tally with one more outcome. */
export const add = (tally: Tally, outcome: Outcome): Tally => {
  const next: { -readonly [K in keyof Tally]: number } = { ...tally, handled: tally.handled + 1 }
  const counter = counterOf(outcome)
  if (counter !== undefined) next[counter]++
  if (outcome._tag === "Ignored") next.ignored++
  if ("also" in outcome) { for (const extra of outcome.also) next[extra]++ }
  return next
}

/** One more (or one fewer, with -1) analysis being waited for. */
export const waiting = (tally: Tally, delta: 1 | -1): Tally => ({ ...tally, waiting: tally.waiting + delta })

const labels: { readonly [C in Counter]: string } = {
  saved: "saved",
  notFound: "not found",
  skipped: "skipped",
  invalid: "invalid",
  failed: "failed",
  uploaded: "uploaded",
  known: "known",
  analysed: "analysed",
  completed: "completed",
  found: "found"
}

/** `saved 3, not found 1, …` for the counters a command shows, in its order. */
export const describe = (tally: Tally, counters: ReadonlyArray<Counter>): Array<string> =>
  counters.map((counter) => `${labels[counter]} ${tally[counter]}`)

/** The summary line of a run. */
export const summaryLine = (tally: Tally, counters: ReadonlyArray<Counter>): string =>
  `summary: ${describe(tally, counters).join(", ")}`

/** The exit status a finished run's tally says: 1 when any item failed. */
export const exitStatus = (tally: Tally): number => (tally.failed > 0 ? 1 : 0)
