/**
 * @module client/mtls/certificate
 *
 * Client certificates made on the fly for mutual TLS (RFC 8705): a key pair (or a key the client
 * already has) and a self-signed certificate of it, as Duende's documentation makes one in .NET.
 * Such a certificate serves for certificate-bound tokens (§3), which need no CA, and for
 * `self_signed_tls_client_auth` (§2.2) when its key is in the client's registered `jwks`.
 *
 * Node only: the certificate is made by `@peculiar/x509` (loaded on first use, after the
 * `reflect-metadata` polyfill it needs) with node's WebCrypto, and checked by node's parser.
 */
import {
  createPrivateKey,
  createPublicKey,
  KeyObject,
  randomBytes,
  webcrypto,
  X509Certificate,
} from 'node:crypto'
import {
  type DistinguishedName,
  DnSyntaxError,
  formatDistinguishedName,
  parseDistinguishedName,
} from '../../bindings/mtls/dn.js'
import { certificateThumbprint } from '../../bindings/mtls/thumbprint.js'
import { loadPeculiar, type Peculiar } from '../../bindings/mtls/x509.js'
import { CodedTypeError } from '../../errors.js'
import type { PublicJwk } from '../../jose/jwk.js'
import { publicJwkOf } from '../../jose/keys.js'

/** The signature algorithms of the certificates, named as JWS algs (RFC 7518 §3.1, RFC 8037). */
export type CertificateAlg = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'PS256' | 'EdDSA'

export interface CreateClientCertificateOptions {
  /**
   * The subject, an RFC 4514 string written most specific first, as `tls_client_auth_subject_dn`
   * is (`CN=billing,O=Example`). Default `CN=keybound client`.
   */
  subject?: string
  /** How many days the certificate is valid from now (default 1; fractions allowed, at most 3650). */
  days?: number
  /**
   * The key type and signature: `ES256` (P-256, the default), `ES384`, `ES512`, `RS256`,
   * `PS256` (RSA 2048 bits) or `EdDSA` (Ed25519). With `privateKey`, the one that fits the key
   * by default (`RS256` for RSA).
   */
  alg?: CertificateAlg
  /**
   * Certify this private key (PEM, or a `KeyObject`) instead of a new one: the key a
   * `self_signed_tls_client_auth` client registered in its `jwks`, so that a fresh certificate
   * can be made of it whenever the last one expires (RFC 8705 §2.2).
   */
  privateKey?: string | KeyObject
}

/** A self-signed client certificate and its key, as {@link createClientCertificate} makes them. */
export interface SelfSignedCertificate {
  /** The certificate, PEM. */
  readonly cert: string
  /** Its private key, PKCS #8 PEM (unencrypted: keep it as secret as a password). */
  readonly key: string
  /** `x5t#S256`: base64url SHA-256 of the certificate's DER, the `cnf` of bound tokens (RFC 8705 §3.1). */
  readonly thumbprint: string
  /** The subject, as an RFC 4514 string. */
  readonly subject: string
  /** The serial number, hexadecimal. */
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
  readonly alg: CertificateAlg
  /** The public key as a JWK: what a `self_signed_tls_client_auth` client registers in `jwks`. */
  readonly publicJwk: PublicJwk
}

interface AlgParams {
  /** How a new key is generated. */
  readonly generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | { name: string }
  /** How an existing key is imported into WebCrypto. */
  readonly import: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | { name: string }
  /** The certificate's signature. */
  readonly sign: webcrypto.EcdsaParams | webcrypto.RsaPssParams | { name: string }
}

const RSA = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }

const ALG_PARAMS: Readonly<Record<CertificateAlg, AlgParams>> = {
  ES256: ecdsa('P-256', 'SHA-256'),
  ES384: ecdsa('P-384', 'SHA-384'),
  ES512: ecdsa('P-521', 'SHA-512'),
  RS256: {
    generate: { name: 'RSASSA-PKCS1-v1_5', ...RSA },
    import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  PS256: {
    generate: { name: 'RSA-PSS', ...RSA },
    import: { name: 'RSA-PSS', hash: 'SHA-256' },
    // RFC 7518 §3.5: a salt as long as the hash.
    sign: { name: 'RSA-PSS', saltLength: 32 },
  },
  EdDSA: { generate: { name: 'Ed25519' }, import: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
}

function ecdsa(namedCurve: string, hash: string): AlgParams {
  return {
    generate: { name: 'ECDSA', namedCurve },
    import: { name: 'ECDSA', namedCurve },
    sign: { name: 'ECDSA', hash },
  }
}

export const CERTIFICATE_ALGS = Object.freeze(Object.keys(ALG_PARAMS)) as readonly CertificateAlg[]

const isCertificateAlg = (alg: unknown): alg is CertificateAlg =>
  typeof alg === 'string' && Object.hasOwn(ALG_PARAMS, alg)

/** The algs that fit a private key, the first being its default. */
function algsForKey(key: KeyObject): readonly CertificateAlg[] {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return (
        (
          {
            prime256v1: ['ES256'],
            secp384r1: ['ES384'],
            secp521r1: ['ES512'],
          } as const satisfies Record<string, readonly CertificateAlg[]>
        )[key.asymmetricKeyDetails?.namedCurve as 'prime256v1'] ?? []
      )
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? ['RS256', 'PS256'] : []
    case 'ed25519':
      return ['EdDSA']
    default:
      return []
  }
}

const DAY = 86_400_000
/** notBefore is set this much before now, so that a verifier whose clock is behind accepts it. */
const BACKDATE = 5 * 60_000
const DEFAULT_SUBJECT = 'CN=keybound client'

/** RFC 5280 §4.1.2.4's PrintableString characters. */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/
/** emailAddress (PKCS #9) and domainComponent (RFC 4519) are IA5Strings. */
const IA5_TYPES = new Set(['1.2.840.113549.1.9.1', '0.9.2342.19200300.100.1.25'])

type SelfSignedParams = Parameters<Peculiar['X509CertificateGenerator']['createSelfSigned']>
type JsonNameParams = ConstructorParameters<Peculiar['Name']>[0] & unknown[]
type JsonStringValue = { ia5String: string } | { printableString: string } | { utf8String: string }

/** A name in `@peculiar/x509`'s JSON form, in certificate (ASN.1) order: least specific first. */
function jsonName(name: DistinguishedName): JsonNameParams {
  return [...name].reverse().map((rdn) => {
    const json: Record<string, JsonStringValue[]> = {}
    for (const { type, value } of rdn) {
      if (value.startsWith('#')) {
        throw new CodedTypeError(
          '"subject": hex-encoded (#...) values are not supported',
          'ERR_INVALID_ARG_VALUE',
        )
      }
      const encoded: JsonStringValue = IA5_TYPES.has(type)
        ? { ia5String: value }
        : PRINTABLE.test(value)
          ? { printableString: value }
          : { utf8String: value }
      json[type] ??= []
      json[type].push(encoded)
    }
    return json
  })
}

function parseSubject(subject: unknown): DistinguishedName {
  if (typeof subject !== 'string') {
    throw new CodedTypeError('"subject" must be a string', 'ERR_INVALID_ARG_TYPE')
  }
  let name: DistinguishedName
  try {
    name = parseDistinguishedName(subject)
  } catch (err) {
    if (!(err instanceof DnSyntaxError)) throw err
    throw new CodedTypeError(
      `"subject" is not an RFC 4514 name: ${err.message}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (name.length === 0) {
    throw new CodedTypeError('"subject" must name at least one attribute', 'ERR_INVALID_ARG_VALUE')
  }
  return name
}

function toPrivateKey(privateKey: string | KeyObject): KeyObject {
  if (privateKey instanceof KeyObject) {
    if (privateKey.type !== 'private') {
      throw new CodedTypeError('"privateKey" must be a private key', 'ERR_INVALID_ARG_VALUE')
    }
    return privateKey
  }
  if (typeof privateKey !== 'string') {
    throw new CodedTypeError(
      '"privateKey" must be a PEM string or a KeyObject',
      'ERR_INVALID_ARG_TYPE',
    )
  }
  try {
    return createPrivateKey(privateKey)
  } catch (err) {
    throw new CodedTypeError(
      `"privateKey" is not a private key: ${(err as Error).message}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
}

/** The key pair to certify, as WebCrypto keys, and its alg. */
async function keyPairFor(
  options: CreateClientCertificateOptions,
): Promise<{ alg: CertificateAlg; keys: webcrypto.CryptoKeyPair }> {
  if (options.alg !== undefined && !isCertificateAlg(options.alg)) {
    throw new CodedTypeError(
      `"alg" must be one of ${CERTIFICATE_ALGS.join(', ')}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (options.privateKey === undefined) {
    const alg = options.alg ?? 'ES256'
    const keys = (await webcrypto.subtle.generateKey(ALG_PARAMS[alg].generate, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair
    return { alg, keys }
  }
  const privateKey = toPrivateKey(options.privateKey)
  const fitting = algsForKey(privateKey)
  const alg = options.alg ?? fitting[0]
  if (alg === undefined || !fitting.includes(alg)) {
    const type = privateKey.asymmetricKeyType ?? 'unknown'
    throw new CodedTypeError(
      alg === undefined
        ? `"privateKey" is a ${type} key: use a P-256, P-384, P-521, RSA (2048 bits or more) or Ed25519 key`
        : `"alg" ${alg} does not fit the ${type} "privateKey"`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
  const params = ALG_PARAMS[alg].import
  const der = (key: KeyObject, type: 'pkcs8' | 'spki') => key.export({ type, format: 'der' })
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', der(privateKey, 'pkcs8'), params, true, [
      'sign',
    ]),
    publicKey: await webcrypto.subtle.importKey(
      'spki',
      der(createPublicKey(privateKey), 'spki'),
      params,
      true,
      ['verify'],
    ),
  }
  return { alg, keys }
}

/** A random positive serial number of 16 octets (RFC 5280 §4.1.2.2: at most 20), hexadecimal. */
function randomSerialNumber(): string {
  const bytes = randomBytes(16)
  // The high bit clear keeps the INTEGER positive; 0x40 set keeps its first octet non-zero, so
  // the DER encoding has no leading zero octet to strip.
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x40
  return bytes.toString('hex')
}

/**
 * Makes a key pair (or takes `privateKey`) and a self-signed certificate of it for TLS client
 * authentication: a random serial number, valid from five minutes ago (for verifiers whose
 * clock is behind) for `days` days, `basicConstraints` CA:false, `keyUsage` digitalSignature
 * (critical), `extendedKeyUsage` clientAuth, and a subject key identifier.
 *
 * Present it with {@link mtlsAgent} or {@link mtlsFetch}: tokens issued over that connection are
 * bound to its `thumbprint` (RFC 8705 §3.1), and only a connection made with the same
 * certificate can use them.
 *
 * @throws {CodedTypeError} for invalid options.
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-2.2
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-3
 */
export async function createClientCertificate(
  options: CreateClientCertificateOptions = {},
): Promise<SelfSignedCertificate> {
  if (typeof options !== 'object' || options === null) {
    throw new CodedTypeError('"options" must be an object', 'ERR_INVALID_ARG_TYPE')
  }
  const subject = parseSubject(options.subject ?? DEFAULT_SUBJECT)
  const days = options.days ?? 1
  if (typeof days !== 'number' || !(days > 0 && days <= 3650)) {
    throw new CodedTypeError(
      '"days" must be a number of days above 0, at most 3650',
      'ERR_INVALID_ARG_VALUE',
    )
  }
  const name = jsonName(subject)
  const { alg, keys } = await keyPairFor(options)
  const x509 = await loadPeculiar()
  // Whole seconds: X.509 times have no fractions, and the dates returned must be the ones written.
  const now = Math.floor(Date.now() / 1000) * 1000
  const notBefore = new Date(now - BACKDATE)
  const notAfter = new Date(now + Math.round((days * DAY) / 1000) * 1000)
  const serialNumber = randomSerialNumber()
  // Node's WebCrypto, passed to every call: nothing is registered in the library's global
  // provider, which other code in the process may have set.
  const crypto = webcrypto as SelfSignedParams[1]
  const params: SelfSignedParams[0] = {
    serialNumber,
    name: new x509.Name(name),
    notBefore,
    notAfter,
    signingAlgorithm: ALG_PARAMS[alg].sign,
    keys: keys as SelfSignedParams[0]['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(
        keys.publicKey as SelfSignedParams[0]['keys']['publicKey'],
        false,
        crypto,
      ),
    ],
  }
  const made = await x509.X509CertificateGenerator.createSelfSigned(params, crypto)
  // A PEM file ends with a line break: the text can be written out, or followed by a chain.
  const cert = `${made.toString('pem').trimEnd()}\n`
  const parsed = new X509Certificate(cert)
  return {
    cert,
    key: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string,
    thumbprint: certificateThumbprint(parsed),
    subject: formatDistinguishedName(subject),
    serialNumber,
    notBefore,
    notAfter,
    alg,
    publicJwk: await publicJwkOf(keys.publicKey),
  }
}
