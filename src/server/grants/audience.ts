/**
 * @module server/grants/audience
 */
import { InvalidRequestError } from '../../errors.js'
import type { ServerContext } from '../context.js'

/**
 * The `aud` of an access token: the `resource` the client asked for (RFC 8707 §2: an absolute
 * URI without fragment), or the server's default audience.
 */
export function resolveAudience(resource: string | undefined, context: ServerContext): string[] {
  if (resource === undefined) return [context.config.accessToken.audience ?? context.config.issuer]
  let url: URL
  try {
    url = new URL(resource)
  } catch {
    throw new InvalidRequestError('resource must be an absolute URI')
  }
  if (url.hash) throw new InvalidRequestError('resource must not have a fragment')
  return [resource]
}
