/**
 * Renders `docs/configuration.md` from the configuration schema (`src/config/schema.ts`), so the
 * documentation cannot drift from what `keybound serve` accepts.
 *
 *   node --import tsx tools/config-docs.ts          # writes docs/configuration.md
 *   node --import tsx tools/config-docs.ts --check  # exits 1 when the file is stale
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { parseConfig } from '../src/config/load.js'
import { CONFIG_EXAMPLE, configSchema } from '../src/config/schema.js'

const TARGET = fileURLToPath(new URL('../docs/configuration.md', import.meta.url))
const COMMAND = 'node --import tsx tools/config-docs.ts'

/** The part of a JSON Schema node this renderer reads. */
interface Node {
  type?: string
  enum?: unknown[]
  anyOf?: Node[]
  items?: Node
  properties?: Record<string, Node>
  required?: string[]
  default?: unknown
  description?: string
  unit?: string
  defaultText?: string
}

const code = (value: unknown) => `\`${JSON.stringify(value)}\``

function typeOf(node: Node): string {
  if (node.enum) return node.enum.map(code).join(' | ')
  if (node.anyOf) return node.anyOf.map(typeOf).join(' | ')
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'values'}`
  if (node.type === 'integer' && node.unit) return `integer (${node.unit})`
  return node.type ?? 'any'
}

function humanSeconds(value: number): string {
  for (const [size, name] of [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ] as const) {
    if (value >= size && value % size === 0) {
      const count = value / size
      return ` (${count} ${name}${count === 1 ? '' : 's'})`
    }
  }
  return ''
}

function defaultOf(node: Node, required: boolean): string {
  if (node.defaultText) return node.defaultText
  if ('default' in node) {
    const human =
      node.unit === 'seconds' && typeof node.default === 'number' ? humanSeconds(node.default) : ''
    return `${code(node.default)}${human}`
  }
  return required ? '**required**' : '(not set)'
}

/** A table cell: one line, with `|` escaped. */
const cell = (text: string) => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|')

function table(rows: Row[]): string {
  const lines = ['| Option | Type | Default | Description |', '| --- | --- | --- | --- |']
  for (const { path, node, required } of rows) {
    const cells = [`\`${path}\``, typeOf(node), defaultOf(node, required), node.description ?? '']
    lines.push(`| ${cells.map(cell).join(' | ')} |`)
  }
  return lines.join('\n')
}

type Row = { path: string; node: Node; required: boolean }

/**
 * The fields of an object node (or of the items of a list of objects), as table rows; an
 * optional object field is followed by its own fields (`mtls.certificateHeader.format`).
 */
function fieldRows(prefix: string, node: Node): Row[] {
  return Object.entries(node.properties ?? {}).flatMap(([name, child]) => {
    const row = {
      path: `${prefix}.${name}`,
      node: child,
      required: node.required?.includes(name) ?? false,
    }
    const nested = child.type === 'object' && child.properties && !row.required
    return nested ? [row, ...fieldRows(row.path, child)] : [row]
  })
}

/** JSON with 2-space indentation, lists of scalars on one line. */
function pretty(value: unknown, indent = ''): string {
  const inner = `${indent}  `
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item !== 'object' || item === null)) {
      return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`
    }
    return `[\n${value.map((item) => inner + pretty(item, inner)).join(',\n')}\n${indent}]`
  }
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value).map(
      ([name, member]) => `${inner}${JSON.stringify(name)}: ${pretty(member, inner)}`,
    )
    return members.length === 0 ? '{}' : `{\n${members.join(',\n')}\n${indent}}`
  }
  return JSON.stringify(value)
}

export function render(): string {
  // The example must be valid: rendering fails otherwise.
  parseConfig(CONFIG_EXAMPLE)
  const root = z.toJSONSchema(configSchema, { io: 'input' }) as Node
  const general: Row[] = []
  const sections: string[] = []
  for (const [name, node] of Object.entries(root.properties ?? {})) {
    if (node.type === 'object') {
      sections.push(
        `### \`${name}\`\n\n${node.description ?? ''}\n\n${table(fieldRows(name, node))}`,
      )
    } else if (node.type === 'array' && node.items?.type === 'object') {
      const items = node.items
      const text = [items.description, node.description].filter(Boolean).join(' ')
      sections.push(`### \`${name}\`\n\n${text}\n\n${table(fieldRows(`${name}[]`, items))}`)
    } else {
      general.push({ path: name, node, required: root.required?.includes(name) ?? false })
    }
  }
  return `# Configuration

<!-- Generated from src/config/schema.ts by \`${COMMAND}\`: do not edit by hand. -->

\`keybound serve --config FILE\` reads its configuration from \`FILE\`, a JSON object. Every
option is optional; without \`--config\`, every option takes its default and \`demo\` is on.
\`--port\` overrides \`port\`.

- Durations are integer numbers of **seconds**.
- Server options are camelCase; client entries use the RFC 7591 §2 metadata names.
- An unknown option is an error, not ignored, so a typo cannot go unnoticed. Client entries
  are the exception: other RFC 7591 metadata is kept as sent (with a warning for names
  keybound does not know).
- Client secrets are kept only as their SHA-256, and user passwords as a scrypt hash.
- Every problem is reported at once, one line each, starting with the dotted path of the
  option, e.g. \`clients[1].redirect_uris[0]: must be an absolute URL without fragment\`.
  Settings that are valid but probably not meant (plain http outside localhost, open client
  registration, a generated \`dpop.nonceSecret\`) are logged as warnings at start.

## Options

${table(general)}

${sections.join('\n\n')}

## Example

\`\`\`json
${pretty(CONFIG_EXAMPLE)}
\`\`\`
`
}

const output = render()
if (process.argv.includes('--check')) {
  let current: string | undefined
  try {
    current = readFileSync(TARGET, 'utf8')
  } catch {
    current = undefined
  }
  if (current !== output) {
    process.stderr.write(
      `docs/configuration.md is ${current === undefined ? 'missing' : 'stale'}: run \`${COMMAND}\`\n`,
    )
    process.exit(1)
  }
  process.stdout.write('docs/configuration.md is up to date\n')
} else {
  writeFileSync(TARGET, output)
  process.stdout.write('wrote docs/configuration.md\n')
}
