// Two instances of the server on one database, as behind a load balancer without sticky
// sessions: each step of the code flow may land on either, since the authorization request in
// progress lives in the store (`authorization_transactions`), not in one process's memory, and
// so do the failed-login counters (`login_failures`).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import * as oauth from 'oauth4webapi'
import { Browser, formAction, hiddenFields, type Page } from '../helpers/browser.js'
import { startServer, type TestServer } from '../helpers/server.js'

const CALLBACK = 'https://web.example/cb'
const SECRET = 'a-high-entropy-secret-0123456789'
const config = {
  clients: [
    {
      client_id: 'web',
      client_secret: SECRET,
      grant_types: ['authorization_code'],
      redirect_uris: [CALLBACK],
      scope: 'read',
    },
  ],
  users: [
    { username: 'alice', password: 'alice-password-1' },
    { username: 'bob', password: 'bob-password-1' },
  ],
}

let a: TestServer
let b: TestServer

before(async () => {
  a = await startServer(config)
  // The same issuer and database: the fleet is one authorization server.
  b = await startServer({ ...config, issuer: a.issuer }, a.database)
})
after(async () => {
  await b.close()
  await a.close()
})

/** The login page of a new sign-in at instance A, with PKCE for `verifier`. */
async function signIn(browser: Browser, verifier = oauth.generateRandomCodeVerifier()) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: 'web',
    redirect_uri: CALLBACK,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'xyz',
  })
  return browser.get(`${a.issuer}/authorize?${query}`)
}

/** Posts the form of `page` with `fields` to instance `to` (not to the shared issuer). */
function submitTo(to: TestServer, browser: Browser, page: Page, fields: Record<string, string>) {
  const { pathname, search } = new URL(formAction(page.html))
  // TestServer.issuer is the instance's own address, whatever issuer it was configured with.
  return browser.post(`${to.issuer}${pathname}${search}`, { ...hiddenFields(page.html), ...fields })
}

test('login on one instance, consent on the other, code redeemed on either', async () => {
  const verifier = oauth.generateRandomCodeVerifier()
  const browser = new Browser()
  const start = await signIn(browser, verifier)
  assert.equal(start.status, 200)

  const consent = await submitTo(b, browser, start, {
    username: 'alice',
    password: 'alice-password-1',
  })
  assert.equal(consent.status, 200, consent.html)
  assert.match(consent.html, /name="decision"/)

  const done = await submitTo(a, browser, consent, { decision: 'allow' })
  assert.equal(done.status, 303, done.html)
  const callback = new URL(done.location as string)
  assert.equal(callback.searchParams.get('state'), 'xyz')
  const code = callback.searchParams.get('code') as string

  // The transaction has ended: the consent form cannot be posted again, on either instance.
  const again = await submitTo(b, browser, consent, { decision: 'allow' })
  assert.equal(again.status, 400)
  assert.match(again.html, /Sign-in expired/)

  const res = await fetch(`${b.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`web:${SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
    }).toString(),
  })
  assert.equal(res.status, 200)
  const body = (await res.json()) as Record<string, unknown>
  assert.equal(body.token_type, 'Bearer')
  assert.equal(body.scope, 'read')
})

test('failed logins count across instances: the sixth attempt is throttled on both', async () => {
  const browser = new Browser()
  let page = await signIn(browser)
  for (let i = 0; i < 5; i++) {
    page = await submitTo(i % 2 === 0 ? a : b, browser, page, {
      username: 'bob',
      password: `wrong-${i}`,
    })
    assert.equal(page.status, 200)
    assert.match(page.html, /Wrong username or password/)
  }
  for (const to of [a, b]) {
    const blocked = await submitTo(to, browser, page, {
      username: 'bob',
      password: 'bob-password-1',
    })
    assert.equal(blocked.status, 429)
    assert.ok(Number(blocked.headers.get('retry-after')) > 0)
  }
})

test('concurrent guesses cannot outrun the throttle: of 10 at once, 5 are checked', async () => {
  const browser = new Browser()
  const page = await signIn(browser)
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      submitTo(i % 2 === 0 ? a : b, browser, page, { username: 'carol', password: `guess-${i}` }),
    ),
  )
  const statuses = answers.map((answer) => answer.status).sort()
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429])
})
