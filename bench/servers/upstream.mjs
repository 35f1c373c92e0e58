// The trivial upstream of `npm run bench:resource`'s gateway figures: answers every request with
// a small JSON body. Prints "READY <port>" once it listens.
import { createServer } from 'node:http'

const body = JSON.stringify({ ok: true })
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log(`READY ${process.argv[2]}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
