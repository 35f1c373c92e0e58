// keybound for `npm run bench:token`: the server as `keybound serve` runs it, without request
// logs, on the database and replay cache given. Prints "READY <port>" once it listens.
import { parseConfig } from '../../src/config/index.js'
import { createAuthorizationServer } from '../../src/server/server.js'

const [port, secret, database, replayCache] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
]
const { config } = parseConfig({
  issuer: `http://127.0.0.1:${port}`,
  port: Number(port),
  database,
  replayCache,
  log: { level: 'warn' },
  scopes: ['read'],
  accessToken: { audience: 'https://api.example' },
  clients: [{ client_id: 'bench', client_secret: secret, grant_types: ['client_credentials'] }],
})
const binding = process.env.KEYBOUND_BENCH_SQLITE_BINDING
const server = await createAuthorizationServer(config, {
  ...(binding ? { storeOptions: { sqliteNativeBinding: binding } } : {}),
})
await server.listen()
console.log(`READY ${port}`)
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
