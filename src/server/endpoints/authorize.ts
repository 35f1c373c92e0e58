/**
 * @module server/endpoints/authorize
 *
 * The authorization endpoint (RFC 6749 §3.1, §4.1.1). GET validates the request and shows the
 * login form; POST receives the login form, then (for clients that are not first-party) the
 * consent form, and redirects back with a code. The request lives in a server-side transaction
 * between the two (see `authorize/transactions.ts`), guarded by a CSRF token (`csrf.ts`).
 *
 * Errors: an unknown client or redirect URI, and a broken form session, get an HTML page and
 * never a redirect (RFC 6749 §4.1.2.1); every other error goes back to the redirect URI.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AccessDeniedError, InvalidRequestError, OAuthError } from '../../errors.js'
import type { ClientRecord } from '../../store/types.js'
import { browserId, checkCsrf } from '../authorize/csrf.js'
import { csp, formActionOf, HEADERS, PageError, queryOf, sendPage } from '../authorize/http.js'
import { Login } from '../authorize/login.js'
import { consentPage, errorPage, loginPage } from '../authorize/pages.js'
import { takePushedRequest } from '../authorize/pushed.js'
import {
  type AuthorizationRequest,
  resolveRedirectUri,
  validateAuthorizationRequest,
} from '../authorize/request.js'
import { codeRedirect, errorRedirect } from '../authorize/response.js'
import { type Transaction, Transactions } from '../authorize/transactions.js'
import { epoch, type ServerContext } from '../context.js'
import { toOAuthError } from '../http/errors.js'
import { formOf } from '../http/form.js'

const START_AGAIN = 'Go back to the application and try again.'

const expired = () =>
  new PageError(
    400,
    'Sign-in expired',
    `This sign-in request is unknown or has expired. ${START_AGAIN}`,
  )

export function authorizeEndpoint(context: ServerContext) {
  const endpoint = context.endpoints.authorization
  const transactions = new Transactions(context.store, context.clients)
  const login = new Login(context.store)

  /** Step 1: the client. An unknown one is never redirected to. */
  async function clientOf(params: Record<string, string>, repeated: Set<string>) {
    const client =
      params.client_id === undefined || repeated.has('client_id')
        ? undefined
        : await context.store.getClient(params.client_id)
    if (!client) {
      throw new PageError(400, 'Unknown application', 'The application is not registered here.')
    }
    return client
  }

  /** Step 2: a pushed request replaces the query; only its parameters count (RFC 9126 §4). */
  async function pushedParams(params: Record<string, string>, client: ClientRecord) {
    const pushed = await takePushedRequest(params.request_uri as string, client, context)
    if (!pushed) {
      throw new PageError(
        400,
        'Request expired',
        `The request_uri is invalid, expired or already used. ${START_AGAIN}`,
      )
    }
    return pushed
  }

  /** Step 3: the redirect URI, exactly as registered. An unregistered one is never redirected to. */
  function redirectUriOf(
    params: Record<string, string>,
    client: ClientRecord,
    repeated: Set<string>,
  ) {
    try {
      if (repeated.has('redirect_uri')) throw new InvalidRequestError('redirect_uri is repeated')
      return resolveRedirectUri(params.redirect_uri, client)
    } catch {
      const uri = params.redirect_uri === undefined ? '' : ` "${params.redirect_uri}"`
      throw new PageError(
        400,
        'Invalid redirect URI',
        `The redirect URI${uri} is missing or not registered for ${client.client_id}.`,
      )
    }
  }

  /** Step 4: everything else, whose errors go back to the redirect URI (RFC 6749 §4.1.2.1). */
  function validate(
    params: Record<string, string>,
    client: ClientRecord,
    redirectUri: string,
    pushed: boolean,
    repeated: Set<string>,
  ): AuthorizationRequest {
    if (!pushed) {
      const name = [...repeated][0]
      if (name !== undefined) throw new InvalidRequestError(`parameter "${name}" is repeated`)
      // RFC 9126 §5 (server-wide) and §6 (per client): only pushed requests are accepted.
      if (
        context.config.par.required ||
        client.metadata.require_pushed_authorization_requests === true
      ) {
        throw new InvalidRequestError('a pushed authorization request (PAR) is required')
      }
    }
    return validateAuthorizationRequest(params, client, redirectUri, context)
  }

  /** Step 5: the login form, for a new transaction bound to this browser. */
  async function showLogin(
    request: FastifyRequest,
    reply: FastifyReply,
    client: ClientRecord,
    authz: AuthorizationRequest,
  ) {
    const browser = browserId(request.headers.cookie, endpoint)
    if (browser.setCookie) reply.header('set-cookie', browser.setCookie)
    const tx = await transactions.create(client, authz, browser.id)
    return sendPage(reply, 200, loginPage(tx, endpoint), formActionOf(authz.redirectUri))
  }

  async function start(request: FastifyRequest, reply: FastifyReply) {
    const { params, repeated } = queryOf(request.url)
    const client = await clientOf(params, repeated)
    const pushed = params.request_uri !== undefined && !repeated.has('request_uri')
    const authzParams = pushed ? await pushedParams(params, client) : params
    const redirectUri = redirectUriOf(authzParams, client, pushed ? new Set() : repeated)
    let authz: AuthorizationRequest
    try {
      authz = validate(authzParams, client, redirectUri, pushed, repeated)
    } catch (err) {
      if (!(err instanceof OAuthError) || err.status >= 500) throw err
      request.log.info(
        { error: err.error, reason: err.reason, detail: err.detail },
        'authorization refused',
      )
      return reply.redirect(errorRedirect(redirectUri, authzParams.state, err, context), 302)
    }
    return showLogin(request, reply, client, authz)
  }

  /** POST step 1: the transaction, posted from the browser that started it, with its CSRF token. */
  async function transactionOf(form: Readonly<Record<string, string>>, request: FastifyRequest) {
    const tx = await transactions.get(form.tx)
    if (!tx) throw expired()
    if (!checkCsrf(tx, form.csrf_token, request.headers.cookie)) {
      throw new PageError(403, 'Request refused', `The form could not be verified. ${START_AGAIN}`)
    }
    return tx
  }

  /**
   * POST step 2: the password. A failure shows the form again (`undefined`); too many, a 429
   * page. Success: the transaction with its user.
   */
  async function logIn(
    tx: Transaction,
    form: Readonly<Record<string, string>>,
    request: FastifyRequest,
    reply: FastifyReply,
  ) {
    const username = form.username ?? ''
    const outcome = await login.attempt(username, form.password ?? '', request.ip)
    if (outcome.status === 'throttled') {
      throw new PageError(
        429,
        'Too many attempts',
        'Too many failed sign-ins. Wait a few minutes and try again.',
        outcome.retryAfter,
      )
    }
    if (outcome.status === 'failed') {
      request.log.info({ client_id: tx.client.client_id }, 'login failed')
      const page = loginPage(tx, endpoint, { message: 'Wrong username or password.', username })
      sendPage(reply, 200, page, formActionOf(tx.request.redirectUri))
      return undefined
    }
    // A new CSRF token for the next form: the login form's one is spent.
    const loggedIn = await transactions.logIn(tx, outcome.sub, epoch())
    if (!loggedIn) throw expired()
    return loggedIn
  }

  async function resume(request: FastifyRequest, reply: FastifyReply) {
    const form = formOf(request.body)
    let tx = await transactionOf(form, request)
    if (!tx.user) {
      const loggedIn = await logIn(tx, form, request, reply)
      if (!loggedIn) return reply
      tx = loggedIn
      // POST step 3: consent, except for first-party clients.
      if (!tx.client.first_party) {
        return sendPage(reply, 200, consentPage(tx, endpoint), formActionOf(tx.request.redirectUri))
      }
    }
    // POST step 4: the transaction ends here, with a code or a refusal. 303, not 302, after a
    // form POST (RFC 9700 §4.12): the browser never re-posts the form to the client.
    const user = tx.user
    if (!user || !(await transactions.end(tx))) throw expired()
    if (tx.client.first_party || form.decision === 'allow') {
      return reply.redirect(await codeRedirect(tx.request, user, context), 303)
    }
    // Consent refused (RFC 6749 §4.1.2.1 access_denied).
    const denied = errorRedirect(
      tx.request.redirectUri,
      tx.request.state,
      new AccessDeniedError(),
      context,
    )
    return reply.redirect(denied, 303)
  }

  return async function plugin(app: FastifyInstance) {
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.headers(HEADERS)
      if (!reply.hasHeader('content-security-policy')) {
        reply.header('content-security-policy', csp("'self'"))
      }
      return payload
    })
    app.setErrorHandler((err, request, reply) => {
      if (err instanceof PageError) {
        request.log.info({ status: err.status, reason: err.heading }, 'authorization page error')
        if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
        return sendPage(reply, err.status, errorPage(err.heading, err.message))
      }
      const oauth = toOAuthError(err)
      if (oauth.status >= 500) request.log.error({ err: oauth.cause ?? err }, 'request failed')
      else request.log.info({ error: oauth.error, detail: oauth.detail }, 'request refused')
      const heading = oauth.status >= 500 ? 'Something went wrong' : 'Request refused'
      return sendPage(reply, oauth.status, errorPage(heading, oauth.error_description))
    })
    // No HEAD route: a HEAD request must not consume a request_uri or start a transaction.
    app.get('/authorize', { exposeHeadRoute: false }, start)
    app.post('/authorize', resume)
  }
}
