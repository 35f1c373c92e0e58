/**
 * @module cli/commands/gateway
 *
 * `keybound gateway`: runs the verifying reverse proxy and forward-auth endpoint until SIGINT or
 * SIGTERM, then finishes the requests in flight and exits. Flags override the options of the
 * same names in the configuration file; a mistake in either is one line on stderr, exit code 2.
 */
import { ConfigError } from '../../config/index.js'
import { type GatewayOverrides, loadGatewayConfig } from '../../resource/gateway/config.js'
import { createGateway, type Gateway } from '../../resource/gateway/server.js'
import { CliError, type CliIo, parseCommandArgs, parseNumber, processIo } from '../io.js'

export const summary = 'run the verifying reverse proxy / forward-auth endpoint'

export const usage = `Usage: keybound gateway --upstream URL --issuer URL [--audience AUD] [options]

Verifies the access token and its binding (DPoP, mutual TLS) on every request, then forwards
it to the upstream with the verified identity in X-Keybound-* headers. With --mode
forward-auth (or both) it answers the sub-requests of nginx auth_request, Traefik ForwardAuth
and Caddy forward_auth at /_keybound/auth. See docs/resource/gateway.md.

Options:
  --config FILE         the JSON configuration (every option; the flags below override it)
  --upstream URL        where verified requests go, e.g. http://127.0.0.1:3000
  --issuer URL          the authorization server's issuer identifier
  --audience AUD        this resource's identifier, as tokens name it in aud (repeatable;
                        default: --public-url)
  --public-url URL      the gateway's external URL, the one DPoP proofs name (htu)
  --mode MODE           proxy (default), forward-auth or both
  --trust-proxy LIST    proxies believed: addresses, CIDRs, loopback..., comma-separated
  --host HOST           listen on this address (default 127.0.0.1)
  --port N              listen on this port (default 4100)
  --log-level LEVEL     fatal, error, warn, info (default), debug, trace or silent
  -h, --help            show this help
`

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  upstream: { type: 'string' },
  issuer: { type: 'string' },
  audience: { type: 'string', multiple: true },
  'public-url': { type: 'string' },
  mode: { type: 'string' },
  'trust-proxy': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** `--trust-proxy`: `true`, `false`, or a comma-separated list. */
function trustProxyOf(value: string): boolean | string[] {
  if (value === 'true') return true
  if (value === 'false') return false
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
}

/** A configuration error on one line: `invalid configuration (FILE): a: ...; b: ...`. */
function oneLine(error: ConfigError): string {
  const where = error.file === undefined ? '' : ` (${error.file})`
  const issues = error.issues.map((issue) =>
    issue.path ? `${issue.path}: ${issue.message}` : issue.message,
  )
  return `invalid configuration${where}: ${issues.join('; ')}`
}

export async function gateway(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('gateway', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  const overrides: GatewayOverrides = {
    ...(values.upstream === undefined ? {} : { upstream: values.upstream }),
    ...(values.issuer === undefined ? {} : { issuer: values.issuer }),
    ...(values.audience === undefined ? {} : { audience: values.audience }),
    ...(values['public-url'] === undefined ? {} : { publicUrl: values['public-url'] }),
    ...(values.mode === undefined ? {} : { mode: values.mode }),
    ...(values['trust-proxy'] === undefined
      ? {}
      : { trustProxy: trustProxyOf(values['trust-proxy']) }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.port === undefined
      ? {}
      : { port: parseNumber(values.port, 'port', { integer: true, min: 0 }) }),
    ...(values['log-level'] === undefined ? {} : { logLevel: values['log-level'] }),
  }
  let loaded: Awaited<ReturnType<typeof loadGatewayConfig>>
  try {
    loaded = await loadGatewayConfig(values.config, overrides)
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(oneLine(err))
    throw err
  }
  const { config, warnings } = loaded
  for (const warning of warnings) io.err(`keybound: warning: ${warning}\n`)

  const running: Gateway = createGateway(config)
  let address: { host: string; port: number }
  try {
    address = await running.listen()
  } catch (err) {
    await running.close()
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE')
      throw new CliError(`port ${config.port} on ${config.host} is in use`, 1)
    if (code === 'EACCES') throw new CliError(`no permission to listen on port ${config.port}`, 1)
    throw new CliError(
      `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`,
      1,
    )
  }
  io.err(
    `keybound gateway (${config.mode}) listening on http://${address.host}:${address.port}` +
      `${config.mode === 'forward-auth' ? '' : `, upstream ${config.upstream}`}, issuer ${config.issuer}\n`,
  )

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  io.err('keybound gateway: shutting down, finishing requests in flight\n')
  await running.close()
  return 0
}
