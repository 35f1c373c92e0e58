// The gateway of `npm run bench:resource`: `keybound gateway` in front of the trivial upstream,
// with the issuer's metadata and keys served from memory (the JWK Set comes in
// KEYBOUND_BENCH_JWKS), so that nothing but the proxied requests is on the wire. Prints
// "READY <port>" once it listens.
import { createGateway, parseGatewayConfig } from '../../src/resource/gateway/index.js'

const [port, upstreamPort, issuer, audience] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
]
const jwks = process.env.KEYBOUND_BENCH_JWKS as string
const localFetch: typeof fetch = async (input) => {
  const url = String(input instanceof Request ? input.url : input)
  const body = url.endsWith('/jwks') ? jwks : JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` })
  return new Response(body, { headers: { 'content-type': 'application/json' } })
}
const { config } = parseGatewayConfig({
  upstream: `http://127.0.0.1:${upstreamPort}`,
  issuer,
  audience,
  publicUrl: audience,
  port: Number(port),
  log: { level: 'warn' },
})
const gateway = createGateway(config, { fetch: localFetch })
await gateway.listen()
console.log(`READY ${port}`)
process.on('SIGTERM', () => gateway.close().then(() => process.exit(0)))
