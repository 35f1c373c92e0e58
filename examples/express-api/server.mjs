// An orders API in Express, protected by keybound: every /orders request needs a DPoP-bound
// access token (RFC 9449) from the keybound authorization server, with the scope the route
// requires. Run it with `node examples/express-api/server.mjs` (see README.md).
import express from 'express'
import {
  createMemoryReplayCache,
  createVerifier,
  createVerifierMetrics,
  keyboundExpress,
  metricsHandler,
} from 'keybound/resource'

const issuer = process.env.KEYBOUND_ISSUER ?? 'http://localhost:4000'
const port = Number(process.env.PORT ?? 3001)
// This API's resource identifier (RFC 8707): clients ask for tokens with `resource=` it, and
// the verifier accepts only tokens whose `aud` names it.
const apiUrl = process.env.API_URL ?? `http://localhost:${port}`

const verifier = createVerifier({
  issuer,
  audience: apiUrl,
  // One process: proofs are remembered in memory. Several instances share createRedisReplayCache.
  replayCache: createMemoryReplayCache(),
  metrics: createVerifierMetrics(),
  // Refusals are logged with their precise reason (htu_mismatch, replayed_jti, ...).
  logger: { warn: (fields, message) => console.warn(message, JSON.stringify(fields)) },
})

/** Orders in memory, by owner (the client the token was issued to). */
const orders = []

const app = express()

app.get('/health', (_req, res) => {
  res.json({ ok: true })
})

// In production, serve metrics on an internal port or behind your own check.
app.get('/metrics', metricsHandler(verifier))

app.get('/orders', keyboundExpress(verifier, { scope: 'read' }), (req, res) => {
  const owner = req.keybound.clientId
  res.json(orders.filter((order) => order.owner === owner))
})

// The body is parsed only once the request has passed: refused requests cost no parsing.
app.post('/orders', keyboundExpress(verifier, { scope: 'write' }), express.json(), (req, res) => {
  const item = typeof req.body?.item === 'string' ? req.body.item : undefined
  if (!item) {
    res.status(400).json({ error: 'item is required' })
    return
  }
  const order = { id: orders.length + 1, item, owner: req.keybound.clientId }
  orders.push(order)
  res.status(201).json(order)
})

const server = app.listen(port, 'localhost', (error) => {
  if (error) throw error
  console.log(`orders API (Express) on ${apiUrl}, trusting tokens of ${issuer}`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close())
}
