/**
 * A tiny resource server for the client tests, on node:http: it checks the access token with a
 * function the test gives, verifies the DPoP proof with the binding's `verifyProof` (RFC 9449
 * §4.3, §7.1) and, depending on `nonce`, demands server nonces from a `createNonceProvider`
 * source (§9). It records every request it saw and what it answered.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeJwt } from 'jose'
import { DPoPProofError } from '../../src/bindings/dpop/errors.js'
import { createNonceProvider, type NonceSource } from '../../src/bindings/dpop/nonce.js'
import { verifyProof } from '../../src/bindings/dpop/verify.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'

/**
 * - `off`: no nonce;
 * - `required`: proofs must carry a valid nonce; `use_dpop_nonce` otherwise (§9);
 * - `advertise`: no nonce is required, but every 200 carries a `DPoP-Nonce`;
 * - `never-satisfied`: every proof is refused with `use_dpop_nonce` and yet another nonce.
 */
export type NonceMode = 'off' | 'required' | 'advertise' | 'never-satisfied'

export interface ResourceOptions {
  nonce: NonceMode
  /** The `jkt` the access token is bound to, or `undefined` to refuse it (`invalid_token`). */
  tokenJkt(accessToken: string): Promise<string | undefined> | string | undefined
}

/** One request the resource server saw, and its answer. */
export interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  /** The proof's claims, decoded without verification (undefined without a proof). */
  claims: Record<string, unknown> | undefined
  body: string
  status: number
  wwwAuthenticate: string | undefined
  /** The `DPoP-Nonce` the answer carried. */
  nonce: string | undefined
}

const quote = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`

export function resourceHandler(options: ResourceOptions) {
  const nonces: NonceSource =
    options.nonce === 'never-satisfied'
      ? { lifetime: 120, current: () => randomBytes(32).toString('base64url'), verify: () => false }
      : createNonceProvider({ secret: randomBytes(32), step: 60 })
  const replayCache = createMemoryReplayCache()
  const seen: Seen[] = []

  async function handle(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const dpop = req.headers.dpop
    const entry: Seen = {
      method: req.method as string,
      url: `${origin}${req.url}`,
      headers: req.headers,
      claims: typeof dpop === 'string' ? (decodeJwt(dpop) as Record<string, unknown>) : undefined,
      body: Buffer.concat(chunks).toString(),
      status: 0,
      wwwAuthenticate: undefined,
      nonce: undefined,
    }
    seen.push(entry)
    const answer = (status: number, headers: Record<string, string>, body: unknown) => {
      entry.status = status
      entry.wwwAuthenticate = headers['www-authenticate']
      entry.nonce = headers['dpop-nonce']
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    const challenge = (error: string, description: string) =>
      `DPoP error=${quote(error)}, error_description=${quote(description)}, algs="ES256 EdDSA"`

    const accessToken = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (accessToken === undefined) {
      return answer(401, { 'www-authenticate': 'DPoP algs="ES256 EdDSA"' }, {})
    }
    const jkt = await options.tokenJkt(accessToken)
    if (jkt === undefined) {
      const error = 'invalid_token'
      return answer(401, { 'www-authenticate': challenge(error, 'the token is not valid') }, {})
    }
    const demand = options.nonce === 'required' || options.nonce === 'never-satisfied'
    let claims: Record<string, unknown>
    try {
      const verified = await verifyProof(req.headersDistinct.dpop, {
        htm: req.method as string,
        htu: entry.url,
        accessToken,
        expectedJkt: jkt,
        replayCache,
        ...(demand ? { nonce: nonces } : {}),
      })
      claims = { ...verified.claims }
    } catch (err) {
      if (!(err instanceof DPoPProofError)) throw err
      const headers: Record<string, string> = {
        'www-authenticate': challenge(err.error, err.error_description),
      }
      if (err.nonce) headers['dpop-nonce'] = err.nonce
      return answer(401, headers, { error: err.error })
    }
    const headers: Record<string, string> =
      options.nonce === 'advertise' ? { 'dpop-nonce': nonces.current() } : {}
    answer(200, headers, { verified: claims, body: entry.body })
  }

  return { handle, seen }
}

export interface ResourceServer {
  /** `http://127.0.0.1:PORT` */
  origin: string
  seen: Seen[]
  close(): Promise<void>
}

/** Starts a {@link resourceHandler} on an ephemeral loopback port. */
export async function startResourceServer(options: ResourceOptions): Promise<ResourceServer> {
  const { handle, seen } = resourceHandler(options)
  let origin = ''
  const server = createServer((req, res) => {
    handle(req, res, origin).catch((err: unknown) => {
      res.writeHead(500).end(String(err))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    seen,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}
