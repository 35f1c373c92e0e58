/**
 * @module server/demo
 *
 * The embedded demo set-up used when `keybound serve` runs without a config file: a
 * confidential client that must use DPoP, one that gets signed-request PoP tokens, a public
 * client for the code flow and a user, with
 * fresh random credentials at every start, printed so that the README's walk-through works.
 */
import { randomBytes } from 'node:crypto'

export interface DemoSetup {
  /** Config input (before validation) holding the demo clients and user. */
  readonly input: Record<string, unknown>
  /** What to print once the server listens. */
  banner(issuer: string): string
}

export function demoSetup(): DemoSetup {
  const secret = randomBytes(24).toString('base64url')
  const password = randomBytes(9).toString('base64url')
  return {
    input: {
      demo: true,
      clients: [
        {
          client_id: 'demo-dpop',
          client_name: 'keybound demo: confidential client bound by DPoP',
          client_secret: secret,
          grant_types: ['client_credentials'],
          token_binding: 'dpop',
        },
        {
          client_id: 'demo-pop',
          client_name: 'keybound demo: confidential client with signed-request PoP tokens',
          client_secret: secret,
          grant_types: ['client_credentials'],
          token_binding: 'pop',
        },
        {
          client_id: 'demo-app',
          client_name: 'keybound demo: public client for the code flow',
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          redirect_uris: ['http://localhost:3000/callback'],
          first_party: true,
        },
      ],
      users: [{ username: 'demo', password, claims: { name: 'Demo User' } }],
    },
    banner: (issuer) => `
keybound demo set-up (new credentials at every start; pass --config FILE for your own):
  confidential client  demo-dpop / ${secret}   (client_credentials, token_binding: dpop)
  confidential client  demo-pop / ${secret}    (client_credentials, token_binding: pop)
  public client        demo-app                 (authorization_code + PKCE, redirect http://localhost:3000/callback)
  user                 demo / ${password}

Try it:
  npx keybound keygen --out client.json
  curl -s -X POST ${issuer}/token -u demo-dpop:${secret} \\
    -H "DPoP: $(npx keybound proof --key client.json --method POST --url ${issuer}/token)" \\
    -d grant_type=client_credentials
`,
  }
}
