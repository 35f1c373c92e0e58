/**
 * Interop (RFC 8705): oauth4webapi, with undici presenting the client certificate (its
 * `customFetch` with an `Agent({ connect: { cert, key } })` dispatcher), finds keybound's
 * `mtls_endpoint_aliases` (`use_mtls_endpoint_aliases`) and gets certificate-bound tokens.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { Agent, fetch as undiciFetch } from 'undici'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import { createCa, freePort, selfSigned, type TestCertificate } from '../helpers/certificates.js'
import { startServer, type TestServer } from '../helpers/server.js'

const SECRET = 'a-high-entropy-secret-0123456789'
const CC = ['client_credentials']

const dir = mkdtempSync(join(tmpdir(), 'keybound-mtls-interop-'))
let t: TestServer
let as: oauth.AuthorizationServer
let serverCa: TestCertificate
let clientCert: TestCertificate
let selfSignedCert: TestCertificate
const agents: Agent[] = []

/** oauth4webapi's fetch options: undici, presenting `cert`. */
function withCertificate(cert: TestCertificate) {
  const agent = new Agent({ connect: { ca: serverCa.pem, cert: cert.pem, key: cert.key } })
  agents.push(agent)
  return {
    [oauth.allowInsecureRequests]: true,
    [oauth.customFetch]: ((url: string, options: RequestInit) =>
      undiciFetch(url, { ...(options as object), dispatcher: agent })) as never,
  }
}

before(async () => {
  serverCa = await createCa('CN=interop server CA')
  const clientCa = await createCa('CN=interop client CA')
  const server = await serverCa.issue({ subject: 'CN=localhost', ip: ['127.0.0.1'], server: true })
  clientCert = await clientCa.issue({ subject: 'CN=interop', uri: ['urn:example:interop'] })
  selfSignedCert = await selfSigned({ subject: 'CN=interop self-signed' })
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  t = await startServer({
    tls: {
      port: await freePort(),
      cert: write('server.pem', server.pem),
      key: write('server.key', server.key),
      ca: write('ca.pem', clientCa.pem),
    },
    clients: [
      {
        client_id: 'pki',
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_san_uri: 'urn:example:interop',
        grant_types: CC,
        token_binding: 'mtls',
        introspection: true,
      },
      {
        client_id: 'self-signed',
        token_endpoint_auth_method: 'self_signed_tls_client_auth',
        jwks: { keys: [{ ...selfSignedCert.jwk, x5c: [selfSignedCert.der.toString('base64')] }] },
        grant_types: CC,
        token_binding: 'mtls',
      },
      { client_id: 'secret', client_secret: SECRET, grant_types: CC, token_binding: 'mtls' },
    ],
  })
  as = await oauth.processDiscoveryResponse(
    new URL(t.issuer),
    await oauth.discoveryRequest(new URL(t.issuer), {
      algorithm: 'oauth2',
      [oauth.allowInsecureRequests]: true,
    }),
  )
})

after(async () => {
  await t?.close()
  await Promise.all(agents.map((agent) => agent.close()))
  rmSync(dir, { recursive: true, force: true })
})

async function clientCredentials(
  client: oauth.Client,
  auth: oauth.ClientAuth,
  cert: TestCertificate,
): Promise<oauth.TokenEndpointResponse> {
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    auth,
    new URLSearchParams({ scope: 'read' }),
    withCertificate(cert),
  )
  return oauth.processClientCredentialsResponse(as, client, response)
}

describe('oauth4webapi with use_mtls_endpoint_aliases', () => {
  test('the metadata lists aliases on https', () => {
    assert.match(
      as.mtls_endpoint_aliases?.token_endpoint ?? '',
      /^https:\/\/127\.0\.0\.1:\d+\/token$/,
    )
  })

  test('tls_client_auth: a certificate-bound token from the alias, then introspected there', async () => {
    const client: oauth.Client = { client_id: 'pki', use_mtls_endpoint_aliases: true }
    const result = await clientCredentials(client, oauth.TlsClientAuth(), clientCert)
    assert.equal(result.token_type, 'bearer')
    assert.deepEqual(decodeJwt(result.access_token).cnf, {
      'x5t#S256': certificateThumbprint(clientCert.der),
    })
    const response = await oauth.introspectionRequest(
      as,
      client,
      oauth.TlsClientAuth(),
      result.access_token,
      withCertificate(clientCert),
    )
    const introspection = await oauth.processIntrospectionResponse(as, client, response)
    assert.equal(introspection.active, true)
    assert.deepEqual(introspection.cnf, { 'x5t#S256': certificateThumbprint(clientCert.der) })
  })

  test('self_signed_tls_client_auth, the certificate registered in x5c', async () => {
    const client: oauth.Client = { client_id: 'self-signed', use_mtls_endpoint_aliases: true }
    const result = await clientCredentials(client, oauth.TlsClientAuth(), selfSignedCert)
    assert.deepEqual(decodeJwt(result.access_token).cnf, {
      'x5t#S256': certificateThumbprint(selfSignedCert.der),
    })
  })

  test('client_secret_basic with an ephemeral certificate: bound to it', async () => {
    const ephemeral = await selfSigned({ subject: 'CN=ephemeral' })
    const client: oauth.Client = { client_id: 'secret', use_mtls_endpoint_aliases: true }
    const result = await clientCredentials(client, oauth.ClientSecretBasic(SECRET), ephemeral)
    assert.deepEqual(decodeJwt(result.access_token).cnf, {
      'x5t#S256': certificateThumbprint(ephemeral.der),
    })
  })

  test('without the aliases (the plain listener), the mtls client is refused', async () => {
    const client: oauth.Client = { client_id: 'secret' }
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(SECRET),
      new URLSearchParams(),
      withCertificate(clientCert),
    )
    await assert.rejects(oauth.processClientCredentialsResponse(as, client, response), (err) => {
      assert.ok(err instanceof oauth.ResponseBodyError)
      assert.equal(err.error, 'invalid_request')
      return true
    })
  })
})
