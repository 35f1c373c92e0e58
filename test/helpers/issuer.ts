/**
 * A minimal authorization server for resource-server tests: RFC 8414 metadata, a JWK Set that
 * can be rotated, and tokens with any header and claims, so tests can craft what keybound's own
 * server never issues (expired, another audience, unknown `cnf`, another `typ`).
 */
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { b64u, signWith } from './proofs.js'

export interface TestIssuer {
  issuer: string
  /** Requests the issuer received, by path. */
  hits: Record<string, number>
  /** Signs a JWT with the current key (`kid` set), claims merged over sensible defaults. */
  token(claims?: Record<string, unknown>, header?: Record<string, unknown>): string
  /** Replaces the signing key; `keepOld` keeps the previous one in the JWK Set. */
  rotate(keepOld?: boolean): void
  /** Answers the JWK Set with this status instead (e.g. 500), or normally with `undefined`. */
  failJwks(status: number | undefined): void
  close(): Promise<void>
}

interface SigningKey {
  kid: string
  privateKey: KeyObject
  jwk: Record<string, unknown>
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const kid = randomUUID()
  return {
    kid,
    privateKey,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' },
  }
}

export async function startIssuer(audience = 'https://api.example'): Promise<TestIssuer> {
  let keys = [newKey()]
  let jwksStatus: number | undefined
  const hits: Record<string, number> = {}
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/'
    hits[path] = (hits[path] ?? 0) + 1
    if (path === '/.well-known/oauth-authorization-server') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }))
    } else if (path === '/jwks') {
      if (jwksStatus !== undefined) {
        res.statusCode = jwksStatus
        res.end()
        return
      }
      res.setHeader('content-type', 'application/jwk-set+json')
      res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }))
    } else {
      res.statusCode = 404
      res.end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    issuer,
    hits,
    token(claims = {}, header = {}) {
      const key = keys[0] as SigningKey
      const now = Math.floor(Date.now() / 1000)
      const h = { alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...header }
      const p = {
        iss: issuer,
        sub: 'alice',
        aud: audience,
        client_id: 'app',
        iat: now,
        exp: now + 300,
        jti: randomUUID(),
        scope: 'read write',
        ...claims,
      }
      const input = `${b64u(JSON.stringify(h))}.${b64u(JSON.stringify(p))}`
      return `${input}.${b64u(signWith('ES256', key.privateKey, input))}`
    },
    rotate(keepOld = false) {
      keys = keepOld ? [newKey(), ...keys] : [newKey()]
    },
    failJwks(status) {
      jwksStatus = status
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
