/**
 * @module resource/gateway
 *
 * `keybound gateway`: a reverse proxy that verifies every request (`createVerifier`) and
 * forwards it to an upstream with the verified identity in headers, and a forward-auth endpoint
 * for nginx, Traefik and Caddy. See docs/resource/gateway.md.
 */
export {
  DEFAULT_IDENTITY_HEADERS,
  GATEWAY_MODES,
  type GatewayConfig,
  type GatewayConfigInput,
  type GatewayMode,
  type GatewayOverrides,
  gatewayConfigSchema,
  loadGatewayConfig,
  parseGatewayConfig,
} from './config.js'
export { createLogger, type GatewayLogger, type LogLevel } from './log.js'
export { createGateway, type Gateway, type GatewayOptions } from './server.js'
