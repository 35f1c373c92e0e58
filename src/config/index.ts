/**
 * @module config
 *
 * The `keybound serve` configuration: its schema (`schema.ts`, the source of
 * `docs/configuration.md`) and its loading (`load.ts`).
 */
export * from './load.js'
export * from './schema.js'
export * from './tls.js'
