/**
 * @module cli/commands/inspect
 *
 * `keybound inspect`: decodes a DPoP proof and explains every check of RFC 9449 §4.3 that the
 * given request context allows (see `inspectProof`). Exit code 0 when valid, 1 when not.
 */
import { normalizeHtu } from '../../bindings/dpop/htu.js'
import {
  type Inspection,
  type InspectProofOptions,
  inspectProof,
} from '../../bindings/dpop/inspect.js'
import {
  CliError,
  type CliIo,
  parseCommandArgs,
  parseNumber,
  prettyJson,
  processIo,
} from '../io.js'

export const summary = 'decode a DPoP proof and explain each check'

export const usage = `Usage: keybound inspect PROOF [options]

Decodes a DPoP proof (PROOF, or - to read it from stdin), prints its header, payload and
key thumbprint (jkt), and runs each check of RFC 9449 §4.3 the options allow, with
PASS, FAIL or SKIP. Replay detection is not among them. Exit code 0 when the proof is
valid, 1 when a check failed.

Options:
  --method METHOD         the request method the proof must name (htm)
  --url URL               the request URL the proof must name (htu)
  --access-token TOKEN    the access token sent with it (ath)
  --jkt JKT               the thumbprint the proof key must have (cnf.jkt, dpop_jkt)
  --nonce NONCE           the nonce the server expects
  --max-age SECONDS       how old the proof may be (default 60)
  --clock-tolerance SECONDS  clock skew allowed both ways (default 5)
  --json                  print the inspection as JSON
  -h, --help              show this help
`

const OPTIONS = {
  method: { type: 'string', short: 'X' },
  url: { type: 'string', short: 'u' },
  'access-token': { type: 'string' },
  jkt: { type: 'string' },
  nonce: { type: 'string' },
  'max-age': { type: 'string' },
  'clock-tolerance': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const STATUS = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const

function iso(seconds: number): string {
  const date = new Date(seconds * 1000)
  return Number.isNaN(date.getTime()) ? 'not a date' : date.toISOString()
}

/** `iat` against the server's clock, as a line of text. */
function describeIat(iat: unknown, now: Date): string | undefined {
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return undefined
  const nowSeconds = now.getTime() / 1000
  const age = Math.trunc(nowSeconds - iat)
  const relation = age >= 0 ? `${age} s old` : `${-age} s in the future`
  return `iat: ${iat} (${iso(iat)}), ${relation} at server time ${Math.floor(nowSeconds)} (${now.toISOString()})`
}

function render(inspection: Inspection, now: Date): string {
  const lines: string[] = []
  if (inspection.header) lines.push('header:', prettyJson(inspection.header))
  if (inspection.payload) lines.push('payload:', prettyJson(inspection.payload))
  if (inspection.jkt) lines.push(`jkt: ${inspection.jkt}`)
  const iat = describeIat(inspection.payload?.iat, now)
  if (iat) lines.push(iat)
  if (lines.length > 0) lines.push('')
  lines.push('checks:')
  const width = Math.max(...inspection.steps.map((s) => s.check.length))
  for (const step of inspection.steps) {
    const why = [step.reason, step.detail].filter((s) => s !== undefined && s !== '').join(': ')
    const line = `  ${STATUS[step.status]}  ${step.check.padEnd(width)}  ${why}`
    lines.push(line.trimEnd())
  }
  const failed = inspection.steps.filter((s) => s.status === 'fail').length
  lines.push(
    '',
    inspection.valid
      ? 'result: valid (replay detection not checked)'
      : `result: INVALID (${failed} check${failed === 1 ? '' : 's'} failed)`,
  )
  return `${lines.join('\n')}\n`
}

export async function inspect(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('inspect', argv, OPTIONS, true)
  if (values.help) {
    io.out(usage)
    return 0
  }
  if (positionals.length === 0) {
    throw new CliError('missing PROOF argument (or - to read it from stdin)')
  }
  if (positionals.length > 1) {
    throw new CliError(`expected one PROOF, got ${positionals.length} arguments`)
  }
  if (values.url !== undefined && normalizeHtu(values.url) === undefined) {
    throw new CliError(`--url must be an absolute http or https URL: ${values.url}`)
  }
  const seconds = (flag: 'max-age' | 'clock-tolerance') => {
    const value = values[flag]
    return value === undefined ? undefined : parseNumber(value, flag, { min: 0 })
  }
  const maxAge = seconds('max-age')
  const clockTolerance = seconds('clock-tolerance')

  const proof = positionals[0] === '-' ? (await io.readStdin()).trim() : (positionals[0] as string)
  const now = new Date()
  const options: InspectProofOptions = {
    currentDate: now,
    ...(values.method === undefined ? {} : { htm: values.method }),
    ...(values.url === undefined ? {} : { htu: values.url }),
    ...(values['access-token'] === undefined ? {} : { accessToken: values['access-token'] }),
    ...(values.jkt === undefined ? {} : { expectedJkt: values.jkt }),
    ...(values.nonce === undefined ? {} : { nonce: values.nonce }),
    ...(maxAge === undefined ? {} : { maxAge }),
    ...(clockTolerance === undefined ? {} : { clockTolerance }),
  }
  const inspection = inspectProof(proof, options)
  io.out(values.json ? `${prettyJson(inspection)}\n` : render(inspection, now))
  return inspection.valid ? 0 : 1
}
