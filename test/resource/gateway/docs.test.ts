// docs/resource/gateway.md holds the options table rendered from the gateway's schema, so the
// documentation cannot drift from what the gateway accepts. After changing an option:
//   KEYBOUND_WRITE_DOCS=1 node tools/run-tests.mjs test/resource/gateway/docs.test.ts
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'
import { z } from 'zod'
import { gatewayConfigSchema, parseGatewayConfig } from '../../../src/resource/gateway/config.js'

const DOC = new URL('../../../docs/resource/gateway.md', import.meta.url)
const BEGIN =
  '<!-- options: rendered from src/resource/gateway/config.ts by test/resource/gateway/docs.test.ts -->'
const END = '<!-- end of options -->'

interface Node {
  type?: string
  const?: unknown
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
  if (node.enum) return node.enum.map(code).join(' \\| ')
  if ('const' in node) return code(node.const)
  if (node.anyOf) return node.anyOf.map(typeOf).join(' \\| ')
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'values'}`
  if (node.unit) return `${node.type} (${node.unit})`
  return node.type ?? 'any'
}

function defaultOf(node: Node, required: boolean): string {
  if (node.defaultText) return node.defaultText
  if ('default' in node) return code(node.default)
  return required ? '**required**' : '(not set)'
}

/** One row per option; objects are flattened into dotted paths. */
function rows(prefix: string, node: Node, out: string[]): void {
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name
    if (child.type === 'object' && child.properties) {
      rows(path, child, out)
      continue
    }
    const cells = [
      `\`${path}\``,
      typeOf(child),
      defaultOf(child, node.required?.includes(name) ?? false),
      (child.description ?? '').replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|'),
    ]
    out.push(`| ${cells.join(' | ')} |`)
  }
}

export function renderOptions(): string {
  const root = z.toJSONSchema(gatewayConfigSchema, { io: 'input' }) as Node
  const out = ['| Option | Type | Default | Description |', '| --- | --- | --- | --- |']
  rows('', root, out)
  return `${BEGIN}\n\n${out.join('\n')}\n\n${END}`
}

test('docs/resource/gateway.md lists every option, its default and its description', () => {
  const doc = readFileSync(DOC, 'utf8')
  const start = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  assert.ok(start !== -1 && end > start, 'the doc has the options markers')
  const rendered = renderOptions()
  const current = doc.slice(start, end + END.length)
  if (current !== rendered && process.env.KEYBOUND_WRITE_DOCS === '1') {
    writeFileSync(DOC, `${doc.slice(0, start)}${rendered}${doc.slice(end + END.length)}`)
    return
  }
  assert.equal(current, rendered, 'stale: run with KEYBOUND_WRITE_DOCS=1 to rewrite the table')
})

test('the JSON examples of the doc are valid configurations', () => {
  const doc = readFileSync(DOC, 'utf8')
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] as string)
  assert.equal(blocks.length, 3)
  for (const block of blocks) {
    const { warnings } = parseGatewayConfig(JSON.parse(block))
    assert.deepEqual(warnings, [])
  }
})
