/**
 * Certificate-bound tokens (RFC 8705 §3) through the gateway: terminating TLS itself (asking for
 * a client certificate without requiring one), or behind a TLS-terminating proxy that forwards
 * the certificate in a header, read only from trusted peers.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Agent, fetch as undiciFetch } from 'undici'
import { certificateThumbprint } from '../../../src/bindings/mtls/thumbprint.js'
import { selfSigned, type TestCertificate } from '../../helpers/certificates.js'
import { startIssuer, type TestIssuer } from '../../helpers/issuer.js'
import type { TestServer } from '../../helpers/server.js'
import {
  AUDIENCE,
  type RunningGateway,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers.js'

let issuer: TestIssuer
let upstream: Upstream
let serverCert: TestCertificate
let clientCert: TestCertificate
let otherCert: TestCertificate
let dir: string

before(async () => {
  issuer = await startIssuer(AUDIENCE)
  upstream = await startUpstream()
  serverCert = await selfSigned({ subject: 'CN=gateway', ip: ['127.0.0.1'], server: true })
  clientCert = await selfSigned({ subject: 'CN=client' })
  otherCert = await selfSigned({ subject: 'CN=other' })
  dir = mkdtempSync(join(tmpdir(), 'keybound-gw-tls-'))
  writeFileSync(join(dir, 'cert.pem'), serverCert.pem)
  writeFileSync(join(dir, 'key.pem'), serverCert.key)
})
after(async () => {
  await upstream.close()
  await issuer.close()
  rmSync(dir, { recursive: true, force: true })
})

const as = () => ({ issuer: issuer.issuer }) as TestServer
const boundToken = (certificate: TestCertificate) =>
  issuer.token({ cnf: { 'x5t#S256': certificateThumbprint(certificate.x509) } })

describe('the gateway terminating TLS', () => {
  let gateway: RunningGateway
  before(async () => {
    gateway = await startGateway(as(), {
      upstream: upstream.url,
      tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
    })
  })
  after(() => gateway.close())

  const call = (token: string, certificate?: TestCertificate) =>
    undiciFetch(`https://127.0.0.1:${gateway.port}/orders`, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher: new Agent({
        connect: {
          ca: serverCert.pem,
          ...(certificate ? { cert: certificate.pem, key: certificate.key } : {}),
        },
      }),
    })

  test('the bound certificate: forwarded with the binding and the thumbprint', async () => {
    const before = upstream.requests.length
    const res = await call(boundToken(clientCert), clientCert)
    assert.equal(res.status, 200)
    assert.equal(upstream.requests.length, before + 1)
    const headers = upstream.requests.at(-1)?.headers ?? {}
    assert.equal(headers['x-keybound-binding'], 'mtls')
    assert.equal(headers['x-keybound-cert-thumbprint'], certificateThumbprint(clientCert.x509))
    assert.equal(headers['x-forwarded-proto'], 'https')
  })

  test('another certificate or none: 401 invalid_token, the upstream never asked', async () => {
    const before = upstream.requests.length
    for (const certificate of [otherCert, undefined]) {
      const res = await call(boundToken(clientCert), certificate)
      assert.equal(res.status, 401)
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/)
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_token')
    }
    assert.equal(upstream.requests.length, before)
  })
})

describe('the gateway behind a TLS-terminating proxy (certificateHeader)', () => {
  const header = (certificate: TestCertificate) => `:${certificate.der.toString('base64')}:`
  const call = (gateway: RunningGateway, token: string, clientCert?: string) =>
    undiciFetch(`${gateway.url}/orders`, {
      headers: {
        authorization: `Bearer ${token}`,
        ...(clientCert ? { 'client-cert': clientCert } : {}),
      },
    })

  test('read from a trusted proxy; a malformed one is 400', async () => {
    const gateway = await startGateway(as(), {
      upstream: upstream.url,
      trustProxy: ['127.0.0.1'],
      certificateHeader: { format: 'rfc9440' },
    })
    try {
      assert.equal((await call(gateway, boundToken(clientCert), header(clientCert))).status, 200)
      assert.equal((await call(gateway, boundToken(clientCert), header(otherCert))).status, 401)
      const malformed = await call(gateway, boundToken(clientCert), ':bm90IGEgY2VydA==:')
      assert.equal(malformed.status, 400)
      assert.equal(((await malformed.json()) as { error: string }).error, 'invalid_request')
    } finally {
      await gateway.close()
    }
  })

  test('ignored, and logged, from a peer not in trustProxy', async () => {
    const gateway = await startGateway(as(), {
      upstream: upstream.url,
      trustProxy: ['10.0.0.1'],
      certificateHeader: { format: 'rfc9440' },
    })
    try {
      const res = await call(gateway, boundToken(clientCert), header(clientCert))
      assert.equal(res.status, 401)
      assert.ok(
        gateway.logger.lines.some(
          (line) => line.msg === 'client certificate header from a peer not in trustProxy ignored',
        ),
      )
    } finally {
      await gateway.close()
    }
  })
})
