/**
 * The `.env` of the working directory, which supplies the API key and nothing else: settings that decide where the
 * key is sent or where data is written (VT_BASE_URL, VT_OUT, VT_LOG_DIR…) never come from a file that happens to
 * lie in whatever directory the user is in. Read only when the environment has no key, only if it is a regular
 * file, and at most {@link maxBytes}.
 */
import * as Bounded from "./bounded.js"

/** The largest `.env` read. */
export const maxBytes = 64 * 1024

/** The key's value in a `.env` text (`VT_API_KEY=…`, `export VT_API_KEY="…"`); the last assignment wins. */
export const parseApiKey = (text: string): string | undefined => {
  let found: string | undefined
  for (const raw of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?VT_API_KEY\s*=\s*(.*)$/.exec(raw)
    if (match === null) continue
    const value = match[1]
    const quoted = /^(["'`])(.*?)\1/.exec(value)
    found = quoted !== null ? quoted[2] : value.replace(/\s+#.*$/, "").trim()
  }
  return found
}

/** What `.env` holds for the key: its value, nothing, or why the file was passed over. */
export type Found =
  | { readonly _tag: "Key"; readonly value: string }
  | { readonly _tag: "None"; readonly note?: string }

export const apiKey = async (path = ".env"): Promise<Found> => {
  const result = await Bounded.read(path, { max: maxBytes, regularOnly: true })
  if (result._tag === "Missing") return { _tag: "None" }
  if (result._tag !== "Text") return { _tag: "None", note: `.env ignored: ${Bounded.describeProblem(result)}` }
  const value = parseApiKey(result.text)
  return value === undefined ? { _tag: "None" } : { _tag: "Key", value }
}
