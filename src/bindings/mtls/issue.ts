/**
 * @module bindings/mtls/issue
 *
 * The issuing side of mutual TLS (RFC 8705), what an authorization server does with the
 * client certificate of a token request:
 * - the confirmation of a certificate-bound token, `{ "x5t#S256": ... }` (§3.1);
 * - `tls_client_auth` (§2.1): the certificate matches the one name the client registered,
 *   `tls_client_auth_subject_dn` or one of the `tls_client_auth_san_*` (§2.1.2). That the
 *   certificate chains to a trusted CA is checked by the caller (`chainVerified`);
 * - `self_signed_tls_client_auth` (§2.2): the certificate is one the client registered in its
 *   JWK Set.
 *
 * The certificate's subject and subject alternative names are read with `@peculiar/x509`,
 * loaded on first use (it needs the `reflect-metadata` polyfill, which is loaded with it).
 */
import type { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import type { Confirmation } from '../../store/types.js'
import {
  attributeTypeOid,
  type DistinguishedName,
  formatDistinguishedName,
  parseDistinguishedName,
  sameDistinguishedName,
} from './dn.js'
import { certificateThumbprint } from './thumbprint.js'
import { loadPeculiar } from './x509.js'

/** RFC 8705 §3.1: the confirmation of a token bound to `certificate`. */
export function certificateConfirmation(certificate: X509Certificate): Confirmation {
  return { 'x5t#S256': certificateThumbprint(certificate) }
}

/** RFC 8705 §2.1.2: the client metadata that names a `tls_client_auth` client's certificate. */
export const TLS_CLIENT_AUTH_NAMES = [
  'tls_client_auth_subject_dn',
  'tls_client_auth_san_dns',
  'tls_client_auth_san_uri',
  'tls_client_auth_san_ip',
  'tls_client_auth_san_email',
] as const
export type TlsClientAuthName = (typeof TLS_CLIENT_AUTH_NAMES)[number]

/** Why a certificate does not match the registered name. */
export type TlsClientAuthFailure =
  | 'no_registered_name'
  | 'subject_dn_mismatch'
  | 'san_dns_mismatch'
  | 'san_uri_mismatch'
  | 'san_ip_mismatch'
  | 'san_email_mismatch'

/** What `@peculiar/x509` reads from a certificate. */
interface CertificateNames {
  readonly subject: DistinguishedName
  readonly san: readonly { readonly type: string; readonly value: string }[]
}

/** The subject (in RFC 4514 order) and the subject alternative names of a certificate. */
export async function certificateNames(certificate: X509Certificate): Promise<CertificateNames> {
  const x509 = await loadPeculiar()
  const parsed = new x509.X509Certificate(certificate.raw)
  // `toJSON` lists the RDNs in certificate (ASN.1) order; RFC 4514 strings start from the end.
  const subject = parsed.subjectName
    .toJSON()
    .reverse()
    .map((rdn) =>
      Object.entries(rdn).flatMap(([type, values]) =>
        values.map((value) => ({ type: attributeTypeOid(type) ?? type, value })),
      ),
    )
  const extension = parsed.getExtension(x509.SubjectAlternativeNameExtension)
  const san = (extension?.names.items ?? []).map(({ type, value }) => ({ type, value }))
  return { subject, san }
}

/** An IP address in one spelling per address (IPv6 compressed, RFC 5952), or `undefined`. */
function canonicalIp(address: string): string | undefined {
  const family = isIP(address)
  if (family === 4) return address
  if (family !== 6) return undefined
  try {
    return new URL(`http://[${address}]/`).hostname
  } catch {
    return undefined
  }
}

/** rfc822Name: the domain is case-insensitive, the local part is not. */
function sameEmail(a: string, b: string): boolean {
  const at = (s: string) => s.lastIndexOf('@')
  return (
    a.slice(0, at(a)) === b.slice(0, at(b)) &&
    a.slice(at(a)).toLowerCase() === b.slice(at(b)).toLowerCase()
  )
}

/** The registered name and value of a `tls_client_auth` client (the one set), if any. */
export function registeredName(
  metadata: Readonly<Record<string, unknown>>,
): { name: TlsClientAuthName; value: string } | undefined {
  for (const name of TLS_CLIENT_AUTH_NAMES) {
    const value = metadata[name]
    if (typeof value === 'string' && value !== '') return { name, value }
  }
  return undefined
}

/**
 * RFC 8705 §2.1.2: whether `certificate` matches the client's registered name.
 *
 * @returns `undefined` on a match, else why not, with what the certificate holds (for the log).
 */
export async function matchTlsClientAuth(
  certificate: X509Certificate,
  metadata: Readonly<Record<string, unknown>>,
): Promise<{ failure: TlsClientAuthFailure; detail: string } | undefined> {
  const registered = registeredName(metadata)
  if (!registered) return { failure: 'no_registered_name', detail: 'no tls_client_auth_* name' }
  const names = await certificateNames(certificate)
  const { name, value } = registered
  const sans = (type: string) => names.san.filter((san) => san.type === type).map((s) => s.value)
  const fail = (failure: TlsClientAuthFailure, found: string) => ({
    failure,
    detail: `registered ${name}=${JSON.stringify(value)}, certificate has ${found}`,
  })
  switch (name) {
    case 'tls_client_auth_subject_dn': {
      let expected: DistinguishedName
      try {
        expected = parseDistinguishedName(value)
      } catch (err) {
        return fail('subject_dn_mismatch', `(registered DN unparsable: ${(err as Error).message})`)
      }
      return sameDistinguishedName(expected, names.subject)
        ? undefined
        : fail('subject_dn_mismatch', `subject ${formatDistinguishedName(names.subject)}`)
    }
    case 'tls_client_auth_san_dns': {
      const found = sans('dns')
      return found.some((dns) => dns.toLowerCase() === value.toLowerCase())
        ? undefined
        : fail('san_dns_mismatch', `dNSName ${JSON.stringify(found)}`)
    }
    case 'tls_client_auth_san_uri': {
      const found = sans('url')
      return found.includes(value)
        ? undefined
        : fail('san_uri_mismatch', `uniformResourceIdentifier ${JSON.stringify(found)}`)
    }
    case 'tls_client_auth_san_ip': {
      const found = sans('ip')
      const expected = canonicalIp(value)
      return expected !== undefined && found.some((ip) => canonicalIp(ip) === expected)
        ? undefined
        : fail('san_ip_mismatch', `iPAddress ${JSON.stringify(found)}`)
    }
    case 'tls_client_auth_san_email': {
      const found = sans('email')
      return found.some((email) => sameEmail(email, value))
        ? undefined
        : fail('san_email_mismatch', `rfc822Name ${JSON.stringify(found)}`)
    }
  }
}

/** The members that make up a public key, by `kty` (RFC 7518 §6). */
const KEY_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
}

/** The certificate's public key as JWK members, or `undefined` for a key JWK cannot express. */
function certificateJwk(certificate: X509Certificate): Record<string, unknown> | undefined {
  try {
    return certificate.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/**
 * RFC 8705 §2.2: whether `certificate` is one the client registered in its JWK Set. A JWK with
 * `x5c` registers the certificate `x5c[0]` (RFC 8705 §2.2.2), which must be this very
 * certificate; a JWK without `x5c` registers a public key, and any certificate of that key
 * matches (the TLS handshake proved possession of its private key), so a client may make a
 * fresh self-signed certificate of its registered key whenever it likes. Keys marked
 * `"use": "enc"` are not for authentication and are skipped.
 */
export function matchesRegisteredKey(
  certificate: X509Certificate,
  keys: readonly Readonly<Record<string, unknown>>[],
): boolean {
  let jwk: Record<string, unknown> | undefined | null = null
  for (const key of keys) {
    if (key.use === 'enc') continue
    if (Array.isArray(key.x5c) && key.x5c.length > 0) {
      const first = key.x5c[0]
      if (typeof first === 'string' && Buffer.from(first, 'base64').equals(certificate.raw)) {
        return true
      }
      continue
    }
    if (jwk === null) jwk = certificateJwk(certificate)
    if (jwk === undefined) return false
    const members = typeof key.kty === 'string' ? KEY_MEMBERS[key.kty] : undefined
    if (members && key.kty === jwk.kty && members.every((m) => key[m] === jwk?.[m])) return true
  }
  return false
}
