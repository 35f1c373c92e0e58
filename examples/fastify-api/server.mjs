// An orders API in Fastify, protected by keybound: every route needs a DPoP-bound access token
// (RFC 9449) from the keybound authorization server, unless its config says `keybound: false`.
// This API also demands server nonces (RFC 9449 §9): a proof must carry a recent `DPoP-Nonce`,
// which limits how long a proof made in advance stays usable. Run it with
// `node examples/fastify-api/server.mjs` (see README.md).
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import {
  createMemoryReplayCache,
  createNonceProvider,
  createVerifier,
  createVerifierMetrics,
  keyboundFastify,
  metricsHandler,
} from 'keybound/resource'

const issuer = process.env.KEYBOUND_ISSUER ?? 'http://localhost:4000'
const port = Number(process.env.PORT ?? 3002)
// This API's resource identifier (RFC 8707): the `aud` its tokens must have.
const apiUrl = process.env.API_URL ?? `http://localhost:${port}`

const verifier = createVerifier({
  issuer,
  audience: apiUrl,
  replayCache: createMemoryReplayCache(),
  dpop: {
    // Every instance of the API must share the secret (here: NONCE_SECRET, 32 bytes base64url).
    nonce: createNonceProvider({
      secret: process.env.NONCE_SECRET
        ? Buffer.from(process.env.NONCE_SECRET, 'base64url')
        : randomBytes(32),
    }),
  },
  metrics: createVerifierMetrics(),
})

const app = Fastify({ logger: process.env.LOG === '1' })

// Protects every route of this instance; `config.keybound` sets a route's requirements.
await app.register(keyboundFastify, { verifier, requirements: { scope: 'read' } })

/** Orders in memory. */
const orders = []

app.get('/health', { config: { keybound: false } }, async () => ({ ok: true }))

// In production, serve metrics on an internal port or behind your own check.
const metrics = metricsHandler(verifier)
app.get('/metrics', { config: { keybound: false } }, async (request, reply) => {
  reply.hijack()
  await metrics(request.raw, reply.raw)
})

app.get('/orders', async (request) => {
  const owner = request.keybound.clientId
  return orders.filter((order) => order.owner === owner)
})

app.post(
  '/orders',
  {
    config: { keybound: { scope: 'write' } },
    schema: {
      body: {
        type: 'object',
        required: ['item'],
        properties: { item: { type: 'string', minLength: 1 } },
      },
    },
  },
  async (request, reply) => {
    const order = {
      id: orders.length + 1,
      item: request.body.item,
      owner: request.keybound.clientId,
    }
    orders.push(order)
    return reply.code(201).send(order)
  },
)

await app.listen({ port, host: 'localhost' })
console.log(`orders API (Fastify) on ${apiUrl}, trusting tokens of ${issuer}`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => app.close())
}
