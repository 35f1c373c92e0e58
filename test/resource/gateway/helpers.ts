/**
 * What the gateway tests share: a real upstream (node:http) that records what reaches it, a
 * gateway on an ephemeral loopback port, DPoP-bound tokens from a real keybound authorization
 * server, and a raw HTTP client (node:http) that shows every field as sent and can pick its
 * source address.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createProof } from '../../../src/bindings/dpop/proof.js'
import { generateKeyPair } from '../../../src/jose/generate.js'
import type { SigningKey } from '../../../src/jose/keys.js'
import { parseGatewayConfig } from '../../../src/resource/gateway/config.js'
import type { GatewayLogger } from '../../../src/resource/gateway/log.js'
import { createGateway, type Gateway } from '../../../src/resource/gateway/server.js'
import type { TestServer } from '../../helpers/server.js'

export const SECRET = 'a-high-entropy-secret-0123456789'
export const AUDIENCE = 'https://api.example'

/** The authorization server's clients: DPoP-bound, and plain bearer. */
export const CLIENTS = [
  {
    client_id: 'svc',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    token_binding: 'dpop',
    scope: 'read write',
  },
  {
    client_id: 'plain',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    scope: 'read',
  },
]

export const AS_CONFIG = { clients: CLIENTS, accessToken: { audience: AUDIENCE } }

export interface Recorded {
  method: string
  url: string
  headers: IncomingMessage['headers']
  rawHeaders: string[]
  body: Buffer
}

export interface Upstream {
  url: string
  port: number
  /** Every request that reached the upstream, in order (recorded once its body has ended). */
  requests: Recorded[]
  /** A handler for a path (without query), instead of the default echo. */
  route(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void
  close(): Promise<void>
}

/** An upstream that answers `200 {"ok":true}` and records every request with its body. */
export async function startUpstream(): Promise<Upstream> {
  const requests: Recorded[] = []
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>()
  const server = createServer((req, res) => {
    const route = routes.get((req.url ?? '/').split('?', 1)[0] as string)
    if (route) {
      route(req, res)
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
      })
      res.setHeader('content-type', 'application/json')
      res.end('{"ok":true}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    route: (path, handler) => routes.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A logger that keeps the lines, for asserting what was (not) logged. */
export function memoryLogger(): GatewayLogger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push({ level, msg, ...fields })
    }
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

export interface RunningGateway {
  gateway: Gateway
  url: string
  port: number
  logger: ReturnType<typeof memoryLogger>
  close(): Promise<void>
}

/** A gateway on an ephemeral loopback port, `config` merged over the test defaults. */
export async function startGateway(
  as: TestServer,
  config: Record<string, unknown> = {},
): Promise<RunningGateway> {
  const { config: parsed } = parseGatewayConfig({
    issuer: as.issuer,
    audience: AUDIENCE,
    host: '127.0.0.1',
    port: 0,
    log: { level: 'silent' },
    ...config,
  })
  const logger = memoryLogger()
  const gateway = createGateway(parsed, { logger })
  const { port } = await gateway.listen()
  return {
    gateway,
    url: `http://127.0.0.1:${port}`,
    port,
    logger,
    close: () => gateway.close(),
  }
}

export interface DPoPClient {
  key: SigningKey
  token: string
  /** A fresh proof for one request to `url` with this token. */
  proof(method: string, url: string, nonce?: string): Promise<string>
}

/** A DPoP-bound access token of client `svc` from the server's /token endpoint. */
export async function dpopClient(as: TestServer, scope = 'read write'): Promise<DPoPClient> {
  const key = await generateKeyPair('ES256')
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      dpop: await createProof({ key, htm: 'POST', htu: `${as.issuer}/token` }),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  })
  const body = (await res.json()) as { access_token: string; token_type: string }
  if (res.status !== 200 || body.token_type !== 'DPoP') {
    throw new Error(`token request failed: ${JSON.stringify(body)}`)
  }
  const token = body.access_token
  return {
    key,
    token,
    proof: (htm, htu, nonce) =>
      createProof({ key, htm, htu, accessToken: token, ...(nonce === undefined ? {} : { nonce }) }),
  }
}

/** A plain bearer token of client `plain`. */
export async function bearerToken(as: TestServer): Promise<string> {
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`plain:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  })
  const body = (await res.json()) as { access_token: string }
  if (res.status !== 200) throw new Error(`token request failed: ${JSON.stringify(body)}`)
  return body.access_token
}

export interface Answer {
  status: number
  headers: IncomingMessage['headers']
  rawHeaders: string[]
  body: string
}

export interface CallOptions {
  method?: string
  /** Fields as `[name, value]` pairs: repeats and case kept. */
  headers?: [string, string][]
  body?: string | Buffer
  /** The source address (e.g. 127.0.0.2, for a peer that is not a trusted proxy). */
  localAddress?: string
}

/** One request on a fresh connection (`Connection: close` unless set), with raw fields. */
export function call(url: string, options: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // With a list of fields node adds none of its own: `Host` is the caller's, or the URL's.
    const headers: string[] = []
    const given = options.headers ?? []
    if (!given.some(([name]) => name.toLowerCase() === 'host'))
      headers.push('Host', new URL(url).host)
    for (const [name, value] of given) headers.push(name, value)
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: headers as unknown as Record<string, string>,
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The values of a field in a raw header list, whatever the case of its name. */
export function rawValues(raw: readonly string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name.toLowerCase()) out.push(raw[i + 1] as string)
  }
  return out
}
