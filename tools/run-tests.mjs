#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in test runner, through tsx, then the
// end-to-end server tests (test/server) a second time on PostgreSQL. Node 20's `--test` does
// not expand globs and only discovers *.js files, so the lists are built here. Each run closes
// with the runner's own summary (tests/pass/fail); the exit code is non-zero if any run failed.
//
// `node tools/run-tests.mjs FILE...` runs only the given files (on the default database).
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

function run(files, env = {}) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  )
  return result.status ?? 1
}

const only = process.argv.slice(2)
if (only.length > 0) process.exit(run(only))

const postgres = run(find('test/server'), { KEYBOUND_TEST_DATABASE: 'postgres' })
console.log(`\nend-to-end server tests on PostgreSQL: ${postgres === 0 ? 'passed' : 'FAILED'}\n`)
const all = run(find('test'))
process.exit(all || postgres)
