/**
 * Throw-away certificates made in the test run with `@peculiar/x509` and WebCrypto (ECDSA
 * P-256): a CA, certificates it issues (any subject, SANs, validity, intermediates) and
 * self-signed ones, each with its PEM, its private key's PEM and node's `X509Certificate`.
 */
import 'reflect-metadata'
import { KeyObject, webcrypto, X509Certificate } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as never)

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY = 86_400_000

export interface TestCertificate {
  /** The certificate, PEM. */
  readonly pem: string
  /** Its private key, PKCS #8 PEM. */
  readonly key: string
  readonly x509: X509Certificate
  readonly der: Buffer
  /** The public key as a JWK (no `x5c`). */
  readonly jwk: Record<string, unknown>
  /** For a CA: issues a certificate. */
  issue(options: IssueOptions): Promise<TestCertificate>
  /** Another self-signed certificate of the same key pair. */
  resign(options: IssueOptions): Promise<TestCertificate>
}

export interface IssueOptions {
  /** RFC 4514 order is *not* used here: `@peculiar/x509` writes RDNs in the order given. */
  readonly subject: string
  readonly dns?: readonly string[]
  readonly uri?: readonly string[]
  readonly ip?: readonly string[]
  readonly email?: readonly string[]
  /** Make it a CA (an intermediate, when issued). */
  readonly ca?: boolean
  /** `serverAuth` instead of `clientAuth`. */
  readonly server?: boolean
  readonly notBefore?: Date
  readonly notAfter?: Date
}

let serial = 1

function sanExtension(options: IssueOptions): x509.Extension[] {
  const names: x509.JsonGeneralName[] = [
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.uri ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(options.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.email ?? []).map((value) => ({ type: 'email' as const, value })),
  ]
  return names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []
}

async function extensionsOf(
  options: IssueOptions,
  publicKey: CryptoKey,
): Promise<x509.Extension[]> {
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ...sanExtension(options),
  ]
  if (options.ca) {
    extensions.push(
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    )
  } else {
    extensions.push(
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        options.server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
    )
  }
  return extensions
}

async function wrap(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<TestCertificate> {
  const pem = cert.toString('pem')
  const node = new X509Certificate(pem)
  const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string
  const jwk = node.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  return {
    pem,
    key,
    x509: node,
    der: node.raw,
    jwk,
    async issue(options) {
      const pair = (await webcrypto.subtle.generateKey(ALG, true, [
        'sign',
        'verify',
      ])) as CryptoKeyPair
      const now = Date.now()
      const issued = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: options.subject,
        issuer: cert.subject,
        notBefore: options.notBefore ?? new Date(now - DAY),
        notAfter: options.notAfter ?? new Date(now + DAY),
        signingAlgorithm: ALG,
        publicKey: pair.publicKey,
        signingKey: keys.privateKey,
        extensions: [
          ...(await extensionsOf(options, pair.publicKey)),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ],
      })
      return wrap(issued, pair)
    },
    resign: (options) => selfSigned(options, keys),
  }
}

/** A self-signed certificate (of a new key pair unless given); with `ca: true`, a root CA. */
export async function selfSigned(
  options: IssueOptions,
  keys?: CryptoKeyPair,
): Promise<TestCertificate> {
  const pair =
    keys ?? ((await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair)
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: options.subject,
    notBefore: options.notBefore ?? new Date(now - DAY),
    notAfter: options.notAfter ?? new Date(now + DAY),
    signingAlgorithm: ALG,
    keys: pair,
    extensions: await extensionsOf(options, pair.publicKey),
  })
  return wrap(cert, pair)
}

/** A root CA. */
export const createCa = (subject = 'CN=keybound test CA') => selfSigned({ subject, ca: true })

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}
