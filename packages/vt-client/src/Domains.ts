/**
 * Domain reports. Comments, votes and relationships of a domain take `VtObject.domain(name)`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import { withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import type * as VtObject from "./VtObject.js"

/**
 * `GET /domains/{name}` (the service's `getDomain`): the name is validated and normalised first;
 * `options.relationships` includes the first page of each relationship named.
 *
 * @since 0.1.0
 * @category requests
 */
export const get = (
  name: string,
  options?: VtClient.ObjectOptions
): Effect.Effect<VtObject.Document, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) => vt.getDomain(name, options))
