/**
 * @module client/mtls/agent
 *
 * Presenting a client certificate (RFC 8705): an undici `Agent` whose TLS connections present
 * it, and a `fetch` bound to that agent, for the token endpoint's mutual-TLS alias (§5) and for
 * the APIs that accept certificate-bound tokens (§3).
 *
 * The `fetch` is Node's global one, given the agent as its `dispatcher`. Node's global `fetch` is
 * its own bundled copy of undici (6.x in Node 20, 7.x in Node 24, 8.x in Node 26), and takes a
 * dispatcher of another copy only as long as their dispatcher interfaces agree: undici 7's `Agent`
 * does with all three (tested). undici's own `fetch` cannot be used instead without care: it
 * reads a global `Request` as the text `[object Request]` and sends a global `FormData` body as
 * `[object FormData]`.
 */
import { createPrivateKey, KeyObject, X509Certificate } from 'node:crypto'
import { Agent, type buildConnector, type Dispatcher } from 'undici'
import { certificateThumbprint } from '../../bindings/mtls/thumbprint.js'
import { CodedTypeError } from '../../errors.js'
import type { FetchLike } from '../dpop-fetch.js'

type Pem = string | Uint8Array

export interface MtlsAgentOptions {
  /** The client certificate, PEM; intermediates may follow it, the client's own first. */
  cert: Pem
  /** Its private key: PEM (PKCS #8, SEC 1 or PKCS #1), or a `KeyObject`. */
  key: Pem | KeyObject
  /** The passphrase of an encrypted PEM `key`. */
  passphrase?: string
  /**
   * The CA certificate(s) the server's certificate must chain to, PEM; by default node's
   * bundled root CAs (a public web PKI server).
   */
  ca?: Pem | readonly Pem[]
  /** Other TLS and socket options of the connections (`servername`, `timeout`, ...). */
  connect?: buildConnector.BuildOptions
  /** Other options of the undici `Agent` (`connections`, `keepAliveTimeout`, ...). */
  agent?: Omit<Agent.Options, 'connect'>
}

/** A `fetch` whose requests go through a dispatcher that presents a client certificate. */
export type MtlsFetch = FetchLike & {
  /** The dispatcher: close it (`await fetch.dispatcher.close()`) when done with it. */
  readonly dispatcher: Dispatcher
}

const pemText = (value: Pem): string =>
  typeof value === 'string' ? value : Buffer.from(value).toString('utf8')

/** The client's own certificate: the first of `cert`'s PEM blocks. */
export function leafCertificate(cert: unknown): X509Certificate {
  if (typeof cert !== 'string' && !(cert instanceof Uint8Array)) {
    throw new CodedTypeError('"cert" must be a PEM string or buffer', 'ERR_INVALID_ARG_TYPE')
  }
  try {
    return new X509Certificate(pemText(cert))
  } catch (err) {
    throw new CodedTypeError(
      `"cert" is not a PEM certificate: ${(err as Error).message}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
}

/**
 * `x5t#S256` of a PEM certificate (RFC 8705 §3.1): base64url SHA-256 of its DER, the `cnf` of
 * the tokens bound to it. For a chain, the first certificate's.
 */
export function thumbprintOf(cert: Pem): string {
  return certificateThumbprint(leafCertificate(cert))
}

/** Checks `cert` and `key` before any connection: a mistake here would fail every handshake. */
function checkedKey(options: MtlsAgentOptions, leaf: X509Certificate): Pem {
  const { key, passphrase } = options
  let privateKey: KeyObject
  try {
    privateKey =
      key instanceof KeyObject
        ? key
        : createPrivateKey({
            key: pemText(key),
            ...(passphrase === undefined ? {} : { passphrase }),
          })
  } catch (err) {
    throw new CodedTypeError(
      `"key" is not a private key: ${(err as Error).message}`,
      'ERR_INVALID_ARG_VALUE',
    )
  }
  if (privateKey.type !== 'private') {
    throw new CodedTypeError('"key" must be a private key', 'ERR_INVALID_ARG_VALUE')
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CodedTypeError('"key" is not the private key of "cert"', 'ERR_INVALID_ARG_VALUE')
  }
  // TLS takes PEM: a KeyObject is handed over as unencrypted PKCS #8.
  return key instanceof KeyObject
    ? (privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
    : key
}

/**
 * An undici `Agent` whose TLS connections present the client certificate `cert` (RFC 8705):
 * give it as the `dispatcher` of a `fetch` ({@link mtlsFetch} does), or to undici's
 * `request`/`fetch`. `cert` must parse and `key` must be its private key, or a `TypeError` is
 * thrown at once. Close the agent when done with it.
 *
 * A `SelfSignedCertificate` from `createClientCertificate` can be passed as it is.
 *
 * @throws {CodedTypeError} for an unreadable certificate or key, or a key of another certificate.
 */
export function mtlsAgent(options: MtlsAgentOptions): Agent {
  if (typeof options !== 'object' || options === null) {
    throw new CodedTypeError('"options" must be an object', 'ERR_INVALID_ARG_TYPE')
  }
  const leaf = leafCertificate(options.cert)
  const key = checkedKey(options, leaf)
  // Only the options named here are read: a `createClientCertificate` result, spread with `ca`,
  // brings its other fields along.
  const { cert, passphrase, ca, connect } = options
  return new Agent({
    ...options.agent,
    connect: {
      ...connect,
      cert,
      key,
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(ca === undefined ? {} : { ca: Array.isArray(ca) ? [...ca] : ca }),
    } as buildConnector.BuildOptions,
  })
}

const isDispatcher = (value: unknown): value is Dispatcher =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { dispatch?: unknown }).dispatch === 'function'

/**
 * A `fetch` bound to a dispatcher that presents a client certificate: `dispatcher` itself, or an
 * {@link mtlsAgent} made of `options`. It takes what the global `fetch` takes (a URL, a `Request`,
 * `init`) and returns its `Response`; every request goes through the dispatcher, whatever
 * `init.dispatcher` says. Present a certificate-bound token with it as a bearer token
 * (`Authorization: Bearer`, RFC 8705 §3): the TLS connection is the proof of possession.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-3
 */
export function mtlsFetch(dispatcherOrOptions: Dispatcher | MtlsAgentOptions): MtlsFetch {
  const dispatcher = isDispatcher(dispatcherOrOptions)
    ? dispatcherOrOptions
    : mtlsAgent(dispatcherOrOptions)
  const send = (input: string | URL | Request, init?: RequestInit) =>
    // Node's types describe its bundled undici's dispatcher, not this package's (see above).
    globalThis.fetch(input, { ...init, dispatcher } as unknown as RequestInit)
  return Object.assign(send, { dispatcher })
}
