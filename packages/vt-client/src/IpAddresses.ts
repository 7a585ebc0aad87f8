/**
 * IP address reports. Comments, votes and relationships of an address take `VtObject.ipAddress(ip)`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import { withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import type * as VtObject from "./VtObject.js"

/**
 * `GET /ip_addresses/{ip}` (the service's `getIpAddress`): IPv4 as written, IPv6 in RFC 5952 form;
 * `options.relationships` includes the first page of each relationship named.
 *
 * @since 0.1.0
 * @category requests
 */
export const get = (
  ip: string,
  options?: VtClient.ObjectOptions
): Effect.Effect<VtObject.Document, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) => vt.getIpAddress(ip, options))
