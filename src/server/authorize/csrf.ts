/**
 * @module server/authorize/csrf
 *
 * Protection of the login and consent forms against cross-site request forgery: a synchronizer
 * token kept in the server-side transaction and sent in the form, and the transaction bound to
 * the browser that started it by a cookie (HttpOnly, SameSite=Lax). A forged POST lacks the
 * token; a form replayed from another browser (login CSRF, RFC 6749 §10.12) lacks the cookie.
 */
import { timingSafeEqual } from 'node:crypto'
import { randomToken, type Transaction } from './transactions.js'

const COOKIE = 'keybound_browser'

/** The browser id from the `Cookie` header, when it holds a well-formed one. */
export function browserIdOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2)
    if (name === COOKIE && value !== undefined && /^[\w-]{43}$/.test(value)) return value
  }
  return undefined
}

/**
 * The browser id to bind a new transaction to: the existing cookie (so that several tabs work
 * side by side), or a new one with its `Set-Cookie` value. The cookie is scoped to the
 * authorization endpoint and sent over https only when the issuer is https.
 */
export function browserId(
  cookieHeader: string | undefined,
  endpoint: string,
): { id: string; setCookie: string | undefined } {
  const existing = browserIdOf(cookieHeader)
  if (existing) return { id: existing, setCookie: undefined }
  const id = randomToken()
  const url = new URL(endpoint)
  const secure = url.protocol === 'https:' ? '; Secure' : ''
  return {
    id,
    setCookie: `${COOKIE}=${id}; Path=${url.pathname}; HttpOnly; SameSite=Lax${secure}`,
  }
}

const same = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/** Whether a form submission carries the transaction's CSRF token, from its browser. */
export function checkCsrf(
  tx: Transaction,
  token: string | undefined,
  cookieHeader: string | undefined,
): boolean {
  const browser = browserIdOf(cookieHeader)
  return (
    token !== undefined &&
    browser !== undefined &&
    same(token, tx.csrf) &&
    same(browser, tx.browser)
  )
}
