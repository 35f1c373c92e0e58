/**
 * A minimal browser for the authorization endpoint: it keeps cookies, reads the forms of the
 * HTML pages (hidden fields, action) and posts them back as a user would, and never follows a
 * redirect, so that tests see the `Location` the client would receive.
 */

export interface Page {
  status: number
  headers: Headers
  html: string
  /** The `Location` of a redirect. */
  location: string | undefined
}

const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
}
const decodeEntities = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] as string)

/** The hidden fields of the page's form. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[decodeEntities(match[1] as string)] = decodeEntities(match[2] as string)
  }
  return fields
}

/** The `action` of the page's form. */
export function formAction(html: string): string {
  const match = /<form method="post" action="([^"]+)">/.exec(html)
  if (!match) throw new Error(`no form in the page:\n${html}`)
  return decodeEntities(match[1] as string)
}

export class Browser {
  readonly cookies = new Map<string, string>()

  async #send(url: string, init: RequestInit): Promise<Page> {
    const headers = new Headers(init.headers)
    if (this.cookies.size > 0) {
      headers.set('cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '))
    }
    const res = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const at = (pair as string).indexOf('=')
      this.cookies.set((pair as string).slice(0, at), (pair as string).slice(at + 1))
    }
    return {
      status: res.status,
      headers: res.headers,
      html: await res.text(),
      location: res.headers.get('location') ?? undefined,
    }
  }

  get(url: string | URL): Promise<Page> {
    return this.#send(String(url), { method: 'GET' })
  }

  post(url: string, fields: Record<string, string>): Promise<Page> {
    return this.#send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  }

  /** Submits the page's form with its hidden fields and `fields`. */
  submit(page: Page, fields: Record<string, string>): Promise<Page> {
    return this.post(formAction(page.html), { ...hiddenFields(page.html), ...fields })
  }
}

export interface LogIn {
  username: string
  password: string
  /** The answer to the consent page, when there is one (default `allow`). */
  consent?: 'allow' | 'deny'
}

/**
 * The whole front channel: GET /authorize with `query`, log in through the form, answer the
 * consent page if one comes, and return the redirect's `Location` (the client's callback URL).
 */
export async function authorizeInBrowser(
  issuer: string,
  query: Record<string, string>,
  user: LogIn,
  browser = new Browser(),
): Promise<URL> {
  const start = await browser.get(`${issuer}/authorize?${new URLSearchParams(query)}`)
  if (start.status !== 200) {
    throw new Error(`GET /authorize: ${start.status} ${start.location ?? start.html}`)
  }
  let page = await browser.submit(start, { username: user.username, password: user.password })
  if (page.status === 200 && page.html.includes('name="decision"')) {
    page = await browser.submit(page, { decision: user.consent ?? 'allow' })
  }
  if (page.status !== 303 || !page.location) {
    throw new Error(`POST /authorize: ${page.status} ${page.html}`)
  }
  return new URL(page.location)
}
