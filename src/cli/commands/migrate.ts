/**
 * @module cli/commands/migrate
 *
 * `keybound migrate`: creates or upgrades the database schema, as `keybound serve` does at start.
 */
import { openStore, redactDatabaseUrl } from '../../store/open.js'
import { CliError, type CliIo, parseCommandArgs, processIo } from '../io.js'
import { configFor } from './serve.js'

export const summary = 'create or upgrade the database schema'

export const usage = `Usage: keybound migrate [--config FILE]

Creates or upgrades the schema of the configured database (the default: ./.keybound/keybound.db).

Options:
  --config FILE   the JSON configuration
  -h, --help      show this help
`

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function migrate(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values } = parseCommandArgs('migrate', argv, OPTIONS)
  if (values.help) {
    io.out(usage)
    return 0
  }
  const { config } = await configFor(values.config, undefined)
  let store: Awaited<ReturnType<typeof openStore>>
  try {
    store = await openStore(config.database)
  } catch (err) {
    throw new CliError((err as Error).message, 1)
  }
  await store.close()
  io.out(`migrated ${redactDatabaseUrl(config.database)}\n`)
  return 0
}
