/**
 * @module bindings/mtls/certificate-header
 *
 * The client certificate a TLS-terminating proxy forwards in a request header (RFC 8705 §3
 * behind a proxy), in the format the proxy writes. Each format decodes to the certificate's
 * DER, which node's `X509Certificate` parses; the thumbprint (RFC 8705 §3.1) is then computed
 * over that DER (`certificate.raw`), never over the header text.
 *
 * | format | proxy, and what it writes | default header |
 * | --- | --- | --- |
 * | `rfc9440` | RFC 9440 §2: a structured-field byte sequence `:base64(DER):`; the chain in `Client-Cert-Chain` | `client-cert` |
 * | `nginx` | `$ssl_client_escaped_cert`: URL-encoded PEM | `x-ssl-client-cert` |
 * | `apache` | `%{SSL_CLIENT_CERT}s`: PEM, its line breaks often turned into spaces | `ssl_client_cert` |
 * | `iis` | IIS/ARR `X-ARR-ClientCert`: base64 DER | `x-arr-clientcert` |
 * | `envoy` | `x-forwarded-client-cert`: the `Cert="..."` (URL-encoded PEM) of the last element; `Chain=` when set | `x-forwarded-client-cert` |
 * | `traefik` | `X-Forwarded-Tls-Client-Cert`: URL-encoded base64 DER, no PEM armour; certificates separated by `,` | `x-forwarded-tls-client-cert` |
 * | `haproxy` | `%[ssl_c_der,base64]`: base64 DER | `x-ssl-client-cert` |
 *
 * The functions never throw on bad input: an absent or empty header (Apache's `(null)`, an empty
 * RFC 9440 byte sequence `::`) is `undefined`, anything that does not decode to exactly one
 * certificate is a typed failure.
 */
import { X509Certificate } from 'node:crypto'

export const CERTIFICATE_HEADER_FORMATS = [
  'rfc9440',
  'nginx',
  'apache',
  'iis',
  'envoy',
  'traefik',
  'haproxy',
] as const
export type CertificateHeaderFormat = (typeof CERTIFICATE_HEADER_FORMATS)[number]

/** The header each format is read from unless another name is configured (lower case). */
export const DEFAULT_CERTIFICATE_HEADERS: Readonly<Record<CertificateHeaderFormat, string>> = {
  rfc9440: 'client-cert',
  nginx: 'x-ssl-client-cert',
  apache: 'ssl_client_cert',
  iis: 'x-arr-clientcert',
  envoy: 'x-forwarded-client-cert',
  traefik: 'x-forwarded-tls-client-cert',
  haproxy: 'x-ssl-client-cert',
}

/** Where a forwarded certificate is read from. */
export interface CertificateHeaderSpec {
  readonly format: CertificateHeaderFormat
  /** The header name; {@link DEFAULT_CERTIFICATE_HEADERS} by default. */
  readonly name?: string | undefined
}

/** Why a forwarded certificate was refused. */
export type CertificateHeaderFailure =
  /** The header (or the chain header) is not in the configured format. */
  | 'certificate_header_malformed'
  /** The header decodes, but not to one well-formed X.509 certificate. */
  | 'certificate_unparsable'

export interface ForwardedCertificate {
  readonly certificate: X509Certificate
  /** Intermediates the proxy forwarded (RFC 9440 `Client-Cert-Chain`, Envoy `Chain`, Traefik). */
  readonly chain: readonly X509Certificate[]
}

export type CertificateHeaderResult =
  | ForwardedCertificate
  | { readonly failure: CertificateHeaderFailure; readonly detail: string }

/** Headers as node gives them (names in lower case). */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>

/** Most certificates a header may carry (leaf and chain): more is not a client certificate. */
const MAX_CERTIFICATES = 10

class Malformed extends Error {
  readonly failure: CertificateHeaderFailure
  constructor(detail: string, failure: CertificateHeaderFailure = 'certificate_header_malformed') {
    super(detail)
    this.failure = failure
  }
}

/** RFC 4648 base64 (the standard alphabet), padding optional as RFC 8941 §3.3.5 asks. */
function base64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1 || text.length === 0) {
    throw new Malformed(`${what} is not base64`)
  }
  return Buffer.from(text, 'base64')
}

function urlDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw new Malformed('bad percent-encoding')
  }
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g

/**
 * The DER of each `CERTIFICATE` block of a PEM text. Whitespace inside a block (line breaks,
 * the spaces Apache writes instead, nginx's legacy tabs) is not part of the base64.
 */
function pemBlocks(text: string): Buffer[] {
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) =>
    base64((m[1] as string).replace(/\s+/g, ''), 'the PEM body'),
  )
  if (blocks.length === 0) throw new Malformed('no PEM certificate')
  const rest = text.replace(PEM_BLOCK, '').trim()
  if (rest !== '') throw new Malformed('text outside the PEM certificates')
  return blocks
}

/** Exactly one PEM certificate. */
function onePem(text: string): Buffer {
  const blocks = pemBlocks(text)
  if (blocks.length !== 1) throw new Malformed(`${blocks.length} PEM certificates, expected one`)
  return blocks[0] as Buffer
}

/** Parses DER, refusing trailing bytes: the thumbprint must be of exactly what was sent. */
function parseDer(der: Buffer): X509Certificate {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(der)
  } catch (cause) {
    throw new Malformed(
      `not an X.509 certificate: ${(cause as Error).message}`,
      'certificate_unparsable',
    )
  }
  if (!certificate.raw.equals(der)) {
    throw new Malformed('bytes after the certificate', 'certificate_unparsable')
  }
  return certificate
}

/** RFC 8941 §3.3.5 byte sequence, with any parameters (`;name=value`) ignored. */
function byteSequence(text: string): Buffer {
  const match = /^:([A-Za-z0-9+/=]*):(?:;[a-z*][a-z0-9_.*-]*(?:=[^;]*)?)*$/.exec(text.trim())
  if (!match) throw new Malformed('not a structured-field byte sequence (:base64:)')
  return base64(match[1] as string, 'the byte sequence')
}

/** An RFC 8941 list of byte sequences (RFC 9440 §2.2 `Client-Cert-Chain`). */
function byteSequences(text: string): Buffer[] {
  const items = text.split(',').map((item) => item.trim())
  if (items.length > MAX_CERTIFICATES) throw new Malformed('too many certificates in the chain')
  return items.filter((item) => item !== '').map(byteSequence)
}

/** One element of `x-forwarded-client-cert`: its keys (lower case) and values, in order. */
type XfccElement = [key: string, value: string][]

/**
 * Parses Envoy's `x-forwarded-client-cert`: elements separated by `,`, key-value pairs by `;`,
 * values bare or double-quoted (with `\"` inside), as Envoy writes them.
 */
export function parseXfcc(value: string): XfccElement[] {
  const elements: XfccElement[] = []
  let element: XfccElement = []
  let i = 0
  const n = value.length
  while (i < n) {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++
    const eq = value.indexOf('=', i)
    if (eq === -1) throw new Malformed('x-forwarded-client-cert: a pair without "="')
    const key = value.slice(i, eq).trim().toLowerCase()
    if (!/^[a-z]+$/.test(key)) throw new Malformed('x-forwarded-client-cert: a bad key')
    i = eq + 1
    let text = ''
    if (value[i] === '"') {
      i++
      for (;;) {
        if (i >= n) throw new Malformed('x-forwarded-client-cert: an unterminated quoted value')
        const c = value[i] as string
        if (c === '\\' && i + 1 < n) {
          text += value[i + 1]
          i += 2
        } else if (c === '"') {
          i++
          break
        } else {
          text += c
          i++
        }
      }
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++
    } else {
      const end = value.slice(i).search(/[;,]/)
      text = (end === -1 ? value.slice(i) : value.slice(i, i + end)).trim()
      i = end === -1 ? n : i + end
    }
    element.push([key, text])
    if (i >= n) break
    const separator = value[i]
    if (separator !== ';' && separator !== ',') {
      throw new Malformed('x-forwarded-client-cert: text after a quoted value')
    }
    i++
    if (separator === ',') {
      elements.push(element)
      element = []
    }
  }
  if (element.length > 0) elements.push(element)
  return elements
}

/** The leaf and chain DERs a header value holds, by format. */
function decode(format: CertificateHeaderFormat, value: string): Buffer[] {
  switch (format) {
    case 'rfc9440':
      return [byteSequence(value)]
    case 'nginx':
      return [onePem(urlDecode(value))]
    case 'apache':
      return [onePem(value)]
    case 'iis':
    case 'haproxy':
      return [base64(value.replace(/\s+/g, ''), 'the header')]
    case 'traefik': {
      const items = urlDecode(value).split(',')
      if (items.length > MAX_CERTIFICATES) throw new Malformed('too many certificates')
      return items.map((item) => base64(item.replace(/\s+/g, ''), 'a certificate'))
    }
    case 'envoy': {
      // The last element is the one the nearest proxy added (Envoy appends).
      const element = parseXfcc(value).at(-1) ?? []
      const certs = element.filter(([key]) => key === 'cert')
      if (certs.length !== 1) {
        throw new Malformed(
          `x-forwarded-client-cert: ${certs.length} Cert values in the last element`,
        )
      }
      const leaf = onePem(urlDecode((certs[0] as [string, string])[1]))
      const chain = element.find(([key]) => key === 'chain')
      if (chain === undefined) return [leaf]
      const blocks = pemBlocks(urlDecode(chain[1]))
      if (blocks.length > MAX_CERTIFICATES) throw new Malformed('too many certificates')
      // Envoy's Chain starts with the leaf itself.
      return [leaf, ...blocks.filter((der) => !der.equals(leaf))]
    }
  }
}

/** A header's single value; `undefined` when absent or empty; a list is ambiguous. */
function single(value: string | readonly string[] | undefined): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw new Malformed('the header is repeated')
    return single(value[0])
  }
  const text = (value as string | undefined)?.trim()
  // nginx and HAProxy send an empty value without a certificate; Apache may send "(null)".
  return text === undefined || text === '' || text === '(null)' ? undefined : text
}

/**
 * Decodes one header value in `format` (for `rfc9440`, the `Client-Cert` value; its chain is
 * read by {@link readCertificateHeader}).
 *
 * @returns the certificate and any forwarded chain, a failure, or `undefined` for an empty value.
 */
export function parseCertificateHeader(
  format: CertificateHeaderFormat,
  value: string | readonly string[] | undefined,
): CertificateHeaderResult | undefined {
  try {
    const text = single(value)
    if (text === undefined) return undefined
    // An empty byte sequence: a proxy templating the header for a client without a certificate.
    if (format === 'rfc9440' && text === '::') return undefined
    const [leaf, ...chain] = decode(format, text).map(parseDer)
    return { certificate: leaf as X509Certificate, chain }
  } catch (err) {
    if (err instanceof Malformed) return { failure: err.failure, detail: err.message }
    throw err
  }
}

/** The header name of a spec, lower case. */
export const certificateHeaderName = (spec: CertificateHeaderSpec): string =>
  (spec.name ?? DEFAULT_CERTIFICATE_HEADERS[spec.format]).toLowerCase()

/**
 * Reads the forwarded certificate from a request's headers; for `rfc9440`, also its
 * `<name>-chain` header (RFC 9440 §2.2, `Client-Cert-Chain` by default).
 */
export function readCertificateHeader(
  headers: HeaderBag,
  spec: CertificateHeaderSpec,
): CertificateHeaderResult | undefined {
  const name = certificateHeaderName(spec)
  const result = parseCertificateHeader(spec.format, headers[name])
  if (result === undefined || 'failure' in result || spec.format !== 'rfc9440') return result
  try {
    const text = single(headers[`${name}-chain`])
    if (text === undefined) return result
    return { certificate: result.certificate, chain: byteSequences(text).map(parseDer) }
  } catch (err) {
    if (err instanceof Malformed) return { failure: err.failure, detail: `chain: ${err.message}` }
    throw err
  }
}
