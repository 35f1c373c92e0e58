/**
 * @module bindings/pop
 *
 * Signed-request PoP tokens, wire-compatible with IdentityServer3 and IdentityModel
 * (draft-ietf-oauth-signed-http-request, draft-ietf-oauth-pop-key-distribution; the byte-level
 * rules are those of `pop-wire-format.md`, see docs/bindings/pop.md).
 */
export * from './canonical.js'
export * from './errors.js'
export * from './issue.js'
export * from './sign.js'
export * from './verify.js'
