/**
 * What one emulator remembers between requests: submitted files and URLs, their analyses (whose status follows
 * the emulator's clock), one-time upload URLs, and per-day usage for `api_usage`.
 */
import { randomBytes } from "node:crypto"
import { type FileIdentity, variantOfSha256 } from "./document.js"

export const DEFAULT_QUEUED_MS = 20_000
export const DEFAULT_COMPLETED_MS = 60_000
const UPLOAD_URL_TTL_MS = 3_600_000
const MAX_ANALYSES = 100_000
const MAX_SEEN_URLS = 10_000

export interface SubmittedFile {
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
  readonly size: number
  readonly name: string
  /**
   * When it was first submitted (ms). Its analysis completes, and from then on the file has a report, the
   * emulator's `analysisCompletedMs` later (as in force when asked: an update applies to earlier submissions too).
   */
  readonly submittedAt: number
}

export type AnalysisStatus = "queued" | "in-progress" | "completed"

interface AnalysisRecord {
  readonly id: string
  /** ms */
  readonly created: number
  readonly file?: {
    readonly sha256: string
    readonly sha1: string
    readonly md5: string
    readonly size: number
    readonly variant: number
  }
  readonly url?: { readonly id: string; readonly url: string }
}

export class State {
  files = new Map<string, SubmittedFile>()
  /** md5 / sha1 / sha256 → sha256 of submitted files. */
  fileIndex = new Map<string, string>()
  urls = new Map<string, { readonly url: string; readonly submittedAt: number }>()
  seenUrls = new Map<string, string>()
  analyses = new Map<string, AnalysisRecord>()
  uploadTokens = new Map<string, number>()
  /** `files/<sha256>` or `urls/<id>` → when its latest rescan completes (ms): its report is analysed then. */
  rescans = new Map<string, number>()

  clear(): void {
    this.rescans = new Map()
    this.files = new Map()
    this.fileIndex = new Map()
    this.urls = new Map()
    this.seenUrls = new Map()
    this.analyses = new Map()
    this.uploadTokens = new Map()
  }

  // -- files ------------------------------------------------------------------------------------------------------

  submitFile(file: Omit<SubmittedFile, "submittedAt">, submittedAt: number): SubmittedFile {
    const previous = this.files.get(file.sha256)
    // A resubmission of a file keeps the first submission's time (and so the report it has, or is about to have).
    const record = { ...file, submittedAt: previous === undefined ? submittedAt : previous.submittedAt }
    this.files.set(file.sha256, record)
    this.fileIndex.set(file.sha256, file.sha256)
    this.fileIndex.set(file.sha1, file.sha256)
    this.fileIndex.set(file.md5, file.sha256)
    return record
  }

  /** The submitted file an id (any hash, lower-cased) names. */
  submitted(id: string): SubmittedFile | undefined {
    if (this.files.size === 0) return undefined
    const sha = this.fileIndex.get(id)
    return sha === undefined ? undefined : this.files.get(sha)
  }

  // -- urls -------------------------------------------------------------------------------------------------------

  rememberUrl(id: string, url: string): void {
    if (this.seenUrls.has(id)) return
    if (this.seenUrls.size >= MAX_SEEN_URLS) this.seenUrls.delete(this.seenUrls.keys().next().value as string)
    this.seenUrls.set(id, url)
  }

  submitUrl(id: string, url: string, submittedAt: number): void {
    this.rememberUrl(id, url)
    if (!this.urls.has(id)) this.urls.set(id, { url, submittedAt })
  }

  // -- analyses ---------------------------------------------------------------------------------------------------

  private addAnalysis(record: AnalysisRecord): string {
    const existing = this.analyses.get(record.id)
    if (existing !== undefined) return existing.id
    if (this.analyses.size >= MAX_ANALYSES) this.analyses.delete(this.analyses.keys().next().value as string)
    this.analyses.set(record.id, record)
    return record.id
  }

  /** VirusTotal's file analysis ids are standard, padded base64 of "<md5>:<unix seconds>" (they end in "=="). */
  fileAnalysis(file: Pick<FileIdentity, "sha256" | "sha1" | "md5" | "size">, at: number, variant?: number): string {
    const seconds = Math.floor(at / 1000)
    return this.addAnalysis({
      id: Buffer.from(`${file.md5}:${seconds}`).toString("base64"),
      created: at,
      file: {
        sha256: file.sha256,
        sha1: file.sha1,
        md5: file.md5,
        size: file.size,
        variant: variant ?? variantOfSha256(file.sha256)
      }
    })
  }

  /** URL analysis ids are "u-<url id>-<unix seconds>". */
  urlAnalysis(id: string, url: string, at: number): string {
    return this.addAnalysis({ id: `u-${id}-${Math.floor(at / 1000)}`, created: at, url: { id, url } })
  }

  /** A rescan (`POST /files/{id}/analyse`, `/urls/{id}/analyse`) of `key` whose analysis completes at `completesAt`. */
  rescan(collection: "files" | "urls", key: string, completesAt: number): void {
    const name = `${collection}/${key}`
    if (!this.rescans.has(name) && this.rescans.size >= MAX_ANALYSES) {
      this.rescans.delete(this.rescans.keys().next().value as string)
    }
    this.rescans.set(name, completesAt)
  }

  /** When the report of `key` was last analysed by a rescan completed by `at` (Unix seconds), if it was. */
  rescannedAt(collection: "files" | "urls", key: string, at: number): number | undefined {
    if (this.rescans.size === 0) return undefined
    const completesAt = this.rescans.get(`${collection}/${key}`)
    return completesAt === undefined || at < completesAt ? undefined : Math.floor(completesAt / 1000)
  }

  analysis(id: string): AnalysisRecord | undefined {
    return this.analyses.get(id)
  }

  // -- upload urls ------------------------------------------------------------------------------------------------

  newUploadToken(at: number): string {
    const token = randomBytes(24).toString("base64url")
    this.uploadTokens.set(token, at + UPLOAD_URL_TTL_MS)
    return token
  }

  /** True once per token, within its lifetime. */
  consumeUploadToken(token: string, at: number): boolean {
    const expires = this.uploadTokens.get(token)
    if (expires === undefined) return false
    this.uploadTokens.delete(token)
    return at < expires
  }

  knowsUploadToken(token: string): boolean {
    return this.uploadTokens.has(token)
  }
}

export const statusAt = (created: number, at: number, queuedMs: number, completedMs: number): AnalysisStatus => {
  const elapsed = at - created
  return elapsed < queuedMs ? "queued" : elapsed < completedMs ? "in-progress" : "completed"
}

export type { AnalysisRecord }
