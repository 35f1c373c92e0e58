/**
 * @module resource/gateway/log
 *
 * The gateway's log: one JSON object a line (`time`, `level`, `msg`, then fields), on stdout by
 * default. Callers pass fields, never headers: no token, proof or secret is ever logged.
 */
import type { VerifierLogger } from '../options.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

const SEVERITY: Readonly<Record<LogLevel, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
}

type Write = (fields: Record<string, unknown>, msg: string) => void

export interface GatewayLogger extends VerifierLogger {
  error: Write
  warn: Write
  info: Write
  debug: Write
}

/** A logger that writes lines of `level` and above with `write` (default: stdout). */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => {
    process.stdout.write(line)
  },
): GatewayLogger {
  const at =
    (name: Exclude<LogLevel, 'silent'>): Write =>
    (fields, msg) => {
      if (SEVERITY[name] < SEVERITY[level]) return
      write(`${JSON.stringify({ time: new Date().toISOString(), level: name, msg, ...fields })}\n`)
    }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}
