// The route matcher on its own: the pattern kinds, method fallthrough, mounts and paths with empty segments.
import { assert, describe, it } from "@effect/vitest"
import * as Router from "../src/internal/router.js"

interface R extends Router.RouteSpec {
  readonly name: string
}

const table = Router.compile<R, Router.MountSpec<R>>([
  {
    base: "/api",
    exact: true,
    routes: [
      { method: "GET", path: "/files/upload_url", name: "upload url" },
      { method: "GET", path: "/files/:id", name: "file" },
      { method: ["GET", "POST"], path: "/:kind(urls|domains)/:id/comments", name: "comments" },
      { method: "GET", path: "/:kind(urls|domains)/:id/:rel", name: "related" },
      { method: "*", path: "/:kind(urls|domains)/:id/**", name: "below" }
    ]
  },
  { base: "/upload", routes: [{ method: "POST", path: "/*token", name: "upload" }] }
])

const matched = (method: string, path: string) => {
  const m = Router.match(table, method, path)
  return m === undefined
    ? "none"
    : { route: m.route?.name, params: m.params, segments: m.segments, otherMethod: m.otherMethod }
}

describe("Router", () => {
  it("matches literals before parameters, in table order", () => {
    assert.deepStrictEqual(matched("GET", "/api/files/upload_url"), {
      route: "upload url",
      params: {},
      segments: ["files", "upload_url"],
      otherMethod: false
    })
    assert.deepStrictEqual(matched("GET", "/api/files/abc"), {
      route: "file",
      params: { id: "abc" },
      segments: ["files", "abc"],
      otherMethod: false
    })
  })

  it("takes a parameter only from its alternatives, and keeps it as written", () => {
    assert.deepStrictEqual(matched("POST", "/api/domains/a%2Eb/comments"), {
      route: "comments",
      params: { kind: "domains", id: "a%2Eb" },
      segments: ["domains", "a%2Eb", "comments"],
      otherMethod: false
    })
    assert.strictEqual((matched("GET", "/api/files/x/comments") as { route: unknown }).route, undefined)
  })

  it("falls through to a later route for another method, and says when only the method is wrong", () => {
    assert.strictEqual((matched("DELETE", "/api/urls/x/comments") as { route: unknown }).route, "below")
    assert.deepStrictEqual(matched("DELETE", "/api/files/x"), {
      route: undefined,
      params: {},
      segments: ["files", "x"],
      otherMethod: true
    })
  })

  it("matches ** with any number of further segments, none empty", () => {
    assert.strictEqual((matched("PUT", "/api/urls/x") as { route: unknown }).route, "below")
    assert.strictEqual((matched("PUT", "/api/urls/x/a/b/c") as { route: unknown }).route, "below")
    assert.strictEqual((matched("PUT", "/api/urls/x/a//c") as { route: unknown }).route, undefined)
  })

  it("matches no segment pattern when a segment is empty", () => {
    for (const path of ["/api/files/", "/api/files//x", "/api/", "/api//files/x"]) {
      assert.strictEqual((matched("GET", path) as { route: unknown }).route, undefined, path)
    }
  })

  it("puts the base itself under an exact mount only", () => {
    assert.deepStrictEqual(matched("GET", "/api"), { route: undefined, params: {}, segments: [], otherMethod: false })
    assert.strictEqual(matched("POST", "/upload"), "none")
    assert.strictEqual(matched("GET", "/apix"), "none")
  })

  it("takes the raw rest of the path, slashes included, for *name", () => {
    assert.deepStrictEqual(matched("POST", "/upload/a/b%2F/c"), {
      route: "upload",
      params: { token: "a/b%2F/c" },
      segments: ["a", "b%2F", "c"],
      otherMethod: false
    })
    assert.strictEqual((matched("POST", "/upload/") as { route: unknown }).route, undefined)
  })
})
