/**
 * @module bindings/mtls/client-certificate
 *
 * The client certificate of a request (RFC 8705 §2, §3): the one the client presented in this
 * process's own TLS handshake, or, behind a TLS-terminating proxy, the one the proxy forwards in
 * a header. What is believed from whom:
 *
 * - **From a trusted proxy** (the peer address is in `trustProxy`) with a header configured:
 *   the header, and only the header. Its absence means the client presented no certificate
 *   (the proxy's own TLS client certificate, if it uses one, is never the client's).
 * - **From anyone else**: the certificate of the TLS connection, if any. A certificate header
 *   sent by a peer that is not a trusted proxy is ignored (a client could name any certificate
 *   in it) and reported through `onUntrustedHeader`, for a warning in the log.
 *
 * `chainVerified` says whether the certificate chains to a configured CA (what
 * `tls_client_auth`, RFC 8705 §2.1, needs): for the TLS connection, `socket.authorized` of a
 * listener given that CA; for a forwarded certificate, {@link verifyChain} here against the
 * same CA, through the intermediates the proxy forwarded (RFC 9440 `Client-Cert-Chain`, Envoy
 * `Chain`, Traefik); other formats forward the leaf only, so it must be issued by the CA itself.
 */
import type { X509Certificate } from 'node:crypto'
import type { ProxyTrust } from '../../http/trust-proxy.js'
import {
  type CertificateHeaderFailure,
  type CertificateHeaderSpec,
  certificateHeaderName,
  type HeaderBag,
  readCertificateHeader,
} from './certificate-header.js'
import { verifyChain } from './chain.js'
import { certificateThumbprint } from './thumbprint.js'

/** A certificate the client presented. */
export interface PresentedCertificate {
  readonly certificate: X509Certificate
  /** Where it came from: this process's TLS handshake, or a trusted proxy's header. */
  readonly source: 'tls' | 'header'
  /** Whether it chains to a configured CA (RFC 8705 §2.1). */
  readonly chainVerified: boolean
  /** Why not, when it does not (for the log). */
  readonly chainProblem: string | undefined
  /** `x5t#S256` (RFC 8705 §3.1): the SHA-256 of its DER. */
  readonly thumbprint: string
}

/** A forwarded certificate that could not be decoded. */
export interface CertificateFailure {
  readonly failure: CertificateHeaderFailure
  readonly detail: string
}

/** The parts of a socket (node's `Socket` or `TLSSocket`) this module looks at. */
export interface CertificateSocket {
  readonly remoteAddress?: string | undefined
  readonly encrypted?: boolean
  readonly authorized?: boolean
  readonly authorizationError?: Error
  getPeerX509Certificate?(): X509Certificate | undefined
}

/** The part of a request (node's `IncomingMessage`) this module looks at. */
export interface CertificateRequest {
  readonly socket: CertificateSocket
  readonly headers: HeaderBag
}

/** Told when a peer that is not a trusted proxy sent the certificate header (which is ignored). */
export type UntrustedHeaderListener = (header: string, remoteAddress: string | undefined) => void

export interface ClientCertificateOptions {
  /** The header a trusted proxy forwards the certificate in; without it, TLS only. */
  readonly header?: CertificateHeaderSpec | undefined
  /** Which peers are trusted proxies (see `compileTrustProxy`). */
  readonly trusted: ProxyTrust
  /**
   * The CA certificates a forwarded certificate must chain to for `chainVerified`. A TLS
   * certificate's chain is the listener's business (see `tlsVerifiesChain`).
   */
  readonly ca?: readonly X509Certificate[] | undefined
  /**
   * Whether the TLS listener verifies client certificates against a configured CA (its `ca`
   * option). Only then is `socket.authorized` a verified chain: without a `ca`, node verifies
   * against the public web PKI, which says nothing about who may authenticate here.
   */
  readonly tlsVerifiesChain?: boolean | undefined
  /** Called when a peer that is not a trusted proxy sends the certificate header. */
  readonly onUntrustedHeader?: UntrustedHeaderListener | undefined
}

/**
 * Reads the client certificate of a request; `onUntrustedHeader` replaces the option's for
 * this request (to log with the request's logger).
 */
export type ClientCertificateSource = (
  request: CertificateRequest,
  onUntrustedHeader?: UntrustedHeaderListener,
) => PresentedCertificate | CertificateFailure | undefined

function presented(
  certificate: X509Certificate,
  source: 'tls' | 'header',
  checkChain: () => string | undefined,
): PresentedCertificate {
  let thumbprint: string | undefined
  let chain: { problem: string | undefined } | undefined
  const problem = () => {
    chain ??= { problem: checkChain() }
    return chain.problem
  }
  // Computed when first asked: most requests need neither.
  return {
    certificate,
    source,
    get chainVerified() {
      return problem() === undefined
    },
    get chainProblem() {
      return problem()
    },
    get thumbprint() {
      thumbprint ??= certificateThumbprint(certificate)
      return thumbprint
    },
  }
}

/** The certificate of the TLS connection, when the client presented one. */
function fromTls(
  socket: CertificateSocket,
  tlsVerifiesChain: boolean,
): PresentedCertificate | undefined {
  if (socket.encrypted !== true || typeof socket.getPeerX509Certificate !== 'function') {
    return undefined
  }
  // Read on every request, never cached per connection: TLS 1.2 renegotiation can change it.
  const certificate = socket.getPeerX509Certificate()
  if (certificate === undefined) return undefined
  const authorized = socket.authorized === true
  const error = socket.authorizationError
  return presented(certificate, 'tls', () => {
    if (!tlsVerifiesChain) return 'no CA certificate is configured for the TLS listener'
    return authorized ? undefined : `TLS: ${String(error ?? 'not authorized')}`
  })
}

/** Builds the reader of client certificates for a listener set-up. */
export function createClientCertificateSource(
  options: ClientCertificateOptions,
): ClientCertificateSource {
  const header = options.header
  const name = header ? certificateHeaderName(header) : undefined
  const ca = options.ca ?? []
  const tlsVerifiesChain = options.tlsVerifiesChain === true
  return (request, onUntrustedHeader = options.onUntrustedHeader) => {
    if (header && name) {
      const value = request.headers[name]
      const remoteAddress = request.socket.remoteAddress
      if (options.trusted(remoteAddress)) {
        const result = readCertificateHeader(request.headers, header)
        if (result === undefined) return undefined
        if ('failure' in result) return result
        return presented(result.certificate, 'header', () =>
          verifyChain(result.certificate, result.chain, ca),
        )
      }
      if (value !== undefined) onUntrustedHeader?.(name, remoteAddress)
    }
    return fromTls(request.socket, tlsVerifiesChain)
  }
}
