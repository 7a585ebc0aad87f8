/**
 * `/urls`: submissions (`POST /urls` with a `url` form field) and rescans; both answer the analysis to poll, and
 * the URL is known once that analysis completed.
 */
import { formFailure, readForm, SMALL_BODY_BYTES } from "../body.js"
import type { Handler } from "../context.js"
import type { Form } from "../multipart.js"
import { urlObjectId } from "../objects.js"
import * as R from "../reply.js"
import { onObject } from "./objects.js"

export const submit: Handler = async (context, request) => {
  let form: Form
  try {
    form = await readForm(request.req, SMALL_BODY_BYTES)
  } catch (error) {
    return formFailure(error, SMALL_BODY_BYTES)
  }
  const url = form.fields.get("url")
  if (url === undefined || url === "") return R.badRequest("Missing the \"url\" form field")
  const id = urlObjectId(url)
  if (id === undefined) return R.invalidArgument(`"${url}" is not a valid URL`)
  context.state.submitUrl(id, url, request.at)
  return R.analysisDescriptor(context.state.urlAnalysis(id, url, request.at))
}

/** `POST /urls/{id}/analyse`: once its analysis completes, the URL's report says so in its `last_analysis_date`. */
export const analyse: Handler = onObject(
  (context, request, object) => {
    context.state.rescan("urls", object.key, request.at + context.completedMs())
    return R.analysisDescriptor(
      context.state.urlAnalysis(
        object.key,
        object.url ?? context.state.seenUrls.get(object.key) ?? `http://${object.key}.example/`,
        request.at
      )
    )
  },
  "urls"
)
