/**
 * @module bindings/mtls/x509
 *
 * `@peculiar/x509`, loaded on first use: the authorization server reads certificate names with
 * it (`tls_client_auth`, RFC 8705 §2.1.2) and the Node client makes certificates with it. It
 * needs the `reflect-metadata` polyfill for its dependency injection container, loaded first;
 * neither is loaded by anything that does not need certificates (`keybound/resource` never does).
 */
export type Peculiar = typeof import('@peculiar/x509')

let peculiar: Promise<Peculiar> | undefined

export function loadPeculiar(): Promise<Peculiar> {
  peculiar ??= import('reflect-metadata').then(() => import('@peculiar/x509'))
  return peculiar
}
