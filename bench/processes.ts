/**
 * The server processes of the HTTP benchmarks: each server runs in a process of its own, started
 * on a free port, ready once it prints "READY", measured by the CPU time /proc gives it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export async function freePort(): Promise<number> {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => done(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

export interface Server {
  name: string
  port: number
  child: ChildProcess
}

export async function start(
  name: string,
  node: string,
  args: string[],
  port: number,
  env: Record<string, string> = {},
): Promise<Server> {
  const child = spawn(node, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  })
  await new Promise<void>((ready, fail) => {
    let out = ''
    child.stdout?.on('data', (d) => {
      out += d
      if (out.includes('READY')) ready()
    })
    child.on('exit', (code) => fail(new Error(`${name} exited with ${code}`)))
  })
  return { name, port, child }
}

export function stop(server: Server): Promise<void> {
  return new Promise((done) => {
    server.child.on('exit', () => done())
    server.child.kill('SIGTERM')
  })
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}
