/**
 * Certificate-bound tokens (RFC 8705 §3) from an independent authorization server:
 * node-oidc-provider with `mTLS.certificateBoundAccessTokens`, over real TLS on loopback. keybound's
 * verifier accepts its tokens with the bound certificate and refuses them with another or none.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import type { TLSSocket } from 'node:tls'
import Provider from 'oidc-provider'
import { Agent, fetch as undiciFetch } from 'undici'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { createMemoryReplayCache } from '../../src/replay/memory.js'
import { ResourceError } from '../../src/resource/errors.js'
import { createVerifier } from '../../src/resource/verifier.js'
import { selfSigned, type TestCertificate } from '../helpers/certificates.js'

const API = 'https://api.example'
const SECRET = 'a-secret-of-enough-length-for-hs256'

let server: Server
let issuer: string
let serverCert: TestCertificate
let clientCert: TestCertificate
let otherCert: TestCertificate

before(async () => {
  serverCert = await selfSigned({ subject: 'CN=localhost', ip: ['127.0.0.1'], server: true })
  clientCert = await selfSigned({ subject: 'CN=client' })
  otherCert = await selfSigned({ subject: 'CN=other' })
  server = createServer({
    cert: serverCert.pem,
    key: serverCert.key,
    requestCert: true,
    rejectUnauthorized: false,
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'bound',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        tls_client_certificate_bound_access_tokens: true,
        scope: 'read',
      },
    ],
    scopes: ['read'],
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx) =>
          (ctx.socket as TLSSocket).getPeerX509Certificate?.()?.toString() as string,
        certificateAuthorized: () => false,
        certificateSubjectMatches: () => false,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'read',
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  })
  server.on('request', provider.callback())
})
after(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** undici's fetch trusting the test server's certificate, presenting `client` when given. */
const fetchWith = (client?: TestCertificate) =>
  ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    undiciFetch(input as never, {
      ...(init as object),
      dispatcher: new Agent({
        connect: {
          ca: serverCert.pem,
          ...(client ? { cert: client.pem, key: client.key } : {}),
        },
      }),
    })) as unknown as typeof fetch

describe('node-oidc-provider certificate-bound tokens', () => {
  test('accepted with the bound certificate, refused with another or none', async () => {
    const res = await fetchWith(clientCert)(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`bound:${SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }).toString(),
    })
    const json = (await res.json()) as { access_token: string; token_type: string }
    assert.equal(res.status, 200, JSON.stringify(json))
    assert.equal(json.token_type, 'Bearer')

    const verifier = createVerifier({
      issuer,
      audience: API,
      replayCache: createMemoryReplayCache(),
      publicUrl: API,
      fetch: fetchWith(),
    })
    const request = (clientCertificate?: TestCertificate) => ({
      method: 'GET',
      url: '/orders',
      headers: { authorization: `Bearer ${json.access_token}` },
      ...(clientCertificate ? { clientCertificate: clientCertificate.x509 } : {}),
    })
    const verified = await verifier.verify(request(clientCert), { scope: 'read' })
    assert.equal(verified.binding, 'mtls')
    assert.deepEqual(verified.claims.cnf, { 'x5t#S256': certificateThumbprint(clientCert.x509) })
    for (const [certificate, reason] of [
      [otherCert, 'x5t_mismatch'],
      [undefined, 'certificate_missing'],
    ] as const) {
      await assert.rejects(
        verifier.verify(request(certificate)),
        (error: unknown) =>
          error instanceof ResourceError &&
          error.status === 401 &&
          error.error === 'invalid_token' &&
          error.reason === reason &&
          error.headers['www-authenticate']?.startsWith('Bearer error="invalid_token"') === true,
      )
    }
  })
})
