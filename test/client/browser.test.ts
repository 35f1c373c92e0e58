/**
 * keybound/client in a real browser: `src/client/index.ts` bundled by esbuild for browsers (no
 * `node:` import may be left), then run in Debian's Chromium (driven by playwright-core) against
 * a real keybound authorization server that demands nonces, and a resource server that verifies
 * every proof with `verifyProof`. The page also signs a request with `popFetch` (a signed-request
 * PoP token), which the server captures and Node verifies with `verifyPopSignature`.
 *
 * The page, the bundle, the resource server and the authorization server are served from one
 * loopback origin (the authorization server behind a small reverse proxy, with that origin as
 * its issuer), so the page needs no CORS.
 *
 * Chromium must be at /usr/bin/chromium (or KEYBOUND_CHROMIUM): `.ci/run` installs it. Without
 * it the test fails; it never skips.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { type BuildResult, build } from 'esbuild'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { type Browser, chromium } from 'playwright-core'
import { computeAth } from '../../src/bindings/dpop/ath.js'
import { verifyPopSignature } from '../../src/bindings/pop/verify.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { resourceHandler } from './resource-server.js'

const CHROMIUM = process.env.KEYBOUND_CHROMIUM ?? '/usr/bin/chromium'
const SECRET = 'a-high-entropy-secret-0123456789'

/** In the page: a non-extractable key, a token source, and one resource request through dpopFetch. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>keybound/client</title>
<link rel="icon" href="data:,">
<script type="module">
import { createTokenSource, dpopFetch, jktOf, popFetch } from '/client.js'

window.run = async (clientSecret) => {
  const key = await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign', 'verify'],
  )
  const tokenSource = createTokenSource({
    issuer: location.origin,
    clientId: 'browser-app',
    clientSecret,
    key,
    grant: 'client_credentials',
    scope: 'read',
  })
  const api = dpopFetch({ key, tokenSource })
  const response = await api('/api/orders?page=2')
  return {
    userAgent: navigator.userAgent,
    extractable: key.privateKey.extractable,
    publicJwk: await crypto.subtle.exportKey('jwk', key.publicKey),
    jkt: await jktOf(key),
    accessToken: await tokenSource.getAccessToken(),
    status: response.status,
    body: await response.json(),
  }
}

window.runPop = async () => {
  const key = await crypto.subtle.generateKey(
    {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    false,
    ['sign', 'verify'],
  )
  const api = popFetch({
    key,
    accessToken: 'a-pop-access-token',
    sign: { method: true, host: true, path: true, query: true, headers: ['x-tenant'], body: true },
  })
  const response = await api('/pop/orders/42?y=5&x=1&y=3', {
    method: 'POST',
    headers: { 'x-tenant': 'contoso' },
    body: new URLSearchParams({ item: 'book', qty: '2' }),
  })
  return {
    publicJwk: await crypto.subtle.exportKey('jwk', key.publicKey),
    status: response.status,
  }
}
window.ready = true
</script>`

interface PageResult {
  userAgent: string
  extractable: boolean
  publicJwk: PublicJwk
  jkt: string
  accessToken: string
  status: number
  body: { verified: Record<string, unknown> }
}

let bundle: BuildResult<{ write: false; metafile: true }>

before(async () => {
  bundle = await build({
    entryPoints: ['src/client/index.ts'],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
})

test('the client bundles for browsers with no node: import left', () => {
  assert.deepEqual(bundle.errors, [])
  assert.deepEqual(bundle.warnings, [])
  const imports = Object.values(bundle.metafile.inputs).flatMap((input) => input.imports)
  assert.deepEqual(
    imports.filter((i) => i.external || i.path.startsWith('node:')),
    [],
  )
  const code = bundle.outputFiles[0]?.text ?? ''
  assert.ok(code.includes('dpopFetch') && code.includes('createTokenSource'))
  assert.ok(code.includes('popFetch') && code.includes('createPopSignature'))
  assert.doesNotMatch(
    code,
    /\bfrom\s*["']node:|\bimport\s*\(?\s*["']node:|\brequire\s*\(\s*["']node:/,
  )
  assert.ok(!Object.keys(bundle.metafile.inputs).some((path) => path.includes('jose/dist/node')))
})

describe('in Chromium, against a keybound authorization server demanding nonces', () => {
  let browser: Browser
  let t: TestServer
  let server: Server
  let origin: string
  /** What the proxy forwarded to the authorization server, and its answers. */
  const proxied: Array<{ method: string; path: string; status: number }> = []
  let resource: ReturnType<typeof resourceHandler>
  /** The requests the page sent with popFetch, as received. */
  const popSeen: Array<{
    method: string
    url: string
    headers: IncomingHttpHeaders
    body: Buffer
  }> = []

  before(async () => {
    const code = bundle.outputFiles[0]?.text ?? ''
    server = createServer((req, res) => {
      const path = req.url ?? '/'
      if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
      } else if (path === '/client.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(code)
      } else if (path.startsWith('/pop/')) {
        const chunks: Buffer[] = []
        req.on('data', (chunk: Buffer) => chunks.push(chunk))
        req.on('end', () => {
          const body = Buffer.concat(chunks)
          popSeen.push({ method: req.method as string, url: path, headers: req.headers, body })
          res.writeHead(200).end()
        })
      } else if (path.startsWith('/api/')) {
        resource
          .handle(req, res, origin)
          .catch((err: unknown) => res.writeHead(500).end(String(err)))
      } else {
        // Everything else is the authorization server's.
        const upstream = request(`${t.issuer}${path}`, { method: req.method, headers: req.headers })
        upstream.on('response', (answer) => {
          proxied.push({ method: req.method as string, path, status: answer.statusCode as number })
          res.writeHead(answer.statusCode as number, answer.headers)
          answer.pipe(res)
        })
        upstream.on('error', (err) => res.writeHead(502).end(String(err)))
        req.pipe(upstream)
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    t = await startServer({
      issuer: origin,
      dpop: { nonce: 'required' },
      clients: [
        {
          client_id: 'browser-app',
          client_secret: SECRET,
          grant_types: ['client_credentials'],
          token_binding: 'dpop',
          scope: 'read write',
        },
      ],
    })
    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`))
    resource = resourceHandler({
      nonce: 'required',
      tokenJkt: async (token) => {
        const { payload } = await jwtVerify(token, jwks, { issuer: origin, typ: 'at+jwt' })
        return (payload.cnf as { jkt?: string } | undefined)?.jkt
      },
    })
    // A missing Chromium fails the test below (it is not skipped).
    if (!existsSync(CHROMIUM)) return
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Chromium's sandbox cannot run as root (CI containers).
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    })
  })

  after(async () => {
    await browser?.close()
    if (server) {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
    await t?.close()
  })

  test('a WebCrypto key binds a token; a resource call carries a valid proof', {
    timeout: 60_000,
  }, async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is not at ${CHROMIUM}: apt-get install -y chromium (.ci/run does)`,
    )
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(`${origin}/`)
    await page.waitForFunction('window.ready === true')
    const result = (await page.evaluate(`run(${JSON.stringify(SECRET)})`)) as PageResult
    assert.deepEqual(errors, [])
    assert.match(result.userAgent, /HeadlessChrome/)
    assert.equal(result.extractable, false)

    // The token is DPoP-bound to the page's key (RFC 9449 §6.1), by the server's own thumbprint.
    const jkt = jwkThumbprint(result.publicJwk)
    assert.deepEqual(decodeJwt(result.accessToken).cnf, { jkt })
    assert.equal(result.jkt, jkt)

    // The authorization server: metadata, then a token request refused for want of a nonce
    // (RFC 9449 §8) and sent again with it.
    assert.deepEqual(proxied, [
      { method: 'GET', path: '/.well-known/oauth-authorization-server', status: 200 },
      { method: 'POST', path: '/token', status: 400 },
      { method: 'POST', path: '/token', status: 200 },
    ])

    // The resource server: the same with its own nonce (§9), then a proof verifyProof accepted.
    const [refused, accepted] = resource.seen
    assert.equal(resource.seen.length, 2)
    assert.equal(refused?.status, 401)
    assert.match(refused?.wwwAuthenticate ?? '', /^DPoP error="use_dpop_nonce"/)
    assert.equal(accepted?.status, 200)
    assert.equal(result.status, 200)
    assert.equal(accepted?.headers.authorization, `DPoP ${result.accessToken}`)
    for (const claims of [accepted?.claims, result.body.verified]) {
      assert.equal(claims?.htm, 'GET')
      assert.equal(claims?.htu, `${origin}/api/orders`)
      assert.equal(claims?.ath, computeAth(result.accessToken))
      assert.equal(claims?.nonce, refused?.nonce)
    }
  })

  test('popFetch signs a request in the browser; verifyPopSignature accepts it in Node', {
    timeout: 60_000,
  }, async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is not at ${CHROMIUM}`)
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(`${origin}/`)
    await page.waitForFunction('window.ready === true')
    const result = (await page.evaluate('runPop()')) as {
      publicJwk: PublicJwk
      status: number
    }
    assert.deepEqual(errors, [])
    assert.equal(result.status, 200)
    assert.equal(popSeen.length, 1)
    const seen = popSeen[0] as (typeof popSeen)[number]
    const url = new URL(seen.url, origin)
    const jws = /^PoP (.+)$/.exec(seen.headers.authorization ?? '')?.[1] ?? ''
    const { kty, n, e } = result.publicJwk
    const verified = await verifyPopSignature(jws, {
      cnfJwk: { kty, n, e, alg: 'RS256' },
      accessToken: 'a-pop-access-token',
      policy: { required: ['m', 'u', 'p', 'q', 'h', 'b'], headerNames: ['x-tenant'] },
      request: {
        method: seen.method,
        host: seen.headers.host as string,
        path: url.pathname,
        query: url.search,
        headers: seen.headers,
        body: seen.body,
      },
    })
    assert.deepEqual(verified.covered, ['m', 'u', 'p', 'q', 'h', 'b'])
    assert.equal(seen.body.toString(), 'item=book&qty=2')
    assert.equal(verified.payload.u, new URL(origin).host)
  })
})
