/**
 * @module resource/gateway/metrics
 *
 * The gateway's Prometheus registry: the verifier's counters (`createVerifierMetrics`: requests
 * verified and refused, by binding and reason), the gateway's own (what came back from the
 * upstream, how forward-auth sub-requests were answered), and prom-client's default process
 * metrics (CPU, memory, event loop lag, collected when scraped).
 */
import { Counter, collectDefaultMetrics, Registry } from 'prom-client'
import { createVerifierMetrics, type VerifierMetrics } from '../metrics.js'

/** What happened to a request forwarded upstream. */
export type UpstreamOutcome =
  | '1xx'
  | '2xx'
  | '3xx'
  | '4xx'
  | '5xx'
  | 'unreachable'
  | 'timeout'
  | 'aborted'

/** How a forward-auth sub-request was answered. */
export type ForwardAuthOutcome = 'allowed' | 'refused' | 'untrusted_peer' | 'bad_request'

export interface GatewayMetrics {
  readonly registry: Registry
  readonly verifier: VerifierMetrics
  upstream(outcome: UpstreamOutcome): void
  forwardAuth(outcome: ForwardAuthOutcome): void
}

export function createGatewayMetrics(prefix = 'keybound_'): GatewayMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const upstream = new Counter({
    name: `${prefix}gateway_upstream_responses_total`,
    help: 'Requests forwarded upstream, by outcome: the status class, or unreachable, timeout, aborted.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  })
  const forwardAuth = new Counter({
    name: `${prefix}gateway_forward_auth_total`,
    help: 'Forward-auth sub-requests, by answer.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  })
  return {
    registry,
    verifier: createVerifierMetrics(registry, prefix),
    upstream: (outcome) => upstream.inc({ outcome }),
    forwardAuth: (outcome) => forwardAuth.inc({ outcome }),
  }
}

/** The class of a status code, as a label. */
export function statusClass(status: number): UpstreamOutcome {
  if (status < 200) return '1xx'
  if (status < 300) return '2xx'
  if (status < 400) return '3xx'
  if (status < 500) return '4xx'
  return '5xx'
}
