/**
 * Forwarded client certificates in every proxy format, from one fixed certificate (made once
 * with openssl): each decodes to the same certificate, whose `x5t#S256` is the SHA-256 of its DER
 * (RFC 8705 §3.1) as openssl computed it, whatever the header text looked like.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  CERTIFICATE_HEADER_FORMATS,
  type CertificateHeaderFormat,
  DEFAULT_CERTIFICATE_HEADERS,
  parseCertificateHeader,
  parseXfcc,
  readCertificateHeader,
} from '../../../src/bindings/mtls/certificate-header.js'
import { certificateThumbprint } from '../../../src/bindings/mtls/thumbprint.js'
import { createCa } from '../../helpers/certificates.js'

/** `openssl req -x509 -newkey ec -subj "/O=keybound tests/CN=fixed client"`. */
const FIXED_PEM = `-----BEGIN CERTIFICATE-----
MIIB0TCCAXigAwIBAgIUM7oOnuIaQaehch2ZNLfxAsv3y78wCgYIKoZIzj0EAwIw
MDEXMBUGA1UECgwOa2V5Ym91bmQgdGVzdHMxFTATBgNVBAMMDGZpeGVkIGNsaWVu
dDAgFw0yNjExMjMwMDQ1NDdaGA8yMTI2MTAzMDAwNDU0N1owMDEXMBUGA1UECgwO
a2V5Ym91bmQgdGVzdHMxFTATBgNVBAMMDGZpeGVkIGNsaWVudDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABJksgXYRnm9QmJr3ucLjY8rA3PGXo0E0sBiLFJPHxcXU
NTsHiqj8DmRb2DfSFpe7Z42IPkxeXpIIRXrGxY6JULSjbjBsMB0GA1UdDgQWBBRf
UARCcbvcdTjpwaeduZDcF6eCJTAfBgNVHSMEGDAWgBRfUARCcbvcdTjpwaeduZDc
F6eCJTAPBgNVHRMBAf8EBTADAQH/MBkGA1UdEQQSMBCCDmNsaWVudC5leGFtcGxl
MAoGCCqGSM49BAMCA0cAMEQCIE53w2ikhIqNIY1CpY3jJsnAxyyQ9JEL+r3IwDRk
V4OlAiAAm5/7yBu/7oUr8h4iirlSGTJU/7MVVhZCjAhMPydR/Q==
-----END CERTIFICATE-----
`
/**
 * `openssl x509 -in fixed.pem -outform DER | openssl dgst -sha256 -binary | openssl base64 -A
 * | tr '+/' '-_' | tr -d '='`: RFC 8705 §3.1, computed by another implementation.
 */
const FIXED_X5T = 'vrzT4wRtHokkmTt99IfGkvh3bi8dShI5UXrbTN8RAI8'

const body = FIXED_PEM.replace(/-----[A-Z ]+-----|\s/g, '')
const der = Buffer.from(body, 'base64')

/** The header value each proxy writes for the fixed certificate. */
const HEADER_VALUES: Readonly<Record<CertificateHeaderFormat, string>> = {
  // RFC 9440 §2.1: an sf-binary.
  rfc9440: `:${body}:`,
  // nginx $ssl_client_escaped_cert: the PEM, URL-encoded.
  nginx: encodeURIComponent(FIXED_PEM),
  // Apache mod_headers with %{SSL_CLIENT_CERT}s: the line breaks become spaces.
  apache: FIXED_PEM.trim().replace(/\n/g, ' '),
  // IIS/ARR X-ARR-ClientCert: base64 DER.
  iis: body,
  // Envoy XFCC with the certificate details, as Envoy writes them.
  envoy: `By=spiffe://cluster.local/ns/default/sa/keybound;Hash=${der.toString('hex')};Cert="${encodeURIComponent(FIXED_PEM)}";Subject="CN=fixed client,O=keybound tests";URI=;DNS=client.example`,
  // Traefik passTLSClientCert pem: URL-escaped base64 DER without armour or line breaks.
  traefik: encodeURIComponent(body),
  // HAProxy %[ssl_c_der,base64].
  haproxy: body,
}

describe('forwarded certificates, each format', () => {
  test('the fixed certificate’s x5t#S256 is the SHA-256 of its DER (RFC 8705 §3.1)', () => {
    assert.equal(certificateThumbprint(der), FIXED_X5T)
  })

  for (const format of CERTIFICATE_HEADER_FORMATS) {
    test(`${format}: decodes to the certificate, thumbprint over the DER`, () => {
      const result = parseCertificateHeader(format, HEADER_VALUES[format])
      assert.ok(result && !('failure' in result), JSON.stringify(result))
      assert.ok(result.certificate.raw.equals(der))
      assert.equal(certificateThumbprint(result.certificate), FIXED_X5T)
      assert.deepEqual(result.chain, [])
    })

    test(`${format}: read from its default header`, () => {
      const headers = { [DEFAULT_CERTIFICATE_HEADERS[format]]: HEADER_VALUES[format] }
      const result = readCertificateHeader(headers, { format })
      assert.ok(result && !('failure' in result))
      assert.equal(certificateThumbprint(result.certificate), FIXED_X5T)
    })

    test(`${format}: absent, empty or "(null)" is no certificate`, () => {
      assert.equal(parseCertificateHeader(format, undefined), undefined)
      assert.equal(parseCertificateHeader(format, ''), undefined)
      assert.equal(parseCertificateHeader(format, '  '), undefined)
      assert.equal(parseCertificateHeader(format, '(null)'), undefined)
      if (format === 'rfc9440') assert.equal(parseCertificateHeader(format, '::'), undefined)
    })

    test(`${format}: garbage is a typed failure, never an exception`, () => {
      const values = ['x', '%zz', 'Cert="x"', '-----BEGIN CERTIFICATE-----', 'AAAA', ':AAAA:']
      for (const value of format === 'rfc9440' ? values : [...values, '::']) {
        const result = parseCertificateHeader(format, value)
        assert.ok(result && 'failure' in result, `${format} ${value}: ${JSON.stringify(result)}`)
        assert.match(result.failure, /^certificate_(header_malformed|unparsable)$/)
      }
    })
  }

  test('a header name can be configured', () => {
    const result = readCertificateHeader(
      { 'x-client-cert': HEADER_VALUES.haproxy },
      { format: 'haproxy', name: 'X-Client-Cert' },
    )
    assert.ok(result && !('failure' in result))
  })

  test('bytes after the DER are refused: the thumbprint must be of what was sent', () => {
    const padded = Buffer.concat([der, Buffer.from([0, 0, 0])]).toString('base64')
    const result = parseCertificateHeader('haproxy', padded)
    assert.deepEqual(result && 'failure' in result && result.failure, 'certificate_unparsable')
  })

  test('two PEM certificates where one is expected are refused', () => {
    const result = parseCertificateHeader('apache', `${FIXED_PEM}${FIXED_PEM}`)
    assert.ok(result && 'failure' in result)
    assert.match(result.detail, /2 PEM certificates/)
  })

  test('a repeated header is ambiguous and refused', () => {
    const result = parseCertificateHeader('iis', [body, body])
    assert.ok(result && 'failure' in result)
  })

  test('base64 outside the alphabet is refused (node would skip the characters)', () => {
    const result = parseCertificateHeader('haproxy', `${body.slice(0, 20)}!${body.slice(20)}`)
    assert.ok(result && 'failure' in result)
  })

  test('RFC 9440: parameters are ignored; a bare token is not a byte sequence', () => {
    const result = parseCertificateHeader('rfc9440', `:${body}:;foo=1`)
    assert.ok(result && !('failure' in result))
    const bare = parseCertificateHeader('rfc9440', body)
    assert.ok(bare && 'failure' in bare)
  })

  test('nginx’s legacy $ssl_client_cert (tab-indented PEM lines) decodes too', () => {
    const legacy = FIXED_PEM.trim().replace(/\n/g, '\n\t')
    const result = parseCertificateHeader('apache', legacy)
    assert.ok(result && !('failure' in result))
  })
})

describe('x-forwarded-client-cert (Envoy)', () => {
  test('quoted values hold , ; = and escaped quotes', () => {
    const elements = parseXfcc(
      'By=a;Subject="CN=x, O=\\"y\\";z=1";URI=spiffe://a,By=b;Hash=0;Cert="c"',
    )
    assert.deepEqual(elements, [
      [
        ['by', 'a'],
        ['subject', 'CN=x, O="y";z=1'],
        ['uri', 'spiffe://a'],
      ],
      [
        ['by', 'b'],
        ['hash', '0'],
        ['cert', 'c'],
      ],
    ])
  })

  test('the certificate of the last element, the one the nearest proxy added, is used', async () => {
    const ca = await createCa()
    const other = await ca.issue({ subject: 'CN=other' })
    const value = `By=far;Cert="${encodeURIComponent(other.pem)}",${HEADER_VALUES.envoy}`
    const result = parseCertificateHeader('envoy', value)
    assert.ok(result && !('failure' in result))
    assert.equal(certificateThumbprint(result.certificate), FIXED_X5T)
  })

  test('a last element without Cert is refused, not answered with an older element', () => {
    const value = `${HEADER_VALUES.envoy},By=near;Hash=00`
    const result = parseCertificateHeader('envoy', value)
    assert.ok(result && 'failure' in result)
  })

  test('Chain= gives the intermediates (Envoy starts it with the leaf)', async () => {
    const ca = await createCa()
    const intermediate = await ca.issue({ subject: 'CN=intermediate', ca: true })
    const leaf = await intermediate.issue({ subject: 'CN=leaf' })
    const value = `Cert="${encodeURIComponent(leaf.pem)}";Chain="${encodeURIComponent(leaf.pem + intermediate.pem)}"`
    const result = parseCertificateHeader('envoy', value)
    assert.ok(result && !('failure' in result))
    assert.ok(result.certificate.raw.equals(leaf.der))
    assert.deepEqual(
      result.chain.map((c) => c.raw.toString('base64')),
      [intermediate.der.toString('base64')],
    )
  })
})

describe('RFC 9440 Client-Cert-Chain and Traefik chains', () => {
  test('Client-Cert-Chain is read from <name>-chain', async () => {
    const ca = await createCa()
    const intermediate = await ca.issue({ subject: 'CN=intermediate', ca: true })
    const leaf = await intermediate.issue({ subject: 'CN=leaf' })
    const result = readCertificateHeader(
      {
        'client-cert': `:${leaf.der.toString('base64')}:`,
        'client-cert-chain': `:${intermediate.der.toString('base64')}:, :${ca.der.toString('base64')}:`,
      },
      { format: 'rfc9440' },
    )
    assert.ok(result && !('failure' in result))
    assert.equal(result.chain.length, 2)
    assert.ok(result.chain[0]?.raw.equals(intermediate.der))
  })

  test('a malformed chain is a failure', () => {
    const result = readCertificateHeader(
      { 'client-cert': `:${body}:`, 'client-cert-chain': 'nope' },
      { format: 'rfc9440' },
    )
    assert.ok(result && 'failure' in result)
    assert.match(result.detail, /^chain: /)
  })

  test('Traefik: comma-separated certificates, the first is the leaf', async () => {
    const ca = await createCa()
    const value = [body, ca.der.toString('base64')].map(encodeURIComponent).join(',')
    const result = parseCertificateHeader('traefik', value)
    assert.ok(result && !('failure' in result))
    assert.equal(certificateThumbprint(result.certificate), FIXED_X5T)
    assert.equal(result.chain.length, 1)
  })
})

describe('never an exception, whatever the header holds', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: fc.constantFrom(...':;,="\\ %+/=-ABCDEFabcdef0123456789'.split('')) }),
    fc
      .constantFrom(body, encodeURIComponent(FIXED_PEM), FIXED_PEM)
      .chain((valid) =>
        fc
          .tuple(fc.nat(valid.length), fc.string({ maxLength: 4 }))
          .map(([at, insert]) => valid.slice(0, at) + insert + valid.slice(at + 1)),
      ),
  )

  test('every format answers a certificate, a typed failure or nothing', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CERTIFICATE_HEADER_FORMATS), text, (format, value) => {
        const result = parseCertificateHeader(format, value)
        if (result !== undefined && 'failure' in result) {
          assert.match(result.failure, /^certificate_(header_malformed|unparsable)$/)
        } else if (result !== undefined) {
          assert.equal(typeof certificateThumbprint(result.certificate), 'string')
        }
      }),
      { numRuns: 2000 },
    )
  })
})
