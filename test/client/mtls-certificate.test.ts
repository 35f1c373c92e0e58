/**
 * `createClientCertificate`, `mtlsAgent` and `mtlsFetch` of `keybound/client/node` (RFC 8705):
 * what the certificates hold, read back by node's and `@peculiar/x509`'s parsers and by the
 * authorization server's own name matching, and that each one is presented in a real TLS
 * handshake on loopback.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  KeyObject,
  X509Certificate,
} from 'node:crypto'
import { createServer as createHttpsServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import * as x509 from '@peculiar/x509'
import { Agent, Pool } from 'undici'
import { matchTlsClientAuth } from '../../src/bindings/mtls/issue.js'
import { certificateThumbprint } from '../../src/bindings/mtls/thumbprint.js'
import {
  CERTIFICATE_ALGS,
  type CertificateAlg,
  createClientCertificate,
  createMtlsTokenSource,
  mtlsAgent,
  mtlsFetch,
  thumbprintOf,
} from '../../src/client/node.js'
import { createCa, type TestCertificate } from '../helpers/certificates.js'

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const MINUTE = 60_000
const DAY = 86_400_000

/** What each alg makes: node's key type and details, and the certificate's signature. */
const EXPECTED: Record<CertificateAlg, { type: string; detail: object; signature: object }> = {
  ES256: {
    type: 'ec',
    detail: { namedCurve: 'prime256v1' },
    signature: { name: 'ECDSA', hash: { name: 'SHA-256' } },
  },
  ES384: {
    type: 'ec',
    detail: { namedCurve: 'secp384r1' },
    signature: { name: 'ECDSA', hash: { name: 'SHA-384' } },
  },
  ES512: {
    type: 'ec',
    detail: { namedCurve: 'secp521r1' },
    signature: { name: 'ECDSA', hash: { name: 'SHA-512' } },
  },
  RS256: {
    type: 'rsa',
    detail: { modulusLength: 2048, publicExponent: 65537n },
    signature: { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } },
  },
  PS256: {
    type: 'rsa',
    detail: { modulusLength: 2048, publicExponent: 65537n },
    signature: { name: 'RSA-PSS', hash: { name: 'SHA-256' }, saltLength: 32 },
  },
  EdDSA: { type: 'ed25519', detail: {}, signature: { name: 'Ed25519' } },
}

const rejectsWith = async (promise: Promise<unknown>, code: string, message: string | RegExp) =>
  assert.rejects(promise, (err: NodeJS.ErrnoException) => {
    assert.ok(err instanceof TypeError)
    assert.equal(err.code, code)
    if (typeof message === 'string') assert.equal(err.message, message)
    else assert.match(err.message, message)
    return true
  })

describe('createClientCertificate', () => {
  for (const alg of CERTIFICATE_ALGS) {
    test(`${alg}: a self-signed TLS client certificate and its PKCS #8 key`, async () => {
      const before = Date.now()
      const made = await createClientCertificate({ alg, subject: 'CN=client-1', days: 2 })
      const after = Date.now()
      const cert = new X509Certificate(made.cert)
      const key = createPrivateKey(made.key)
      assert.match(made.key, /^-----BEGIN PRIVATE KEY-----\n/)
      assert.equal(made.alg, alg)

      // The key is the certificate's, of the alg's type.
      assert.equal(cert.checkPrivateKey(key), true)
      assert.equal(cert.publicKey.asymmetricKeyType, EXPECTED[alg].type)
      assert.deepEqual(cert.publicKey.asymmetricKeyDetails, EXPECTED[alg].detail)
      assert.deepEqual(made.publicJwk, cert.publicKey.export({ format: 'jwk' }))

      // Self-signed: subject and issuer are the same name, the signature is the key's own.
      assert.equal(cert.subject, 'CN=client-1')
      assert.equal(cert.issuer, 'CN=client-1')
      assert.equal(made.subject, 'CN=client-1')
      assert.equal(cert.verify(cert.publicKey), true)
      const parsed = new x509.X509Certificate(made.cert)
      assert.deepEqual(parsed.signatureAlgorithm, EXPECTED[alg].signature)

      // x5t#S256 (RFC 8705 §3.1): SHA-256 of the DER, base64url; the server's definition too.
      const sha256 = createHash('sha256').update(cert.raw).digest('base64url')
      assert.equal(made.thumbprint, sha256)
      assert.equal(made.thumbprint, certificateThumbprint(cert))
      assert.equal(thumbprintOf(made.cert), sha256)

      // A random positive 16-octet serial number.
      assert.match(made.serialNumber, /^[4-7][0-9a-f]{31}$/)
      assert.equal(cert.serialNumber, made.serialNumber.toUpperCase())

      // Valid from five minutes before it was made, for two days from then, in whole seconds.
      assert.equal(new Date(cert.validFrom).getTime(), made.notBefore.getTime())
      assert.equal(new Date(cert.validTo).getTime(), made.notAfter.getTime())
      assert.equal(made.notAfter.getTime() - made.notBefore.getTime(), 2 * DAY + 5 * MINUTE)
      assert.ok(made.notBefore.getTime() >= Math.floor(before / 1000) * 1000 - 5 * MINUTE)
      assert.ok(made.notBefore.getTime() <= after - 5 * MINUTE)

      // Extensions: not a CA, digitalSignature only (critical), clientAuth.
      assert.equal(cert.ca, false)
      assert.deepEqual([...cert.keyUsage], [CLIENT_AUTH])
      const basic = parsed.getExtension(x509.BasicConstraintsExtension)
      assert.equal(basic?.ca, false)
      assert.equal(basic?.critical, true)
      const usage = parsed.getExtension(x509.KeyUsagesExtension)
      assert.equal(usage?.usages, x509.KeyUsageFlags.digitalSignature)
      assert.equal(usage?.critical, true)
      assert.deepEqual(
        [...(parsed.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
        [CLIENT_AUTH],
      )
      assert.ok(parsed.getExtension(x509.SubjectKeyIdentifierExtension))
    })
  }

  test('defaults: ES256, CN=keybound client, one day; every call a new key and serial', async () => {
    const [a, b] = await Promise.all([createClientCertificate(), createClientCertificate()])
    assert.ok(a && b)
    assert.equal(a.alg, 'ES256')
    assert.equal(new X509Certificate(a.cert).subject, 'CN=keybound client')
    assert.equal(a.notAfter.getTime() - a.notBefore.getTime(), DAY + 5 * MINUTE)
    assert.notEqual(a.serialNumber, b.serialNumber)
    assert.notDeepEqual(a.publicJwk, b.publicJwk)
    assert.notEqual(a.thumbprint, b.thumbprint)
  })

  test('fractions of days', async () => {
    const made = await createClientCertificate({ days: 0.5 })
    assert.equal(made.notAfter.getTime() - made.notBefore.getTime(), DAY / 2 + 5 * MINUTE)
  })

  test('the subject is an RFC 4514 name, most specific first, as tls_client_auth_subject_dn', async () => {
    const subject = 'CN=billing+UID=42,OU=Ops,O=Example\\, Inc.,C=DE,DC=example'
    const made = await createClientCertificate({ subject })
    const cert = new X509Certificate(made.cert)
    // Node prints the certificate (ASN.1) order: least specific first.
    assert.equal(cert.subject, 'DC=example\nC=DE\nO=Example\\, Inc.\nOU=Ops\nCN=billing + UID=42')
    assert.equal(made.subject, subject)
    // The authorization server matches it as the same name.
    assert.equal(await matchTlsClientAuth(cert, { tls_client_auth_subject_dn: subject }), undefined)
    const reordered = await matchTlsClientAuth(cert, {
      tls_client_auth_subject_dn: 'DC=example,C=DE,O=Example\\, Inc.,OU=Ops,CN=billing+UID=42',
    })
    assert.equal(reordered?.failure, 'subject_dn_mismatch')
    // String types: PrintableString where it fits, IA5String for DC, UTF8String otherwise.
    const der = (tag: number, text: string) => {
      const bytes = Buffer.from(text)
      return Buffer.concat([Buffer.from([tag, bytes.length]), bytes])
    }
    const raw = cert.raw
    for (const text of ['billing', '42', 'Ops', 'Example, Inc.', 'DE']) {
      assert.ok(raw.includes(der(0x13, text)), `PrintableString ${text}`)
    }
    assert.ok(raw.includes(der(0x16, 'example')), 'IA5String example')
    const names = new x509.X509Certificate(made.cert).subjectName.toJSON()
    assert.deepEqual(names, [
      { DC: ['example'] },
      { C: ['DE'] },
      { O: ['Example, Inc.'] },
      { OU: ['Ops'] },
      { CN: ['billing'], '0.9.2342.19200300.100.1.1': ['42'] },
    ])
    const unicode = await createClientCertificate({ subject: 'CN=Jürgen \\"J\\" Müller' })
    assert.equal(new X509Certificate(unicode.cert).subject, 'CN=Jürgen \\"J\\" Müller')
    assert.deepEqual(new x509.X509Certificate(unicode.cert).subjectName.toJSON(), [
      { CN: ['Jürgen "J" Müller'] },
    ])
    assert.ok(new X509Certificate(unicode.cert).raw.includes(der(0x0c, 'Jürgen "J" Müller')))
  })

  test('privateKey: a fresh certificate of a key the client has (PEM or KeyObject)', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    const ed = generateKeyPairSync('ed25519').privateKey
    const cases: Array<[string | KeyObject, CertificateAlg | undefined, CertificateAlg]> = [
      [ec, undefined, 'ES384'],
      [ec.export({ type: 'sec1', format: 'pem' }) as string, undefined, 'ES384'],
      [rsa, undefined, 'RS256'],
      [rsa.export({ type: 'pkcs1', format: 'pem' }) as string, 'PS256', 'PS256'],
      [ed, undefined, 'EdDSA'],
    ]
    for (const [privateKey, alg, expected] of cases) {
      const made = await createClientCertificate({ privateKey, ...(alg ? { alg } : {}) })
      const source = privateKey instanceof KeyObject ? privateKey : createPrivateKey(privateKey)
      assert.equal(made.alg, expected)
      assert.equal(new X509Certificate(made.cert).checkPrivateKey(source), true)
      assert.equal(
        createPrivateKey(made.key).export({ type: 'pkcs8', format: 'pem' }),
        source.export({ type: 'pkcs8', format: 'pem' }),
      )
    }
  })

  test('invalid options are refused', async () => {
    const value = 'ERR_INVALID_ARG_VALUE'
    const type = 'ERR_INVALID_ARG_TYPE'
    await rejectsWith(
      createClientCertificate({ subject: '' }),
      value,
      '"subject" must name at least one attribute',
    )
    await rejectsWith(
      createClientCertificate({ subject: 'XX=client' }),
      value,
      '"subject" is not an RFC 4514 name: unknown attribute type "XX"',
    )
    await rejectsWith(
      createClientCertificate({ subject: 'CN=a;b' }),
      value,
      /^"subject" is not an RFC 4514 name: /,
    )
    await rejectsWith(
      createClientCertificate({ subject: 'CN=#0403616263' }),
      value,
      '"subject": hex-encoded (#...) values are not supported',
    )
    await rejectsWith(
      createClientCertificate({ subject: 42 as never }),
      type,
      '"subject" must be a string',
    )
    for (const days of [0, -1, Number.NaN, 3651, '1' as never]) {
      await rejectsWith(
        createClientCertificate({ days }),
        value,
        '"days" must be a number of days above 0, at most 3650',
      )
    }
    await rejectsWith(
      createClientCertificate({ alg: 'HS256' as never }),
      value,
      '"alg" must be one of ES256, ES384, ES512, RS256, PS256, EdDSA',
    )
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await rejectsWith(
      createClientCertificate({ privateKey, alg: 'RS256' }),
      value,
      '"alg" RS256 does not fit the ec "privateKey"',
    )
    await rejectsWith(
      createClientCertificate({ privateKey: publicKey }),
      value,
      '"privateKey" must be a private key',
    )
    await rejectsWith(
      createClientCertificate({ privateKey: generateKeyPairSync('x25519').privateKey }),
      value,
      /^"privateKey" is a x25519 key: use /,
    )
    await rejectsWith(
      createClientCertificate({ privateKey: 'not a key' }),
      value,
      /^"privateKey" is not a private key: /,
    )
  })
})

describe('mtlsAgent and mtlsFetch present the certificate in the TLS handshake', () => {
  let serverCa: TestCertificate
  let server: Server
  let url: string

  before(async () => {
    serverCa = await createCa('CN=agent test CA')
    const serverCert = await serverCa.issue({
      subject: 'CN=localhost',
      ip: ['127.0.0.1'],
      server: true,
    })
    // Answers with the thumbprint of the certificate the client presented, and what it received.
    server = createHttpsServer(
      { cert: serverCert.pem, key: serverCert.key, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const raw = (req.socket as import('node:tls').TLSSocket).getPeerCertificate().raw
        let body = ''
        req.on('data', (chunk: Buffer) => {
          body += chunk
        })
        req.on('end', () => {
          res.setHeader('content-type', 'application/json')
          res.end(
            JSON.stringify({
              thumbprint: raw ? certificateThumbprint(raw) : null,
              method: req.method,
              contentType: req.headers['content-type'] ?? null,
              body,
            }),
          )
        })
      },
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/echo`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  for (const alg of CERTIFICATE_ALGS) {
    test(`${alg}: the server sees the certificate whose thumbprint was returned`, async () => {
      const made = await createClientCertificate({ alg })
      const send = mtlsFetch({ ...made, ca: serverCa.pem })
      try {
        const res = await send(url)
        assert.equal(res.status, 200)
        assert.deepEqual(await res.json(), {
          thumbprint: made.thumbprint,
          method: 'GET',
          contentType: null,
          body: '',
        })
      } finally {
        await send.dispatcher.close()
      }
    })
  }

  test('Request objects, FormData and form bodies reach the server as sent', async () => {
    const made = await createClientCertificate()
    const agent = mtlsAgent({ ...made, ca: serverCa.pem })
    const send = mtlsFetch(agent)
    try {
      assert.equal(send.dispatcher, agent)
      const request = new Request(url, { method: 'PUT', body: 'text' })
      assert.deepEqual(await (await send(request)).json(), {
        thumbprint: made.thumbprint,
        method: 'PUT',
        contentType: 'text/plain;charset=UTF-8',
        body: 'text',
      })
      const form = new FormData()
      form.set('field', 'value')
      const multipart = (await (await send(url, { method: 'POST', body: form })).json()) as {
        contentType: string
        body: string
      }
      assert.match(multipart.contentType, /^multipart\/form-data; boundary=/)
      assert.match(multipart.body, /name="field"\r\n\r\nvalue\r\n/)
      const urlencoded = (await (
        await send(url, { method: 'POST', body: new URLSearchParams({ a: 'b c' }) })
      ).json()) as { contentType: string; body: string }
      assert.equal(urlencoded.contentType, 'application/x-www-form-urlencoded;charset=UTF-8')
      assert.equal(urlencoded.body, 'a=b+c')
      // init.dispatcher cannot take the certificate away.
      const other = new Agent({ connect: { ca: serverCa.pem } })
      const overridden = await send(url, { dispatcher: other } as unknown as RequestInit)
      assert.equal(
        ((await overridden.json()) as { thumbprint: string }).thumbprint,
        made.thumbprint,
      )
      await other.close()
    } finally {
      await agent.close()
    }
  })

  test('Agent options go under agent; other fields of the certificate object are not read', async () => {
    const made = await createClientCertificate()
    const origins: string[] = []
    const agent = mtlsAgent({
      ...made,
      ca: serverCa.pem,
      agent: {
        factory: (origin, options) => {
          origins.push(String(origin))
          return new Pool(origin, options)
        },
      },
    })
    try {
      const answer = (await (await mtlsFetch(agent)(url)).json()) as { thumbprint: string }
      assert.equal(answer.thumbprint, made.thumbprint)
      assert.deepEqual(origins, [new URL(url).origin])
    } finally {
      await agent.close()
    }
  })

  test('a KeyObject key, an encrypted PEM key with its passphrase, a chain in cert', async () => {
    const made = await createClientCertificate()
    const key = createPrivateKey(made.key)
    const encrypted = key.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse',
    }) as string
    const chain = `${made.cert}${serverCa.pem}`
    for (const options of [
      { cert: made.cert, key },
      { cert: made.cert, key: encrypted, passphrase: 'correct horse' },
      { cert: Buffer.from(chain), key: Buffer.from(made.key) },
    ]) {
      const send = mtlsFetch({ ...options, ca: serverCa.pem })
      try {
        const answer = (await (await send(url)).json()) as { thumbprint: string }
        assert.equal(answer.thumbprint, made.thumbprint)
      } finally {
        await send.dispatcher.close()
      }
    }
    assert.equal(thumbprintOf(chain), made.thumbprint)
  })

  test('a server certificate of an untrusted CA fails the request', async () => {
    const send = mtlsFetch(await createClientCertificate())
    try {
      await assert.rejects(send(url), (err: Error & { cause?: { code?: string } }) => {
        assert.equal(err.name, 'TypeError')
        assert.equal(err.cause?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
        return true
      })
    } finally {
      await send.dispatcher.close()
    }
  })
})

describe('option errors, at once', () => {
  test('mtlsAgent: an unreadable certificate or key, a key of another certificate', async () => {
    const a = await createClientCertificate()
    const b = await createClientCertificate()
    const throwsWith = (run: () => unknown, code: string, message: string | RegExp) =>
      assert.throws(run, (err: NodeJS.ErrnoException) => {
        assert.ok(err instanceof TypeError)
        assert.equal(err.code, code)
        if (typeof message === 'string') assert.equal(err.message, message)
        else assert.match(err.message, message)
        return true
      })
    const value = 'ERR_INVALID_ARG_VALUE'
    throwsWith(
      () => mtlsAgent(null as never),
      'ERR_INVALID_ARG_TYPE',
      '"options" must be an object',
    )
    throwsWith(
      () => mtlsAgent({ cert: 42 as never, key: a.key }),
      'ERR_INVALID_ARG_TYPE',
      '"cert" must be a PEM string or buffer',
    )
    throwsWith(
      () => mtlsAgent({ cert: 'no certificate', key: a.key }),
      value,
      /^"cert" is not a PEM certificate: /,
    )
    throwsWith(
      () => mtlsAgent({ cert: a.cert, key: 'no key' }),
      value,
      /^"key" is not a private key: /,
    )
    throwsWith(
      () => mtlsAgent({ cert: a.cert, key: b.key }),
      value,
      '"key" is not the private key of "cert"',
    )
    throwsWith(
      () =>
        mtlsAgent({
          cert: a.cert,
          key: createPrivateKey(a.key).export({
            type: 'pkcs8',
            format: 'pem',
            cipher: 'aes-256-cbc',
            passphrase: 'right',
          }) as string,
          passphrase: 'wrong',
        }),
      value,
      /^"key" is not a private key: /,
    )
  })

  test('createMtlsTokenSource', async () => {
    const certificate = await createClientCertificate()
    const base = {
      issuer: 'https://as.example',
      clientId: 'c',
      grant: 'client_credentials' as const,
      mtls: certificate,
    }
    const cases: Array<[object, string, string]> = [
      [
        { ...base, mtls: undefined },
        'ERR_INVALID_ARG_TYPE',
        '"mtls" must be { cert, key } or { cert, dispatcher }',
      ],
      [
        { ...base, issuer: undefined, tokenEndpoint: 'http://as.example/token' },
        'ERR_INVALID_ARG_VALUE',
        '"tokenEndpoint" must be an https URL: a client certificate is presented over TLS',
      ],
      [
        { ...base, clientAuthentication: 'private_key_jwt' },
        'ERR_INVALID_ARG_VALUE',
        '"clientAuthentication" must be client_secret_basic, client_secret_post, tls_client_auth, self_signed_tls_client_auth or none',
      ],
      [
        { ...base, clientAuthentication: 'client_secret_post' },
        'ERR_INVALID_ARG_VALUE',
        '"client_secret_post" needs "clientSecret"',
      ],
      [
        { ...base, mtls: { cert: certificate.cert, key: (await createClientCertificate()).key } },
        'ERR_INVALID_ARG_VALUE',
        '"key" is not the private key of "cert"',
      ],
      [
        { ...base, tokenEndpoint: 'https://as.example/token' },
        'ERR_INVALID_ARG_VALUE',
        'give "tokenEndpoint" or "issuer", one of them',
      ],
    ]
    for (const [options, code, message] of cases) {
      assert.throws(
        () => createMtlsTokenSource(options as never),
        (err: NodeJS.ErrnoException) => {
          assert.ok(err instanceof TypeError)
          assert.equal(err.code, code)
          assert.equal(err.message, message)
          return true
        },
        message,
      )
    }
  })
})
