// The peer of `npm run bench:token`: node-oidc-provider configured for the same flow as keybound
// (client_credentials, client_secret_basic, DPoP-bound ES256 JWT access tokens). Prints
// "READY <port>" once it listens. Used by the benchmark only.
import { generateKeyPairSync } from 'node:crypto'
import Provider from 'oidc-provider'

const port = Number(process.argv[2])
const secret = process.argv[3]
const issuer = `http://127.0.0.1:${port}`
const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
  format: 'jwk',
})

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      client_secret: secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      // Only ES256 is configured, so the (unused) ID token alg must say so.
      id_token_signed_response_alg: 'ES256',
      scope: 'read',
    },
  ],
  jwks: { keys: [{ ...signing, alg: 'ES256', use: 'sig', kid: 'bench' }] },
  scopes: ['read'],
  features: {
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  enabledJWA: { dPoPSigningAlgValues: ['ES256'] },
})
provider.listen(port, '127.0.0.1', () => console.log(`READY ${port}`))
