/**
 * @module bindings/mtls/chain
 *
 * Chain verification for certificates that did not come through this process's own TLS
 * handshake (a proxy forwarded them, RFC 8705 §2.1 behind a proxy): the leaf must chain, through
 * the intermediates forwarded with it, to one of the configured CA certificates. Each link is
 * checked with node's `X509Certificate`: names and key identifiers (`checkIssued`), the
 * signature (`verify`), the validity period, and that every issuer is a CA.
 *
 * What this does not do, and a TLS stack would: revocation (CRL, OCSP), name constraints,
 * policy processing, key usage and extended key usage beyond what `checkIssued` looks at.
 * The proxy in front is expected to have verified the chain as well; this is the second check.
 */
import { X509Certificate } from 'node:crypto'

/** Longest chain followed, intermediates included. */
const MAX_DEPTH = 8

/** The CA certificates of a PEM bundle, in order. @throws {Error} when one does not parse. */
export function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? []
  return blocks.map((block) => new X509Certificate(block))
}

function validAt(certificate: X509Certificate, now: number): boolean {
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo)
}

/** Whether `child` was issued and signed by `issuer`. */
function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey)
  } catch {
    return false
  }
}

/**
 * Whether `leaf` chains to one of `anchors`, through `intermediates` (in any order).
 *
 * @returns `undefined` when it does, else why not.
 */
export function verifyChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now = Date.now(),
): string | undefined {
  if (anchors.length === 0) return 'no CA certificate is configured'
  if (!validAt(leaf, now)) return 'the certificate is expired or not yet valid'
  let current = leaf
  const used = new Set<X509Certificate>()
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (anchors.some((anchor) => validAt(anchor, now) && issuedBy(current, anchor))) {
      return undefined
    }
    const next = intermediates.find(
      (candidate) =>
        !used.has(candidate) &&
        candidate.ca &&
        validAt(candidate, now) &&
        issuedBy(current, candidate),
    )
    if (next === undefined) {
      return depth === 0
        ? 'the certificate is not issued by a configured CA'
        : 'the chain does not reach a configured CA'
    }
    used.add(next)
    current = next
  }
  return 'the chain is too long'
}
