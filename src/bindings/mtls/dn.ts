/**
 * @module bindings/mtls/dn
 *
 * Distinguished names as RFC 4514 strings, for `tls_client_auth_subject_dn` (RFC 8705 §2.1.2):
 * the configured string is parsed here (RFC 4514 §3, leniently: spaces around separators are
 * allowed), the certificate's subject comes from `@peculiar/x509` (see `issue.ts`), and both
 * are compared as names, not as text: the same attribute types (by OID, so `CN`, `cn`,
 * `commonName` and `2.5.4.3` are one type), in the same order, with values compared after
 * trimming, collapsing spaces and case folding (RFC 4518's caseIgnoreMatch, roughly).
 */

/** One attribute of a relative distinguished name: its type's OID and its value. */
export interface DnAttribute {
  readonly type: string
  readonly value: string
}

/** A distinguished name in RFC 4514 order: the most specific RDN (e.g. `CN`) first. */
export type DistinguishedName = readonly (readonly DnAttribute[])[]

/**
 * Attribute type names (upper case) and their OIDs: RFC 4514 §3's table, the other names of
 * RFC 4519, and the short names OpenSSL and `@peculiar/x509` print.
 */
const ATTRIBUTE_TYPES: Readonly<Record<string, string>> = {
  CN: '2.5.4.3',
  COMMONNAME: '2.5.4.3',
  L: '2.5.4.7',
  LOCALITYNAME: '2.5.4.7',
  ST: '2.5.4.8',
  STATEORPROVINCENAME: '2.5.4.8',
  O: '2.5.4.10',
  ORGANIZATIONNAME: '2.5.4.10',
  OU: '2.5.4.11',
  ORGANIZATIONALUNITNAME: '2.5.4.11',
  C: '2.5.4.6',
  COUNTRYNAME: '2.5.4.6',
  STREET: '2.5.4.9',
  STREETADDRESS: '2.5.4.9',
  DC: '0.9.2342.19200300.100.1.25',
  DOMAINCOMPONENT: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  USERID: '0.9.2342.19200300.100.1.1',
  SERIALNUMBER: '2.5.4.5',
  SN: '2.5.4.4',
  SURNAME: '2.5.4.4',
  G: '2.5.4.42',
  GN: '2.5.4.42',
  GIVENNAME: '2.5.4.42',
  I: '2.5.4.43',
  INITIALS: '2.5.4.43',
  T: '2.5.4.12',
  TITLE: '2.5.4.12',
  POSTALCODE: '2.5.4.17',
  DNQUALIFIER: '2.5.4.46',
  PSEUDONYM: '2.5.4.65',
  ORGANIZATIONIDENTIFIER: '2.5.4.97',
  E: '1.2.840.113549.1.9.1',
  EMAIL: '1.2.840.113549.1.9.1',
  EMAILADDRESS: '1.2.840.113549.1.9.1',
}

/** The OID of an attribute type name or dotted OID, or `undefined` for an unknown name. */
export function attributeTypeOid(type: string): string | undefined {
  const oid = type.replace(/^oid\./i, '')
  if (/^\d+(\.\d+)+$/.test(oid)) return oid
  return ATTRIBUTE_TYPES[type.toUpperCase()]
}

export class DnSyntaxError extends Error {}

/** The UTF-8 text of `\hh` escape bytes and plain characters. */
function decodeValue(parts: (string | number)[]): string {
  const bytes: number[] = []
  const out: string[] = []
  const flush = () => {
    if (bytes.length === 0) return
    const text = Buffer.from(bytes).toString('utf8')
    if (text.includes('\uFFFD')) throw new DnSyntaxError('an escaped byte sequence is not UTF-8')
    out.push(text)
    bytes.length = 0
  }
  for (const part of parts) {
    if (typeof part === 'number') bytes.push(part)
    else {
      flush()
      out.push(part)
    }
  }
  flush()
  return out.join('')
}

/**
 * Parses an RFC 4514 string (`CN=client,O=Example\, Inc.`), in the order written.
 *
 * @throws {DnSyntaxError} naming what is wrong.
 */
export function parseDistinguishedName(text: string): DistinguishedName {
  const rdns: DnAttribute[][] = []
  if (text.trim() === '') return rdns
  let rdn: DnAttribute[] = []
  let i = 0
  const n = text.length
  const skipSpaces = () => {
    while (i < n && text[i] === ' ') i++
  }
  for (;;) {
    skipSpaces()
    const typeMatch = /^(?:(?:oid\.)?\d+(?:\.\d+)+|[A-Za-z][A-Za-z0-9-]*)/i.exec(text.slice(i))
    if (!typeMatch) throw new DnSyntaxError(`expected an attribute type at offset ${i}`)
    const type = attributeTypeOid(typeMatch[0])
    if (type === undefined) throw new DnSyntaxError(`unknown attribute type "${typeMatch[0]}"`)
    i += typeMatch[0].length
    skipSpaces()
    if (text[i] !== '=') throw new DnSyntaxError(`expected "=" after ${typeMatch[0]}`)
    i++
    skipSpaces()
    let value: string
    if (text[i] === '#') {
      const hex = /^#((?:[0-9A-Fa-f]{2})+)/.exec(text.slice(i))
      if (!hex) throw new DnSyntaxError(`a bad hex value for ${typeMatch[0]}`)
      value = `#${(hex[1] as string).toLowerCase()}`
      i += hex[0].length
      skipSpaces()
    } else {
      const parts: (string | number)[] = []
      // The end of the value without its unescaped trailing spaces.
      let keep = 0
      while (i < n && text[i] !== ',' && text[i] !== '+') {
        const c = text[i] as string
        if (c === '\\') {
          const next = text.slice(i + 1, i + 3)
          if (/^[0-9A-Fa-f]{2}$/.test(next)) {
            parts.push(Number.parseInt(next, 16))
            i += 3
          } else if (i + 1 < n) {
            parts.push(text[i + 1] as string)
            i += 2
          } else throw new DnSyntaxError('a "\\" at the end')
          keep = parts.length
        } else {
          if (c === '"' || c === ';' || c === '<' || c === '>') {
            throw new DnSyntaxError(`"${c}" must be escaped in a value`)
          }
          parts.push(c)
          i++
          if (c !== ' ') keep = parts.length
        }
      }
      value = decodeValue(parts.slice(0, keep))
    }
    rdn.push({ type, value })
    if (i >= n) break
    const separator = text[i]
    if (separator !== ',' && separator !== '+') {
      throw new DnSyntaxError(`expected "," or "+" at offset ${i}`)
    }
    i++
    if (separator === ',') {
      rdns.push(rdn)
      rdn = []
    }
  }
  rdns.push(rdn)
  return rdns
}

/** A value as compared: Unicode-normalized, trimmed, inner spaces collapsed, case-folded. */
const normalized = (value: string) =>
  value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase()

const key = (attribute: DnAttribute) => `${attribute.type}=${normalized(attribute.value)}`

/** Whether two names are the same: same RDNs in the same order, each the same set of values. */
export function sameDistinguishedName(a: DistinguishedName, b: DistinguishedName): boolean {
  if (a.length !== b.length) return false
  return a.every((rdn, index) => {
    const other = b[index] as readonly DnAttribute[]
    if (rdn.length !== other.length) return false
    const left = rdn.map(key).sort()
    const right = other.map(key).sort()
    return left.every((item, i) => item === right[i])
  })
}

/** RFC 4514 §2.4 escaping of a value. */
function escapeValue(value: string): string {
  if (value.startsWith('#') && /^#[0-9a-f]+$/i.test(value)) return value
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
    .replace(/\p{Cc}/gu, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

const NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
}

/** The RFC 4514 string of a name (for logs and error details). */
export function formatDistinguishedName(name: DistinguishedName): string {
  return name
    .map((rdn) => rdn.map((a) => `${NAMES[a.type] ?? a.type}=${escapeValue(a.value)}`).join('+'))
    .join(',')
}
