/**
 * The issuing side of RFC 8705 on its own: RFC 4514 names, `tls_client_auth` matching of each
 * registered name type (§2.1.2), `self_signed_tls_client_auth` key matching (§2.2), and chain
 * verification of forwarded certificates.
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import fc from 'fast-check'
import { verifyChain } from '../../../src/bindings/mtls/chain.js'
import {
  DnSyntaxError,
  parseDistinguishedName,
  sameDistinguishedName,
} from '../../../src/bindings/mtls/dn.js'
import {
  certificateConfirmation,
  matchesRegisteredKey,
  matchTlsClientAuth,
} from '../../../src/bindings/mtls/issue.js'
import { certificateThumbprint } from '../../../src/bindings/mtls/thumbprint.js'
import { createCa, selfSigned, type TestCertificate } from '../../helpers/certificates.js'

describe('RFC 4514 distinguished names', () => {
  test('parses types by any name, escapes, hex pairs and multi-valued RDNs', () => {
    assert.deepEqual(parseDistinguishedName('CN=Steve Kille,O=Isode Limited,C=GB'), [
      [{ type: '2.5.4.3', value: 'Steve Kille' }],
      [{ type: '2.5.4.10', value: 'Isode Limited' }],
      [{ type: '2.5.4.6', value: 'GB' }],
    ])
    assert.deepEqual(parseDistinguishedName('OU=Sales+CN=J.  Smith,DC=example,DC=net'), [
      [
        { type: '2.5.4.11', value: 'Sales' },
        { type: '2.5.4.3', value: 'J.  Smith' },
      ],
      [{ type: '0.9.2342.19200300.100.1.25', value: 'example' }],
      [{ type: '0.9.2342.19200300.100.1.25', value: 'net' }],
    ])
    // RFC 4514 §4 examples: an escaped comma, a hex-escaped UTF-8 name.
    assert.deepEqual(parseDistinguishedName('CN=L. Eagle,O=Sue\\, Grabbit and Runn,C=GB')[1], [
      { type: '2.5.4.10', value: 'Sue, Grabbit and Runn' },
    ])
    assert.deepEqual(parseDistinguishedName('CN=Lu\\C4\\8Di\\C4\\87'), [
      [{ type: '2.5.4.3', value: 'Lučić' }],
    ])
    assert.deepEqual(parseDistinguishedName('commonName=x, 2.5.4.10=y, oid.2.5.4.6=z'), [
      [{ type: '2.5.4.3', value: 'x' }],
      [{ type: '2.5.4.10', value: 'y' }],
      [{ type: '2.5.4.6', value: 'z' }],
    ])
    assert.deepEqual(parseDistinguishedName('CN=trailing\\ '), [
      [{ type: '2.5.4.3', value: 'trailing ' }],
    ])
  })

  test('refuses what is not a name', () => {
    for (const bad of ['CN', 'CN=a,', 'XX=a', 'CN=a"b', 'CN=a\\', '=a', 'CN=a;O=b']) {
      assert.throws(() => parseDistinguishedName(bad), DnSyntaxError, bad)
    }
  })

  test('any string parses or throws DnSyntaxError, nothing else', () => {
    const unit = fc.constantFrom(...'CNOU=,+\\ #";<>a1.\u00e9'.split(''))
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit })), (text) => {
        try {
          parseDistinguishedName(text)
        } catch (err) {
          assert.ok(err instanceof DnSyntaxError, String(err))
        }
      }),
      { numRuns: 2000 },
    )
  })

  test('compares as names: case, spacing and RDN value order do not matter; RDN order does', () => {
    const a = parseDistinguishedName('CN=Billing Service,O=Example,C=US')
    assert.ok(
      sameDistinguishedName(a, parseDistinguishedName('cn=billing  service, o=EXAMPLE, c=us')),
    )
    assert.ok(
      !sameDistinguishedName(a, parseDistinguishedName('C=US,O=Example,CN=Billing Service')),
    )
    assert.ok(!sameDistinguishedName(a, parseDistinguishedName('CN=Billing Service,O=Example')))
    assert.ok(
      sameDistinguishedName(
        parseDistinguishedName('OU=a+CN=b'),
        parseDistinguishedName('CN=b+OU=a'),
      ),
    )
  })
})

describe('tls_client_auth matching (RFC 8705 §2.1.2)', () => {
  let leaf: TestCertificate
  before(async () => {
    const ca = await createCa()
    // Written in certificate order: the RFC 4514 string is the reverse.
    leaf = await ca.issue({
      subject: 'C=US, O=Example\\, Inc., OU=Payments, CN=billing',
      dns: ['billing.example.com'],
      uri: ['spiffe://example.com/billing'],
      ip: ['10.1.2.3', '2001:db8::7'],
      email: ['billing@Example.COM'],
    })
  })

  const matches = async (metadata: Record<string, string>) =>
    (await matchTlsClientAuth(leaf.x509, metadata))?.failure

  test('subject DN, in RFC 4514 order, compared as a name', async () => {
    assert.equal(
      await matches({
        tls_client_auth_subject_dn: 'CN=billing,OU=Payments,O=Example\\, Inc.,C=US',
      }),
      undefined,
    )
    assert.equal(
      await matches({
        tls_client_auth_subject_dn: 'cn=Billing, ou=payments, o=example\\2c inc., c=us',
      }),
      undefined,
    )
    assert.equal(
      await matches({
        tls_client_auth_subject_dn: 'C=US,O=Example\\, Inc.,OU=Payments,CN=billing',
      }),
      'subject_dn_mismatch',
    )
    assert.equal(
      await matches({ tls_client_auth_subject_dn: 'CN=billing,O=Example\\, Inc.,C=US' }),
      'subject_dn_mismatch',
    )
  })

  test('SAN dNSName, case-insensitive', async () => {
    assert.equal(await matches({ tls_client_auth_san_dns: 'BILLING.example.com' }), undefined)
    assert.equal(
      await matches({ tls_client_auth_san_dns: 'other.example.com' }),
      'san_dns_mismatch',
    )
  })

  test('SAN URI, exact', async () => {
    assert.equal(
      await matches({ tls_client_auth_san_uri: 'spiffe://example.com/billing' }),
      undefined,
    )
    assert.equal(
      await matches({ tls_client_auth_san_uri: 'spiffe://example.com/Billing' }),
      'san_uri_mismatch',
    )
  })

  test('SAN iPAddress, compared as addresses', async () => {
    assert.equal(await matches({ tls_client_auth_san_ip: '10.1.2.3' }), undefined)
    assert.equal(await matches({ tls_client_auth_san_ip: '2001:0DB8:0:0::7' }), undefined)
    assert.equal(await matches({ tls_client_auth_san_ip: '10.1.2.4' }), 'san_ip_mismatch')
  })

  test('SAN rfc822Name: the domain is case-insensitive, the local part is not', async () => {
    assert.equal(await matches({ tls_client_auth_san_email: 'billing@example.com' }), undefined)
    assert.equal(
      await matches({ tls_client_auth_san_email: 'Billing@example.com' }),
      'san_email_mismatch',
    )
  })

  test('a DNS name is not matched against the subject, nor a subject CN against SANs', async () => {
    assert.equal(await matches({ tls_client_auth_san_dns: 'billing' }), 'san_dns_mismatch')
    assert.equal(
      await matches({ tls_client_auth_subject_dn: 'CN=billing.example.com' }),
      'subject_dn_mismatch',
    )
  })

  test('no registered name is a failure', async () => {
    assert.equal(await matches({}), 'no_registered_name')
  })
})

describe('self_signed_tls_client_auth (RFC 8705 §2.2)', () => {
  test('a certificate of a registered key matches; of another key, not', async () => {
    const cert = await selfSigned({ subject: 'CN=me' })
    const other = await selfSigned({ subject: 'CN=other' })
    assert.ok(matchesRegisteredKey(cert.x509, [other.jwk, cert.jwk]))
    assert.ok(!matchesRegisteredKey(cert.x509, [other.jwk]))
  })

  test('a JWK with x5c registers that certificate only', async () => {
    const cert = await selfSigned({ subject: 'CN=me' })
    const withX5c = { ...cert.jwk, x5c: [cert.der.toString('base64')] }
    assert.ok(matchesRegisteredKey(cert.x509, [withX5c]))
    const another = {
      ...cert.jwk,
      x5c: [(await selfSigned({ subject: 'CN=x' })).der.toString('base64')],
    }
    assert.ok(!matchesRegisteredKey(cert.x509, [another]))
  })

  test('encryption keys are skipped', async () => {
    const cert = await selfSigned({ subject: 'CN=me' })
    assert.ok(!matchesRegisteredKey(cert.x509, [{ ...cert.jwk, use: 'enc' }]))
  })

  test('the confirmation is x5t#S256 of the DER (RFC 8705 §3.1)', async () => {
    const cert = await selfSigned({ subject: 'CN=me' })
    assert.deepEqual(certificateConfirmation(cert.x509), {
      'x5t#S256': certificateThumbprint(cert.der),
    })
  })
})

describe('chain verification of forwarded certificates', () => {
  test('issued by the CA, directly or through an intermediate', async () => {
    const ca = await createCa()
    const leaf = await ca.issue({ subject: 'CN=a' })
    assert.equal(verifyChain(leaf.x509, [], [ca.x509]), undefined)
    const intermediate = await ca.issue({ subject: 'CN=intermediate', ca: true })
    const deep = await intermediate.issue({ subject: 'CN=b' })
    assert.equal(verifyChain(deep.x509, [intermediate.x509], [ca.x509]), undefined)
    assert.match(verifyChain(deep.x509, [], [ca.x509]) ?? '', /not issued by a configured CA/)
  })

  test('another CA, a self-signed certificate, no CA at all', async () => {
    const ca = await createCa()
    const other = await createCa('CN=other CA')
    const leaf = await other.issue({ subject: 'CN=a' })
    assert.ok(verifyChain(leaf.x509, [], [ca.x509]))
    assert.ok(verifyChain((await selfSigned({ subject: 'CN=s' })).x509, [], [ca.x509]))
    assert.match(verifyChain(leaf.x509, [], []) ?? '', /no CA certificate/)
  })

  test('an intermediate that is not a CA does not count', async () => {
    const ca = await createCa()
    const notCa = await ca.issue({ subject: 'CN=not a CA' })
    const leaf = await notCa.issue({ subject: 'CN=a' })
    assert.ok(verifyChain(leaf.x509, [notCa.x509], [ca.x509]))
  })

  test('an expired certificate is refused', async () => {
    const ca = await createCa()
    const day = 86_400_000
    const expired = await ca.issue({
      subject: 'CN=old',
      notBefore: new Date(Date.now() - 3 * day),
      notAfter: new Date(Date.now() - day),
    })
    assert.match(verifyChain(expired.x509, [], [ca.x509]) ?? '', /expired/)
  })
})
