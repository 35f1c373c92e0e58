/**
 * @module cli/commands/serve
 *
 * `keybound serve`: runs the authorization server until SIGINT or SIGTERM, then finishes the
 * requests in flight and exits.
 */
import { ConfigError, loadConfig, parseConfig } from '../../config/index.js'
import { demoSetup } from '../../server/demo.js'
import { createAuthorizationServer } from '../../server/server.js'
import { CliError, type CliIo, parseCommandArgs, parseNumber, processIo } from '../io.js'

export const summary = 'run the authorization server'

export const usage = `Usage: keybound serve [--config FILE] [--port N]

Runs the authorization server. Without --config it starts on its embedded default: issuer
http://localhost:4000, a SQLite file in ./.keybound/, and a demo set-up printed at start.

Options:
  --config FILE   the JSON configuration (see docs/configuration.md)
  --port N        listen on this port (overrides the config)
  -h, --help      show this help
`

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Loads the configuration, or the demo set-up without a file; config mistakes exit 2. */
export async function configFor(path: string | undefined, port: number | undefined) {
  try {
    if (path !== undefined)
      return { ...(await loadConfig(path, port === undefined ? {} : { port })), demo: undefined }
    const demo = demoSetup()
    return { ...parseConfig({ ...demo.input, ...(port === undefined ? {} : { port }) }), demo }
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`invalid configuration:\n${err.message}`)
    throw err
  }
}

export async function serve(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('serve', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  const port =
    values.port === undefined
      ? undefined
      : parseNumber(values.port, 'port', { integer: true, min: 0 })
  const { config, warnings, demo } = await configFor(values.config, port)
  for (const warning of warnings) io.err(`keybound: warning: ${warning}\n`)

  let server: Awaited<ReturnType<typeof createAuthorizationServer>>
  try {
    server = await createAuthorizationServer(config)
  } catch (err) {
    throw new CliError((err as Error).message, 1)
  }
  try {
    await server.listen()
  } catch (err) {
    await server.close()
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE')
      throw new CliError(`port ${config.port} on ${config.host} is in use`, 1)
    if (code === 'EACCES') throw new CliError(`no permission to listen on port ${config.port}`, 1)
    throw new CliError(
      `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`,
      1,
    )
  }
  if (demo) io.out(demo.banner(config.issuer))

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  server.app.log.info('shutting down: finishing requests in flight')
  await server.close()
  return 0
}
