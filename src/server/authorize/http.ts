/**
 * @module server/authorize/http
 *
 * The HTTP side of the authorization endpoint's pages: the headers every answer carries, the
 * Content-Security-Policy, the error that becomes a page, and the query string.
 */
import type { FastifyReply } from 'fastify'

/** Headers of every answer: no caching, no framing (clickjacking, RFC 6749 §10.13), no referrer. */
export const HEADERS = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
}

export const csp = (formAction: string) =>
  `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; ` +
  "frame-ancestors 'none'; base-uri 'none'"

/**
 * Browsers apply `form-action` to the redirect that follows a form submission too, so a page
 * whose form ends in a redirect to the client also allows the redirect URI's origin (or, for a
 * private-use scheme, RFC 8252 §7.1, its scheme). An origin that is not plainly
 * `scheme://host[:port]` (a `;` is valid in a URL host) is left out rather than risk changing
 * the policy.
 */
export function formActionOf(redirectUri: string): string {
  const url = new URL(redirectUri)
  const source = url.origin === 'null' ? url.protocol : url.origin
  return /^[a-z][a-z\d+.-]*:(\/\/[\w.-]+(:\d+)?|\/\/\[[\da-f:.]+\](:\d+)?)?$/i.test(source)
    ? `'self' ${source}`
    : "'self'"
}

/** A page shown instead of a redirect: the client or redirect URI is not trusted, or the form is. */
export class PageError extends Error {
  readonly status: number
  readonly heading: string
  readonly retryAfter: number | undefined
  constructor(status: number, heading: string, message: string, retryAfter?: number) {
    super(message)
    this.status = status
    this.heading = heading
    this.retryAfter = retryAfter
  }
}

/** Sends an HTML page with its policy; `formAction` for pages whose form leads to the client. */
export function sendPage(reply: FastifyReply, status: number, html: string, formAction = "'self'") {
  return reply
    .status(status)
    .header('content-security-policy', csp(formAction))
    .type('text/html; charset=utf-8')
    .send(html)
}

/**
 * The query parameters; empty ones are omitted (RFC 6749 §3.1), and those given more than once
 * are named (§3.1: "MUST NOT be included more than once").
 */
export function queryOf(url: string): { params: Record<string, string>; repeated: Set<string> } {
  const params: Record<string, string> = Object.create(null)
  const repeated = new Set<string>()
  const at = url.indexOf('?')
  for (const [name, value] of new URLSearchParams(at === -1 ? '' : url.slice(at + 1))) {
    if (value === '') continue
    if (name in params) repeated.add(name)
    else params[name] = value
  }
  return { params, repeated }
}
