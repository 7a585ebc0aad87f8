/**
 * Untrusted text (input lines, ids, server bodies, file names) made safe for a terminal or a log line.
 */

/**
 * One line, control characters (C0, DEL, C1, U+2028/U+2029, the bidirectional formatting characters) turned into
 * spaces, at most `max` characters.
 */
export const oneLine = (text: string, max = 1000): string => {
  const flat = text.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g,
    " "
  ).trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}

/** Quoted as a JSON string (control characters escaped), at most `max` characters: never breaks a line. */
export const quote = (text: string, max = 120): string => {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text
  return JSON.stringify(cut).replace(
    /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )
}

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

/**
 * Control characters (C0, DEL, C1, where U+009B is a terminal's CSI and U+009D its OSC), the Unicode line and
 * paragraph separators and the bidirectional formatting characters (U+202E and its kin, which reorder what a line
 * shows) made visible (`\u001b`, `\n`): what a terminal receives can never change its title, its
 * colours or the lines above. The run log flattens its lines the same way.
 */
export const escapeControls = (text: string): string =>
  text.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/**
 * {@link escapeControls} for text that is not shown on a terminal now but may be later (CSV piped on or saved, then
 * `cat`): every control character but tab and line feed, which a file needs as they are and which cannot change a
 * terminal's title, colours or what is already on a line (a carriage return can: it is escaped).
 */
export const escapeTerminalControls = (text: string): string =>
  text.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/**
 * {@link escapeTerminalControls} for the messages of a library that colours its own words (@effect/cli's errors,
 * which quote the arguments given): its colour sequences (SGR, `ESC [ … m`) kept, every other control character
 * escaped, so that an argument cannot clear the screen or set the terminal's title.
 */
export const escapeControlsButColours = (text: string): string =>
  text.split(/(\u001b\[[0-9;]*m)/).map((part, i) => (i % 2 === 1 ? part : escapeTerminalControls(part))).join("")

/**
 * JSON text with DEL, C1, the Unicode separators and the bidirectional formatting characters escaped too
 * (`JSON.stringify` leaves them raw).
 */
export const json = (value: unknown, indent?: number): string =>
  JSON.stringify(value, null, indent).replace(
    /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )
