/**
 * @module resource/gateway/log
 *
 * The gateway's log: pino (the logger of Fastify and so of keybound's authorization server), one
 * JSON object a line (`level`, `time`, `msg`, then fields), on stdout by default. Callers pass
 * fields, never headers: no token, proof or secret is ever logged.
 */
import { pino } from 'pino'
import type { VerifierLogger } from '../options.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

type Write = (fields: Record<string, unknown>, msg: string) => void

export interface GatewayLogger extends VerifierLogger {
  error: Write
  warn: Write
  info: Write
  debug: Write
}

/** A logger that writes lines of `level` and above with `write` (default: stdout). */
export function createLogger(level: LogLevel, write?: (line: string) => void): GatewayLogger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    write ? { write } : pino.destination({ dest: 1, sync: true }),
  )
}
