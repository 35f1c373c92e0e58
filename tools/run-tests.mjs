#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in test runner, through tsx.
// Node 20's `--test` does not expand globs and only discovers *.js files, so the
// list is built here; the runner's own summary (tests/pass/fail) closes the output.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function find(dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...find(path))
    else if (name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

const only = process.argv.slice(2)
const files = only.length > 0 ? only : find('test')
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
)
process.exit(result.status ?? 1)
