/**
 * Running the real `keybound` bin (dist/cli/main.js) in child processes, for the CLI tests: the
 * bin is rebuilt first when a source file is newer than it.
 */
import assert from 'node:assert/strict'
import { type SpawnSyncReturns, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = 'dist/cli/main.js'

/** The newest modification time under `dir`, in ms. */
function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    const time = entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs
    newest = Math.max(newest, time)
  }
  return newest
}

/** Builds the bin unless it is newer than every file of src/. */
export function buildIfStale(): void {
  const main = path.join(ROOT, BIN)
  if (!fs.existsSync(main) || fs.statSync(main).mtimeMs < newestMtime(path.join(ROOT, 'src'))) {
    const build = spawnSync('npm', ['run', 'build'], {
      cwd: ROOT,
      encoding: 'utf8',
      shell: process.platform === 'win32',
    })
    assert.ok(
      fs.existsSync(main),
      `npm run build did not emit ${BIN}: ${build.stdout}${build.stderr}`,
    )
  }
}

/** `keybound ...args` from the project root, without KEYBOUND_DEBUG (stack traces). */
export function runCli(args: readonly string[], input?: string): SpawnSyncReturns<string> {
  const env = { ...process.env }
  delete env.KEYBOUND_DEBUG
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    ...(input === undefined ? {} : { input }),
  })
}

/**
 * A usage error: exit code 2, nothing on stdout, one `keybound: ...` line on stderr that holds
 * `message` (or matches it), and no stack trace.
 */
export function assertUsageError(result: SpawnSyncReturns<string>, message: string | RegExp): void {
  assert.equal(result.status, 2, `exit code; stderr: ${result.stderr}`)
  assert.equal(result.stdout, '')
  const lines = result.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`)
  assert.match(lines[0] as string, /^keybound: /)
  if (typeof message === 'string') assert.ok(result.stderr.includes(message), result.stderr)
  else assert.match(result.stderr, message)
  assert.doesNotMatch(result.stderr, /^\s+at /m)
}
