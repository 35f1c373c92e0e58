#!/usr/bin/env node
/**
 * @module cli/main
 *
 * The `keybound` command: dispatches to one module per subcommand. Usage and input errors end
 * with `keybound: <message>` on stderr and exit code 2, without a stack trace (set
 * `KEYBOUND_DEBUG=1` to see one for unexpected errors).
 */
import { readFileSync } from 'node:fs'
import * as certCommand from './commands/cert.js'
import * as gatewayCommand from './commands/gateway.js'
import * as inspectCommand from './commands/inspect.js'
import * as keygenCommand from './commands/keygen.js'
import * as migrateCommand from './commands/migrate.js'
import * as popSignCommand from './commands/pop-sign.js'
import * as proofCommand from './commands/proof.js'
import * as serveCommand from './commands/serve.js'
import { CliError, type CliIo, type Command, EXIT_USAGE, processIo } from './io.js'

interface CommandEntry {
  readonly summary: string
  readonly run: Command
}

/** Every subcommand, in the order `--help` lists them. */
const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  serve: { summary: serveCommand.summary, run: serveCommand.serve },
  migrate: { summary: migrateCommand.summary, run: migrateCommand.migrate },
  keygen: { summary: keygenCommand.summary, run: keygenCommand.keygen },
  proof: { summary: proofCommand.summary, run: proofCommand.proof },
  inspect: { summary: inspectCommand.summary, run: inspectCommand.inspect },
  gateway: { summary: gatewayCommand.summary, run: gatewayCommand.gateway },
  cert: { summary: certCommand.summary, run: certCommand.cert },
  'pop-sign': { summary: popSignCommand.summary, run: popSignCommand.popSign },
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  return String(pkg.version)
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  const list = Object.entries(COMMANDS)
    .map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`)
    .join('\n')
  return `Usage: keybound <command> [options]

Sender-constrained OAuth 2.0 tokens (DPoP, mutual TLS, signed-request PoP): the authorization
server, the verifying gateway, and the client's keys, proofs, certificates and signatures.

Commands:
${list}

Run "keybound <command> --help" for the options of a command.

Options:
  -h, --help     show this help
  --version      print the version
`
}

function lookup(name: string): CommandEntry {
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (!entry) {
    throw new CliError(
      `unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')}; see "keybound --help")`,
    )
  }
  return entry
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    const [first, ...rest] = argv
    if (first === undefined) {
      io.err(usage())
      return EXIT_USAGE
    }
    if (first === '--help' || first === '-h') {
      io.out(usage())
      return 0
    }
    if (first === 'help') {
      if (rest[0] === undefined) {
        io.out(usage())
        return 0
      }
      return await lookup(rest[0]).run(['--help'], io)
    }
    if (first === '--version') {
      io.out(`${version()}\n`)
      return 0
    }
    if (first.startsWith('-')) {
      throw new CliError(`unknown option ${first} (see "keybound --help")`)
    }
    return await lookup(first).run(rest, io)
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`keybound: ${err.message}\n`)
      return err.exitCode
    }
    const message = err instanceof Error ? err.message : String(err)
    io.err(`keybound: ${message}\n`)
    if (process.env.KEYBOUND_DEBUG === '1' && err instanceof Error && err.stack) {
      io.err(`${err.stack}\n`)
    }
    return EXIT_USAGE
  }
}

// A closed pipe (`keybound inspect ... | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

process.exitCode = await main(process.argv.slice(2))
