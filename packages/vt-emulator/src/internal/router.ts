/**
 * The route matcher: the only code that reads the shape of a path. A path belongs to the first mount whose base
 * it is under; within it, the first route whose method and pattern fit wins. Patterns are compiled once.
 *
 * Pattern segments: `name` (literal), `:name` (one non-empty segment), `:name(a|b)` (one of those), `**` (zero or
 * more further non-empty segments, last) and `*name` (the raw rest of the path, non-empty, slashes included, last).
 * A path with an empty segment (`/files//x`, a trailing slash) matches no segment pattern.
 */

export type Params = Readonly<Record<string, string>>

export interface RouteSpec {
  /** A method, several, or "*" for any. */
  readonly method: string | ReadonlyArray<string>
  /** Relative to the mount's base, e.g. "/files/:id". */
  readonly path: string
}

export interface MountSpec<R extends RouteSpec> {
  readonly base: string
  /** Whether the base itself (no trailing slash) belongs to the mount. */
  readonly exact?: boolean
  readonly routes: ReadonlyArray<R>
}

type Segment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "param"; readonly name: string; readonly oneOf: ReadonlySet<string> | undefined }
  | { readonly kind: "more" }
  | { readonly kind: "rest"; readonly name: string }

interface CompiledRoute<R> {
  readonly route: R
  readonly methods: ReadonlySet<string> | undefined
  readonly segments: ReadonlyArray<Segment>
}

interface CompiledMount<R, M> {
  readonly mount: M
  readonly base: string
  readonly prefix: string
  readonly exact: boolean
  readonly routes: ReadonlyArray<CompiledRoute<R>>
}

/** The mounts and their routes, compiled. */
export interface Table<R, M> {
  readonly mounts: ReadonlyArray<CompiledMount<R, M>>
}

const compileSegment = (text: string): Segment => {
  if (text === "**") return { kind: "more" }
  if (text.startsWith("*")) return { kind: "rest", name: text.slice(1) }
  const param = /^:(\w+)(?:\(([^)]*)\))?$/.exec(text)
  if (param === null) return { kind: "literal", value: text }
  return { kind: "param", name: param[1], oneOf: param[2] === undefined ? undefined : new Set(param[2].split("|")) }
}

export const compile = <R extends RouteSpec, M extends MountSpec<R>>(mounts: ReadonlyArray<M>): Table<R, M> => ({
  mounts: mounts.map((mount) => ({
    mount,
    base: mount.base,
    prefix: `${mount.base}/`,
    exact: mount.exact === true,
    routes: mount.routes.map((route) => ({
      route,
      methods: route.method === "*"
        ? undefined
        : new Set(typeof route.method === "string" ? [route.method] : route.method),
      segments: route.path.split("/").slice(1).map(compileSegment)
    }))
  }))
})

const matchSegments = (pattern: ReadonlyArray<Segment>, segments: ReadonlyArray<string>): Params | undefined => {
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]
    switch (p.kind) {
      case "rest": {
        const rest = segments.slice(i).join("/")
        if (rest === "") return undefined
        params[p.name] = rest
        return params
      }
      case "more":
        for (let j = i; j < segments.length; j++) if (segments[j] === "") return undefined
        return params
      case "literal":
        if (segments[i] !== p.value) return undefined
        break
      case "param": {
        const s = segments[i]
        if (s === undefined || s === "" || (p.oneOf !== undefined && !p.oneOf.has(s))) return undefined
        params[p.name] = s
      }
    }
  }
  return pattern.length === segments.length ? params : undefined
}

export interface Match<R, M> {
  readonly mount: M
  /** The path below the mount's base, split on "/" (empty for the base itself). */
  readonly segments: ReadonlyArray<string>
  /** Undefined when no route fits. */
  readonly route: R | undefined
  readonly params: Params
  /** Some route has the path but not the method. */
  readonly otherMethod: boolean
}

const none: Params = {}

/** The mount and route of a request; undefined when the path is under no mount. */
export const match = <R, M>(table: Table<R, M>, method: string, path: string): Match<R, M> | undefined => {
  for (const compiled of table.mounts) {
    let segments: ReadonlyArray<string>
    if (path.startsWith(compiled.prefix)) segments = path.slice(compiled.prefix.length).split("/")
    else if (compiled.exact && path === compiled.base) segments = []
    else continue
    let otherMethod = false
    for (const candidate of compiled.routes) {
      const params = matchSegments(candidate.segments, segments)
      if (params === undefined) continue
      if (candidate.methods === undefined || candidate.methods.has(method)) {
        return { mount: compiled.mount, segments, route: candidate.route, params, otherMethod }
      }
      otherMethod = true
    }
    return { mount: compiled.mount, segments, route: undefined, params: none, otherMethod }
  }
  return undefined
}
