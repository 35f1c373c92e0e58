/**
 * @module server/authorize/pages
 *
 * The HTML of the authorization endpoint: the login form, the consent form and error pages.
 * Every value that comes from a request or a client's metadata is HTML-escaped; the pages run
 * no script, and their inline style is the only thing the Content-Security-Policy allows.
 */
import type { ClientRecord } from '../../store/types.js'
import type { Transaction } from './transactions.js'

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for an HTML element or a double-quoted attribute. */
export const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a00}code{word-break:break-all}`

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`
}

const clientName = (client: ClientRecord) => escapeHtml(client.client_name ?? client.client_id)

/** The hidden fields every form posts back: the transaction and its CSRF token. */
const hidden = (tx: Transaction) =>
  `<input type="hidden" name="tx" value="${escapeHtml(tx.id)}">` +
  `<input type="hidden" name="csrf_token" value="${escapeHtml(tx.csrf)}">`

export function loginPage(
  tx: Transaction,
  action: string,
  failure?: { message: string; username: string },
): string {
  const error = failure ? `<p class="error" role="alert">${escapeHtml(failure.message)}</p>` : ''
  const username = failure ? ` value="${escapeHtml(failure.username)}"` : ''
  return layout(
    'Sign in',
    `<h1>Sign in</h1><p>to continue to <strong>${clientName(tx.client)}</strong></p>${error}
<form method="post" action="${escapeHtml(action)}">${hidden(tx)}
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required autofocus${username}>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>`,
  )
}

export function consentPage(tx: Transaction, action: string): string {
  const scopes = tx.request.scope.split(' ').filter(Boolean)
  const list =
    scopes.length === 0
      ? '<p>No specific permission is requested.</p>'
      : `<p>It asks for:</p><ul>${scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>`
  return layout(
    'Allow access?',
    `<h1>Allow access?</h1><p><strong>${clientName(tx.client)}</strong> wants to access your account as <strong>${escapeHtml(tx.user?.sub ?? '')}</strong>.</p>${list}
<form method="post" action="${escapeHtml(action)}">${hidden(tx)}
<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button></form>`,
  )
}

export function errorPage(heading: string, message: string): string {
  return layout(heading, `<h1>${escapeHtml(heading)}</h1><p>${escapeHtml(message)}</p>`)
}
