import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { type AddressInfo, createServer as createNetServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import * as oauth from 'oauth4webapi'
import { generateKeyPair } from '../../src/jose/generate.js'
import { signCompact } from '../../src/jose/sign.js'
import { hashSecret } from '../../src/server/client-auth/secret.js'
import { startServer, type TestServer } from '../helpers/server.js'

const INITIAL = 'initial-access-token-0123456789'
const rid = () => randomBytes(16).toString('base64url')
const insecure = { [oauth.allowInsecureRequests]: true } as const

let t: TestServer
let open: TestServer
let disabled: TestServer
let as: oauth.AuthorizationServer

async function discover(issuer: string) {
  return oauth.processDiscoveryResponse(
    new URL(issuer),
    await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }),
  )
}

before(async () => {
  t = await startServer({ registration: { enabled: true, initialAccessToken: INITIAL } })
  open = await startServer({ registration: { enabled: true } })
  disabled = await startServer()
  as = await discover(t.issuer)
})
after(() => Promise.all([t.close(), open.close(), disabled.close()]))

/** A raw registration request, to see refusals. */
async function register(
  metadata: unknown,
  { issuer = t.issuer, token = INITIAL as string | null, type = 'application/json' } = {},
) {
  const res = await fetch(`${issuer}/register`, {
    method: 'POST',
    headers: {
      'content-type': type,
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: typeof metadata === 'string' ? metadata : JSON.stringify(metadata),
  })
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

async function clientCredentials(client: oauth.Client, secret: string, DPoP?: oauth.DPoPHandle) {
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    oauth.ClientSecretBasic(secret),
    new URLSearchParams(),
    { ...insecure, ...(DPoP ? { DPoP } : {}) },
  )
  return oauth.processClientCredentialsResponse(as, client, response)
}

describe('registration (RFC 7591)', () => {
  test('with the initial access token; the client then gets a DPoP token', async () => {
    const response = await oauth.dynamicClientRegistrationRequest(
      as,
      { client_name: 'Registered', grant_types: ['client_credentials'], scope: 'read' },
      { initialAccessToken: INITIAL, ...insecure },
    )
    assert.equal(response.status, 201)
    assert.equal(response.headers.get('cache-control'), 'no-store')
    const info = await oauth.processDynamicClientRegistrationResponse(response)
    const secret = info.client_secret as string
    assert.equal(Buffer.from(secret, 'base64url').length, 32)
    assert.equal(info.client_secret_expires_at, 0)
    assert.equal(typeof info.client_id_issued_at, 'number')
    assert.equal(info.token_endpoint_auth_method, 'client_secret_basic')
    assert.deepEqual(info.grant_types, ['client_credentials'])
    assert.equal(info.client_name, 'Registered')
    assert.equal(info.scope, 'read')
    assert.equal(info.registration_access_token, undefined)

    const stored = await t.server.context.store.getClient(info.client_id)
    assert.equal(stored?.source, 'registration')
    assert.equal(stored?.client_secret_hash, hashSecret(secret))

    const client: oauth.Client = { client_id: info.client_id }
    const keyPair = (await generateKeyPair('ES256')) as oauth.CryptoKeyPair
    const result = await clientCredentials(client, secret, oauth.DPoP(client, keyPair))
    assert.equal(result.token_type, 'dpop')
    assert.equal(result.scope, 'read')
  })

  test('dpop_bound_access_tokens: true: refused a token without a proof (RFC 9449 §5.2)', async () => {
    const r = await register({
      grant_types: ['client_credentials'],
      dpop_bound_access_tokens: true,
    })
    assert.equal(r.status, 201)
    assert.equal(r.body.dpop_bound_access_tokens, true)
    assert.equal(r.body.token_binding, 'dpop')
    const client = { client_id: r.body.client_id as string }
    await assert.rejects(clientCredentials(client, r.body.client_secret as string), (err) => {
      assert.ok(err instanceof oauth.ResponseBodyError)
      assert.equal(err.error, 'invalid_dpop_proof')
      return true
    })
  })

  test('private_key_jwt with jwks: no secret is issued', async () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      format: 'jwk',
    })
    const r = await register({
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      jwks: { keys: [jwk] },
      token_binding: 'dpop',
    })
    assert.equal(r.status, 201)
    assert.equal(r.body.client_secret, undefined)
    assert.equal(r.body.client_secret_expires_at, undefined)
    assert.deepEqual(r.body.jwks, { keys: [jwk] })
    const stored = await t.server.context.store.getClient(r.body.client_id as string)
    assert.equal(stored?.client_secret_hash, null)
    assert.equal(stored?.dpop_bound_access_tokens, true)
  })

  test('open registration needs no token; metadata lists the endpoint', async () => {
    const r = await register(
      { grant_types: ['client_credentials'] },
      { issuer: open.issuer, token: null },
    )
    assert.equal(r.status, 201)
    assert.equal(as.registration_endpoint, `${t.issuer}/register`)
    assert.equal((await discover(open.issuer)).registration_endpoint, `${open.issuer}/register`)
  })

  test('registration disabled: 404, and no registration_endpoint', async () => {
    const r = await register({ grant_types: ['client_credentials'] }, { issuer: disabled.issuer })
    assert.equal(r.status, 404)
    assert.equal((await discover(disabled.issuer)).registration_endpoint, undefined)
  })
})

describe('registration refusals', () => {
  test('no or a wrong initial access token: 401 invalid_token (RFC 6750 §3)', async () => {
    for (const token of [null, 'wrong-token-0123456789', `${INITIAL}x`]) {
      const r = await register({ grant_types: ['client_credentials'] }, { token })
      assert.equal(r.status, 401)
      assert.equal(r.body.error, 'invalid_token')
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
    }
  })

  const refused = async (metadata: unknown, error: string, field: string) => {
    const r = await register(metadata)
    assert.equal(r.status, 400, JSON.stringify(r.body))
    assert.equal(r.body.error, error)
    assert.match(r.body.error_description as string, new RegExp(field))
    assert.doesNotMatch(r.body.error_description as string, /["\\]/)
  }

  test('a bad redirect URI: invalid_redirect_uri (§3.2.2)', async () => {
    await refused(
      { redirect_uris: ['https://app.example/cb#frag'] },
      'invalid_redirect_uri',
      'redirect_uris',
    )
    await refused(
      { redirect_uris: ['javascript:alert(1)'] },
      'invalid_redirect_uri',
      'redirect_uris',
    )
    await refused({ grant_types: ['authorization_code'] }, 'invalid_redirect_uri', 'redirect_uris')
  })

  test('invalid metadata: invalid_client_metadata naming the field', async () => {
    const cc = { grant_types: ['client_credentials'] }
    await refused(
      { ...cc, token_endpoint_auth_method: 'magic' },
      'invalid_client_metadata',
      'token_endpoint_auth_method',
    )
    await refused(
      { ...cc, token_endpoint_auth_method: 'private_key_jwt' },
      'invalid_client_metadata',
      'jwks',
    )
    await refused(
      { ...cc, token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=x' },
      'invalid_client_metadata',
      'token_endpoint_auth_method',
    )
    await refused({ ...cc, token_binding: 'mtls' }, 'invalid_client_metadata', 'token_binding')
    await refused({ ...cc, scope: 'read admin' }, 'invalid_client_metadata', 'scope')
    await refused({ grant_types: ['password'] }, 'invalid_client_metadata', 'grant_types')
    await refused(
      { ...cc, token_endpoint_auth_method: 'none' },
      'invalid_client_metadata',
      'grant_types',
    )
    await refused(
      { ...cc, jwks: { keys: [{ kty: 'oct', k: 'AAAA' }] } },
      'invalid_client_metadata',
      'jwks',
    )
    await refused(
      { ...cc, jwks_uri: 'http://keys.example/jwks' },
      'invalid_client_metadata',
      'jwks_uri',
    )
  })

  test('what the server or the operator sets: invalid_client_metadata', async () => {
    const cc = { grant_types: ['client_credentials'] }
    for (const field of [
      'client_id',
      'client_secret',
      'introspection',
      'first_party',
      'client_id_issued_at',
    ]) {
      await refused(
        { ...cc, [field]: field === 'introspection' || field === 'first_party' ? true : 'x' },
        'invalid_client_metadata',
        field,
      )
    }
  })

  test('not a JSON object: invalid_client_metadata; not JSON: invalid_request', async () => {
    const list = await register('[]')
    assert.equal(list.status, 400)
    assert.equal(list.body.error, 'invalid_client_metadata')
    const form = await register('grant_types=client_credentials', {
      type: 'application/x-www-form-urlencoded',
    })
    assert.equal(form.status, 400)
    assert.equal(form.body.error, 'invalid_request')
    const text = await register('{}', { type: 'text/plain' })
    assert.equal(text.status, 400)
    assert.equal(text.body.error, 'invalid_request')
    const broken = await register('{"grant_types":')
    assert.equal(broken.status, 400)
    assert.equal(broken.body.error, 'invalid_request')
  })
})

describe("a registrant's jwks_uri reaches public addresses only (server-side request forgery)", () => {
  const jwt = { token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'] }

  test('an address of the local network in the URL: invalid_client_metadata', async () => {
    for (const host of ['127.0.0.1', '[::1]', '169.254.169.254', '10.0.0.7', '2130706433']) {
      const r = await register({ ...jwt, jwks_uri: `https://${host}/jwks` })
      assert.equal(r.status, 400, host)
      assert.equal(r.body.error, 'invalid_client_metadata')
      assert.match(r.body.error_description as string, /^jwks_uri: .* is not a public address$/)
    }
  })

  test('a name resolving to the local network: registered, but never connected to', async () => {
    let connections = 0
    const listener = createNetServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((done) => listener.listen(0, '127.0.0.1', done))
    const { port } = listener.address() as AddressInfo
    try {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      // localhost resolves to loopback (RFC 6761 §6.3): only the connection can refuse it.
      const r = await register({ ...jwt, jwks_uri: `https://localhost:${port}/jwks` })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      const clientId = r.body.client_id as string
      const now = Math.floor(Date.now() / 1000)
      const assertion = signCompact(
        'ES256',
        privateKey,
        { kid: 'k1' },
        { iss: clientId, sub: clientId, aud: `${t.issuer}/token`, exp: now + 60, jti: rid() },
      )
      const res = await fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }).toString(),
      })
      assert.equal(res.status, 401)
      assert.equal(((await res.json()) as Record<string, unknown>).error, 'invalid_client')
      assert.equal(connections, 0)
    } finally {
      await new Promise<void>((done) => listener.close(() => done()))
    }
  })
})
