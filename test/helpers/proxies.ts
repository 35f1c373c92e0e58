/**
 * Real nginx and Caddy in front of the servers of a test, for the suites that run the proxy
 * snippets of the docs as they are written. The helper picks the port itself and, when the proxy
 * cannot have it (taken between the probe and the bind) or exits before it listens, starts it
 * again on another port, up to 3 times. When it gives up, the error names every attempt's port,
 * exit code or signal, stderr and, for nginx, its error.log, where nginx writes its own errors.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort } from './certificates.js'

export interface RunningProxy {
  /** The port the proxy listens on, on 127.0.0.1 (Caddy: on every address). */
  port: number
  /** Stops the proxy (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  close(): Promise<void>
}

const ATTEMPTS = 3
const READY_MS = 20_000
const STOP_MS = 5_000
/** The end of a log an error quotes: Caddy's JSON logs are long. */
const TAIL = 4_000

/**
 * nginx in the foreground, one process, everything under `dir`, with `server(port)` (one or more
 * `server { }` blocks listening on `port`) as its `http { }` block.
 */
export function startNginx(options: {
  dir: string
  server: (port: number) => string
}): Promise<RunningProxy> {
  const { dir } = options
  mkdirSync(dir, { recursive: true })
  const errorLog = join(dir, 'error.log')
  const conf = join(dir, 'nginx.conf')
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `  ${name}_temp_path ${join(dir, name)};`)
    .join('\n')
  return startProxy('nginx', (port) => {
    writeFileSync(errorLog, '')
    writeFileSync(
      conf,
      `daemon off;\nmaster_process off;\npid ${join(dir, 'nginx.pid')};\n` +
        `error_log ${errorLog} warn;\nevents { worker_connections 64; }\n` +
        `http {\n  access_log off;\n${temp}\n${options.server(port)}\n}\n`,
    )
    return {
      child: spawn('nginx', ['-p', dir, '-c', conf, '-e', errorLog], {
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
      logs: () => ({ 'error.log': read(errorLog) }),
    }
  })
}

/**
 * Caddy with `site(port)` (a site block of a Caddyfile on `port`) after global options that turn
 * its admin endpoint and automatic HTTPS off, its home and data under `dir`.
 */
export function startCaddy(options: {
  dir: string
  site: (port: number) => string
}): Promise<RunningProxy> {
  const { dir } = options
  mkdirSync(dir, { recursive: true })
  const caddyfile = join(dir, 'Caddyfile')
  return startProxy('caddy', (port) => {
    writeFileSync(caddyfile, `{\n\tadmin off\n\tauto_https off\n}\n\n${options.site(port)}`)
    return {
      child: spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
        env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
      logs: () => ({}),
    }
  })
}

/**
 * HAProxy with `sections(port)` (a frontend and a backend listening on `port`) after a global
 * section and HTTP defaults, in the foreground, its logs on stderr.
 */
export function startHaproxy(options: {
  dir: string
  sections: (port: number) => string
}): Promise<RunningProxy> {
  const { dir } = options
  mkdirSync(dir, { recursive: true })
  const cfg = join(dir, 'haproxy.cfg')
  return startProxy('haproxy', (port) => {
    writeFileSync(
      cfg,
      'global\n    log stderr format raw local0 warning\n\n' +
        'defaults\n    mode http\n    log global\n    timeout connect 5s\n' +
        `    timeout client 30s\n    timeout server 30s\n\n${options.sections(port)}\n`,
    )
    return {
      child: spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] }),
      logs: () => ({}),
    }
  })
}

interface Launch {
  child: ChildProcess
  /** Log files of the proxy, by name, read when an attempt fails. */
  logs: () => Record<string, string>
}

async function startProxy(name: string, launch: (port: number) => Launch): Promise<RunningProxy> {
  const failures: string[] = []
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const port = await freePort()
    const { child, logs } = launch(port)
    let stderr = ''
    child.stderr?.on('data', (chunk) => {
      stderr += chunk
    })
    let spawnError: Error | undefined
    // 'close', not 'exit': by then the whole of stderr has been read.
    const exited = new Promise<void>((resolve) => {
      child.once('close', () => resolve())
      child.once('error', (error) => {
        spawnError = error
        resolve()
      })
    })
    let gone = false
    void exited.then(() => {
      gone = true
    })
    const close = () => stop(child, exited, () => gone)

    const state = await waitListening(port, child, () => gone)
    if (state === 'ready') return { port, close }
    await close()
    const how = spawnError
      ? `could not be spawned: ${spawnError.message}`
      : state === 'timeout'
        ? `did not listen within ${READY_MS / 1000} s and was stopped`
        : child.signalCode !== null
          ? `exited on signal ${child.signalCode} before listening`
          : `exited with code ${child.exitCode} before listening`
    const sections = [`stderr:\n${tail(stderr) || '(empty)'}`]
    for (const [file, text] of Object.entries(logs())) {
      sections.push(`${file}:\n${tail(text) || '(empty)'}`)
    }
    failures.push(`attempt ${attempt}, port ${port}: ${name} ${how}\n${sections.join('\n')}`)
    // Only a proxy that died on its own may have lost its port: a slow or unspawnable one would
    // not do better on another.
    if (spawnError || state === 'timeout') break
  }
  throw new Error(`${name} did not start:\n\n${failures.join('\n\n')}`)
}

/**
 * Whether the proxy listens on `port` within READY_MS, or exits first. On Linux the
 * listening socket must be the child's own, so that another process which took the port in the
 * meantime is not mistaken for the proxy (nginx retries a taken port for 2.5 s before exiting).
 */
async function waitListening(
  port: number,
  child: ChildProcess,
  gone: () => boolean,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + READY_MS
  while (Date.now() < deadline) {
    if (gone()) return 'exited'
    const owner = listenerOwnedBy(port, child.pid)
    if (owner === true || (owner === undefined && (await accepts(port)))) {
      return gone() ? 'exited' : 'ready'
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return gone() ? 'exited' : 'timeout'
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Whether `pid` holds a TCP socket listening on `port` (/proc/net/tcp{,6} and /proc/PID/fd);
 * undefined where /proc cannot tell (not Linux).
 */
function listenerOwnedBy(port: number, pid: number | undefined): boolean | undefined {
  if (pid === undefined || !existsSync('/proc/net/tcp')) return undefined
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of read(table).split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/)
      if (fields[3] === '0A' && fields[1]?.endsWith(`:${hexPort}`) && fields[9]) {
        inodes.add(fields[9])
      }
    }
  }
  if (inodes.size === 0) return false
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = safe(() => readlinkSync(`/proc/${pid}/fd/${fd}`))
      const inode = /^socket:\[(\d+)\]$/.exec(target ?? '')?.[1]
      if (inode && inodes.has(inode)) return true
    }
    return false
  } catch {
    return undefined
  }
}

async function stop(child: ChildProcess, exited: Promise<void>, gone: () => boolean) {
  if (gone() || child.pid === undefined) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS)
  await exited
  clearTimeout(timer)
}

function read(path: string): string {
  return safe(() => readFileSync(path, 'utf8')) ?? ''
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f()
  } catch {
    return undefined
  }
}

function tail(text: string): string {
  const trimmed = text.trim()
  return trimmed.length > TAIL ? `…${trimmed.slice(-TAIL)}` : trimmed
}
