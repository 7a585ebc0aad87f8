import { describe, it } from "@effect/vitest"
import { VtId } from "@vt-harvest/vt-client"
import { FastCheck } from "effect"
import { classify } from "../src/internal/input.js"

const hex = FastCheck.stringOf(FastCheck.constantFrom(..."0123456789abcdefABCDEF"), { minLength: 0, maxLength: 70 })
const noise = FastCheck.oneof(FastCheck.string(), FastCheck.fullUnicodeString(), hex, hex.map((h) => ` \t${h}\t `))

describe("input lines", () => {
  it.prop("any line is ignored, invalid with a reason, or a normalised hash: never a crash", [noise], ([text]) => {
    const parsed = classify({ number: 7, text }, VtId.fileHash)
    switch (parsed._tag) {
      case "Ignored":
        return text.trim() === "" || text.trim().startsWith("#")
      case "Invalid":
        return parsed.reason.length > 0 && parsed.line.number === 7
      case "Id":
        return /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/.test(parsed.id) && parsed.id === text.trim().toLowerCase()
    }
  })
})
