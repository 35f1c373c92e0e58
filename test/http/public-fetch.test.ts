// Outbound requests for parties the operator does not vouch for reach public addresses only:
// real sockets on loopback stand in for the internal services they must not reach.
import assert from 'node:assert/strict'
import type { LookupAddress } from 'node:dns'
import { createServer, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import {
  createPublicFetch,
  isPublicAddress,
  NonPublicAddressError,
} from '../../src/http/public-fetch.js'

describe('isPublicAddress', () => {
  test('special-purpose IPv4 and IPv6 ranges are not public', () => {
    for (const address of [
      '0.0.0.0',
      '10.1.2.3',
      '100.64.0.1',
      '127.0.0.1',
      '127.255.255.254',
      '169.254.169.254',
      '172.16.0.1',
      '172.31.255.255',
      '192.0.2.1',
      '192.168.1.1',
      '198.18.0.1',
      '224.0.0.1',
      '255.255.255.255',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
      '2001:db8::1',
      '2002:a00:1::1',
      'fd00::1',
      'fe80::1',
      'ff02::1',
      'localhost',
      'not an address',
    ]) {
      assert.equal(isPublicAddress(address), false, address)
    }
  })

  test('public unicast addresses are', () => {
    for (const address of ['8.8.8.8', '93.184.215.14', '172.32.0.1', '2606:4700::1111']) {
      assert.equal(isPublicAddress(address), true, address)
    }
  })
})

describe('createPublicFetch', () => {
  let server: Server
  let port: number
  let requests = 0

  before(async () => {
    server = createServer((_req, res) => {
      requests++
      res.setHeader('content-type', 'application/json')
      res.end('{"keys":[]}')
    })
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    port = (server.address() as { port: number }).port
  })
  after(() => new Promise<void>((done) => server.close(() => done())))

  /** Resolves every name to loopback, as a name pointed at the server's own network would. */
  const toLoopback = (
    _hostname: string,
    _options: unknown,
    callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
  ) => callback(null, [{ address: '127.0.0.1', family: 4 }])

  test('an IP literal of the local network is refused before any connection', async () => {
    const before = requests
    const publicFetch = createPublicFetch()
    for (const url of [`http://127.0.0.1:${port}/jwks`, `http://[::1]:${port}/jwks`]) {
      await assert.rejects(publicFetch(url, {}), NonPublicAddressError)
    }
    assert.equal(requests, before)
  })

  test('a name that resolves to the local network is refused at connect time', async () => {
    const before = requests
    const publicFetch = createPublicFetch({ lookup: toLoopback })
    await assert.rejects(publicFetch(`http://keys.example:${port}/jwks`, {}), (err: Error) => {
      const cause = (err as { cause?: unknown }).cause
      assert.ok(cause instanceof NonPublicAddressError, String(cause))
      assert.match(cause.message, /keys\.example is not a public address/)
      return true
    })
    // localhost resolves through the real DNS lookup: refused the same way.
    await assert.rejects(createPublicFetch()(`http://localhost:${port}/jwks`, {}))
    assert.equal(requests, before)
  })

  test('an allowed address is connected to, through the same lookup', async () => {
    const before = requests
    const publicFetch = createPublicFetch({
      lookup: toLoopback,
      isAllowed: (address) => address === '127.0.0.1',
    })
    const res = await publicFetch(`http://keys.example:${port}/jwks`, {})
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { keys: [] })
    assert.equal(requests, before + 1)
  })
})
