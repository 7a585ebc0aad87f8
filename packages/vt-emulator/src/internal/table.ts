/**
 * The route table: every path of the APIs the emulator serves, by mount (`/api/v3`, one-time upload URLs,
 * `/vtapi/v2`), with the handler, the id the request log names, and how admission treats it.
 * The order of the routes of a mount matters only where patterns overlap: the first that fits wins.
 */
import type { Context, Handler, Incoming } from "./context.js"
import * as R from "./reply.js"
import * as Router from "./router.js"
import * as Analyses from "./routes/analyses.js"
import * as Behaviours from "./routes/behaviours.js"
import * as Collections from "./routes/collections.js"
import * as Files from "./routes/files.js"
import * as Legacy from "./routes/legacy.js"
import * as Objects from "./routes/objects.js"
import * as Premium from "./routes/premium.js"
import * as Uploads from "./routes/uploads.js"
import * as Urls from "./routes/urls.js"
import * as Users from "./routes/users.js"

export interface Route extends Router.RouteSpec {
  readonly handler: Handler
  /** The id the request log names, decided before authentication so that refusals name it too. */
  readonly logId?: (request: Incoming) => string | undefined
  /** Neither counted nor limited nor faulted (the quota endpoints: clients ask them precisely when refused). */
  readonly exempt?: true
  /** Taken without a key, and neither counted nor limited nor faulted (signed download URLs). */
  readonly open?: true
  /**
   * The endpoint `api_usage` counts the request under, named as VirusTotal's documentation names them
   * (`file_report`, `url_submission`, `file_relationships`…); by default the mount's group.
   */
  readonly usage?: (request: Incoming) => string
  /**
   * Reads what admission needs from the body first (v2, whose key may be a form field): the request with its body
   * and key, or the answer to a body that cannot be read.
   */
  readonly read?: (context: Context, request: Incoming) => Promise<Incoming | R.Reply>
}

export interface Mount extends Router.MountSpec<Route> {
  readonly dialect: R.Dialect
  /** The `api_usage` group its requests count in; by default the first segment below the base. */
  readonly group?: string
  /**
   * A path under the base that no route has (or not with this method): a route to admit like any other, or an
   * answer given at once, unadmitted.
   */
  readonly unmatched: (otherMethod: boolean) => Route | R.Reply
}

const notFound: Route = { method: "*", path: "", handler: () => R.notFound }

const singular: Readonly<Record<string, string>> = {
  files: "file",
  urls: "url",
  domains: "domain",
  ip_addresses: "ip_address"
}

/** `<object>_<what>` for a route below `/{collection}/…` (`file_report`, `domain_relationships`). */
const perObject = (what: string) => (request: Incoming): string =>
  `${singular[request.path.split("/")[3] ?? ""] ?? "object"}_${what}`

const named = (name: string) => (): string => name

/** A route below `/{collection}/{id}`: the log names the object, as the collection writes its ids. */
const onObject = (
  method: Route["method"],
  path: string,
  handler: Handler,
  collection: "files" | "urls" | undefined,
  usage: (request: Incoming) => string
): Route => ({ method, path, handler, logId: Objects.objectId(collection), usage })

const COLLECTION = ":collection(files|urls|domains|ip_addresses)"

const api: Mount = {
  base: "/api/v3",
  exact: true,
  dialect: "v3",
  unmatched: () => notFound,
  routes: [
    // The hot path of every benchmark first.
    { method: "GET", path: "/files/upload_url", handler: Files.uploadUrl, usage: named("file_upload_url") },
    onObject("GET", "/files/:id", Files.report, "files", named("file_report")),
    onObject("GET", "/files/:id/download", Premium.download, "files", named("file_download")),
    onObject("GET", "/files/:id/download_url", Premium.downloadUrl, "files", named("file_download_url")),
    {
      method: "GET",
      path: "/intelligence/search",
      handler: Premium.search,
      usage: named("intelligence_search")
    },
    { method: "POST", path: "/files", handler: Files.upload, usage: named("file_upload") },
    onObject("POST", "/files/:id/analyse", Files.analyse, "files", named("file_rescan")),
    onObject("GET", "/files/:id/behaviour_summary", Behaviours.summary, "files", named("file_behaviours")),
    onObject("GET", "/files/:id/behaviour_mitre_trees", Behaviours.mitreTrees, "files", named("file_behaviours")),
    onObject("GET", "/files/:id/behaviours", Behaviours.list, "files", named("file_behaviours")),
    { method: "POST", path: "/urls", handler: Urls.submit, usage: named("url_submission") },
    onObject("POST", "/urls/:id/analyse", Urls.analyse, "urls", named("url_rescan")),
    onObject("GET", "/:collection(urls|domains|ip_addresses)/:id", Collections.report, undefined, perObject("report")),
    onObject(["GET", "POST"], `/${COLLECTION}/:id/comments`, Collections.comments, undefined, perObject("comments")),
    onObject(["GET", "POST"], `/${COLLECTION}/:id/votes`, Collections.votes, undefined, perObject("votes")),
    onObject("GET", `/${COLLECTION}/:id/:relationship`, Collections.related, undefined, perObject("relationships")),
    onObject(
      "GET",
      `/${COLLECTION}/:id/relationships/:relationship`,
      Collections.descriptors,
      undefined,
      perObject("relationships")
    ),
    onObject("*", `/${COLLECTION}/:id/**`, notFound.handler, undefined, perObject("report")),
    {
      method: "GET",
      path: "/file_behaviours/:id",
      handler: Behaviours.behaviour,
      logId: Behaviours.behaviourId,
      usage: named("file_behaviours")
    },
    {
      method: "GET",
      path: "/file_behaviours/:id/:artefact",
      handler: Behaviours.artefact,
      logId: Behaviours.behaviourId,
      usage: named("file_behaviours")
    },
    {
      method: "GET",
      path: "/analyses/:id",
      handler: Analyses.analysis,
      logId: Analyses.analysisId,
      usage: named("analysis")
    },
    {
      method: "GET",
      path: "/analyses/:id/item",
      handler: Analyses.item,
      logId: Analyses.analysisId,
      usage: named("analysis")
    },
    { method: "GET", path: "/users/:user/overall_quotas", handler: Users.overallQuotas, exempt: true },
    { method: "GET", path: "/users/:user/api_usage", handler: Users.apiUsage, exempt: true }
  ]
}

/** One-time upload URLs (see `GET /files/upload_url`), counted as `/files` requests. */
const uploads: Mount = {
  base: Files.UPLOAD_BASE,
  dialect: "v3",
  group: "files",
  // Another method on an upload URL is admitted and not found; no token at all is no upload URL.
  unmatched: (otherMethod) => otherMethod ? notFound : R.notFound,
  routes: [{ method: "POST", path: "/*token", handler: Uploads.upload, usage: named("file_upload") }]
}

/** Signed download URLs (see `GET /files/{id}/download`): no key, not counted. */
const storage: Mount = {
  base: Premium.STORAGE_BASE,
  dialect: "v3",
  unmatched: () => R.notFound,
  routes: [{ method: "GET", path: "/:sha256", handler: Premium.storage, open: true }]
}

const v2 = (
  path: string,
  handler: Handler,
  logId: (request: Incoming) => string | undefined,
  read: (context: Context, request: Incoming) => Promise<Incoming | R.Reply> = Legacy.read
): Route => ({
  method: ["GET", "POST"],
  path,
  handler,
  logId,
  read
})

const legacy: Mount = {
  base: "/vtapi/v2",
  dialect: "v2",
  group: "v2",
  unmatched: Legacy.unmatched,
  routes: [
    v2("/file/report", Legacy.fileReport, Legacy.fileId),
    v2("/file/scan", Legacy.fileScan, Legacy.fileId, Legacy.readUpload),
    v2("/url/report", Legacy.urlReport, Legacy.objectId),
    v2("/url/scan", Legacy.urlScan, Legacy.objectId),
    v2("/domain/report", Legacy.domainReport, Legacy.objectId),
    v2("/ip-address/report", Legacy.ipReport, Legacy.objectId)
  ]
}

export const table: Router.Table<Route, Mount> = Router.compile<Route, Mount>([api, uploads, storage, legacy])
