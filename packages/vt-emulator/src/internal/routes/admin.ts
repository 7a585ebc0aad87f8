/**
 * The emulator's own endpoints (`/_emulator/…`), for clients that cannot reach the `Server` object: the request log
 * and a reset. They are answered before anything else: not logged, not delayed, no key needed.
 */
import type { Context, RequestLine } from "../context.js"
import * as R from "../reply.js"

export const BASE = "/_emulator/"

const resetDone: R.Reply = { status: 200, head: Buffer.from("{\"ok\":true}"), tail: undefined }

/**
 * `GET /_emulator/requests`: the request log as `{"requests":[…]}`. `POST /_emulator/reset`: back to a fresh server
 * (log, quotas, submissions, comments and votes, fault seed).
 */
export const answer = (context: Context, line: RequestLine): R.Reply => {
  if (line.method === "GET" && line.path === `${BASE}requests`) return R.json({ requests: context.requests })
  if (line.method === "POST" && line.path === `${BASE}reset`) {
    context.reset()
    return resetDone
  }
  return R.notFound
}
