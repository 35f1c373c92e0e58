/**
 * @module server/authorize/pushed
 *
 * Pushed authorization requests (RFC 9126): what the PAR endpoint stores, and how the
 * authorization endpoint takes it back, once.
 */
import { randomBytes } from 'node:crypto'
import type { ClientRecord, PushedRequestRecord } from '../../store/types.js'
import { epoch, type ServerContext } from '../context.js'
import { AUTHORIZATION_PARAMETERS } from './request.js'

/** RFC 9126 §2.2: the `request_uri` is a URN with this prefix and a random reference. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'

/**
 * Stores the authorization parameters of a pushed request: only those, so that a client
 * credential sent in the same form never reaches the store. `dpop_jkt` is kept apart, in the
 * record's own field.
 */
export async function pushRequest(
  client: ClientRecord,
  params: Readonly<Record<string, string>>,
  dpopJkt: string | null,
  context: ServerContext,
): Promise<{ request_uri: string; expires_in: number }> {
  const kept: Record<string, string> = {}
  for (const name of AUTHORIZATION_PARAMETERS) {
    const value = params[name]
    if (value !== undefined && name !== 'dpop_jkt') kept[name] = value
  }
  kept.client_id = client.client_id
  // RFC 9126 §2.2: the reference must be unguessable (§7.1); 256 random bits.
  const id = randomBytes(32).toString('base64url')
  const ttl = context.config.par.ttl
  await context.store.insertPushedRequest({
    id,
    client_id: client.client_id,
    params: kept,
    dpop_jkt: dpopJkt,
    expires_at: epoch() + ttl,
  })
  return { request_uri: `${REQUEST_URI_PREFIX}${id}`, expires_in: ttl }
}

/**
 * Consumes a pushed request: a `request_uri` is used once (RFC 9126 §4), and only by the
 * client that pushed it.
 *
 * @returns its parameters, `dpop_jkt` included, or `undefined` when the `request_uri` is
 *   unknown, expired, used or another client's.
 */
export async function takePushedRequest(
  requestUri: string,
  client: ClientRecord,
  context: ServerContext,
): Promise<Record<string, string> | undefined> {
  if (!requestUri.startsWith(REQUEST_URI_PREFIX)) return undefined
  const id = requestUri.slice(REQUEST_URI_PREFIX.length)
  const record: PushedRequestRecord | undefined = await context.store.consumePushedRequest(
    id,
    epoch(),
  )
  if (!record || record.client_id !== client.client_id) return undefined
  return {
    ...record.params,
    client_id: record.client_id,
    ...(record.dpop_jkt === null ? {} : { dpop_jkt: record.dpop_jkt }),
  }
}
