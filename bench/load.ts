/**
 * The load generator of `npm run bench:token`: keep-alive HTTP/1.1 connections, a fixed number
 * of requests in flight, a bounded duration, and requests built before the timed window.
 */
import { Agent, request } from 'node:http'

export interface PreparedRequest {
  readonly headers: Record<string, string>
  /** The body of a POST; `undefined` sends a GET. */
  readonly body: string | undefined
}

export interface LoadResult {
  readonly completed: number
  readonly failed: number
  readonly seconds: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  /** The first failed answer, for diagnosis. */
  readonly firstFailure?: string
}

function send(
  agent: Agent,
  port: number,
  path: string,
  r: PreparedRequest,
): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: r.body === undefined ? 'GET' : 'POST',
        agent,
        headers:
          r.body === undefined
            ? r.headers
            : { ...r.headers, 'content-length': Buffer.byteLength(r.body) },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () => resolve([res.statusCode ?? 0, body]))
      },
    )
    req.on('error', reject)
    req.end(r.body)
  })
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

/**
 * Sends `requests` in order with `concurrency` in flight until `seconds` have passed or the
 * requests run out. A request counts as completed when the answer is a 200.
 */
export async function runLoad(options: {
  port: number
  path: string
  concurrency: number
  seconds: number
  requests: readonly PreparedRequest[]
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency })
  const latencies = new Float64Array(options.requests.length)
  let next = 0
  let completed = 0
  let failed = 0
  let firstFailure: string | undefined
  const start = performance.now()
  const end = start + options.seconds * 1000
  const worker = async () => {
    while (performance.now() < end && next < options.requests.length) {
      const r = options.requests[next++] as PreparedRequest
      const t0 = performance.now()
      const [status, body] = await send(agent, options.port, options.path, r)
      if (status === 200) latencies[completed++] = performance.now() - t0
      else {
        failed++
        firstFailure ??= `${status} ${body.slice(0, 200)}`
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  const seconds = (performance.now() - start) / 1000
  agent.destroy()
  const sorted = latencies.subarray(0, completed).sort()
  return {
    completed,
    failed,
    seconds,
    rps: completed / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    ...(firstFailure ? { firstFailure } : {}),
  }
}
