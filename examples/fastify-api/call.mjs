// Calls the orders API as the demo client `demo-dpop` of `npm start`: a DPoP key made here, a
// DPoP-bound token for the API from the keybound server (client credentials), and requests that
// each carry a fresh proof. Every exchange on the wire is printed.
//
//   CLIENT_SECRET=... node examples/fastify-api/call.mjs
import { createTokenSource, dpopFetch, generateKeyPair } from 'keybound/client'

const issuer = process.env.KEYBOUND_ISSUER ?? 'http://localhost:4000'
const api = process.env.API_URL ?? 'http://localhost:3002'
const clientId = process.env.CLIENT_ID ?? 'demo-dpop'
const clientSecret = process.env.CLIENT_SECRET
if (!clientSecret) {
  console.error('set CLIENT_SECRET to the secret `npm start` printed for demo-dpop')
  process.exit(2)
}

/** `fetch`, printing each request and its answer (status, and the error of a refusal). */
async function loggingFetch(input, init = {}) {
  const request = new Request(input, init)
  const response = await fetch(request)
  const url = new URL(request.url)
  const where = url.origin === new URL(api).origin ? 'API' : 'keybound'
  const challenge = response.headers.get('www-authenticate')
  const error = challenge ? (/error="([^"]+)"/.exec(challenge)?.[1] ?? 'no credentials') : ''
  console.log(
    `  ${where} ${request.method} ${url.pathname} -> ${response.status} ${error}`.trimEnd(),
  )
  return response
}

const key = await generateKeyPair('ES256')
const tokens = createTokenSource({
  issuer,
  clientId,
  clientSecret,
  key,
  grant: 'client_credentials',
  scope: 'read write',
  resource: api, // RFC 8707: a token for this API only
  fetch: loggingFetch,
})
const apiFetch = dpopFetch({ key, tokenSource: tokens, fetch: loggingFetch })

console.log('without a token:')
const anonymous = await loggingFetch(`${api}/orders`)
console.log(`  WWW-Authenticate: ${anonymous.headers.get('www-authenticate')}`)

console.log('POST /orders with a DPoP-bound token:')
const created = await apiFetch(`${api}/orders`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ item: 'keyboard' }),
})
console.log(`  ${created.status} ${await created.text()}`)

console.log('GET /orders:')
const listed = await apiFetch(`${api}/orders`)
console.log(`  ${listed.status} ${await listed.text()}`)

console.log('the same token with a proof signed by another key:')
const stolen = dpopFetch({
  key: await generateKeyPair('ES256'),
  accessToken: await tokens.getAccessToken(),
  fetch: loggingFetch,
})
const refused = await stolen(`${api}/orders`)
console.log(`  ${refused.status} ${await refused.text()}`)
