/**
 * @module resource/metrics
 *
 * Prometheus metrics of a verifier (prom-client): requests verified and refused, by binding and
 * by precise reason (`htu_mismatch`, `replayed_jti`, `ath_mismatch`, `jkt_mismatch`, ...). The
 * reasons are a closed set (the DPoP reasons plus the verifier's own), so label cardinality is
 * bounded.
 */
import { Counter, Registry } from 'prom-client'

export interface VerifierMetrics {
  readonly registry: Registry
  verified(binding: string): void
  refused(binding: string, reason: string): void
}

/**
 * @param registry Where the counter is registered (default: a new registry of its own, so two
 *   verifiers in one process do not collide; pass `prom-client`'s global `register` to share).
 * @param prefix Metric name prefix (default `keybound_`).
 */
export function createVerifierMetrics(
  registry = new Registry(),
  prefix = 'keybound_',
): VerifierMetrics {
  const requests = new Counter({
    name: `${prefix}resource_requests_total`,
    help: 'Protected resource requests, by outcome (verified or refused), binding and reason.',
    labelNames: ['outcome', 'binding', 'reason'] as const,
    registers: [registry],
  })
  // Children are looked up once per label set: the hot path then only increments.
  const children = new Map<string, Counter.Internal>()
  const child = (outcome: string, binding: string, reason: string) => {
    const key = `${outcome}\0${binding}\0${reason}`
    let c = children.get(key)
    if (!c) {
      c = requests.labels({ outcome, binding, reason })
      children.set(key, c)
    }
    return c
  }
  return {
    registry,
    verified: (binding) => child('verified', binding, 'ok').inc(),
    refused: (binding, reason) => child('refused', binding, reason).inc(),
  }
}
