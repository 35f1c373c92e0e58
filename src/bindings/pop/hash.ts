/**
 * @module bindings/pop/hash
 *
 * The one primitive of the signed-request rules that differs between the two sides:
 * base64url-nopad(SHA-256(bytes)) (wire format §2.3 `b`, §2.4 step 5, §2.5 step 5).
 *
 * - {@link sha256Sync}: `node:crypto`, synchronous, for the verifier (a resource server's hot
 *   path). `node:crypto` is looked up at run time (`process.getBuiltinModule`, as `jose/keys`
 *   does), never imported statically, so this module bundles for browsers.
 * - {@link sha256}: WebCrypto (`crypto.subtle.digest`), for the signer, which runs in browsers.
 *
 * What is hashed (the `?` replacement, the sorting, the `q`/`h` strings) is `canonical.ts`'s.
 */
import { base64url } from 'jose'

/** `node:crypto` in Node (and runtimes that provide it), `undefined` in a browser. */
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as typeof import('node:crypto') | undefined

/**
 * base64url-nopad(SHA-256(`bytes`)), synchronously with `node:crypto`.
 *
 * @throws {Error} where `node:crypto` is absent (a browser): use {@link sha256}.
 */
export function sha256Sync(bytes: Uint8Array): string {
  if (nodeCrypto === undefined) {
    throw new Error('synchronous SHA-256 needs node:crypto; in a browser, sign with the async API')
  }
  return nodeCrypto.hash('sha256', bytes, 'base64url')
}

/** base64url-nopad(SHA-256(`bytes`)) with WebCrypto: runs in browsers and in Node. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)))
}
