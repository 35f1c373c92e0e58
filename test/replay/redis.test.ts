import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { CodedTypeError, ReplayCacheUnavailableError } from '../../src/errors.js'
import { createRedisReplayCache, type ReplayCache } from '../../src/replay/index.js'

const SHARED_URL = 'redis://127.0.0.1:6379'

/** Calls `fn` until it resolves, at most for `timeoutMs`; returns its value or rethrows. */
async function eventually<T>(fn: () => Promise<T>, timeoutMs: number, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() >= deadline) throw err
      await sleep(stepMs)
    }
  }
}

/** Answers once a Redis server at `port` replies `+PONG` to an inline PING. */
function ping(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.setTimeout(500)
    let data = ''
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      data += chunk.toString()
      if (data.includes('\r\n')) {
        socket.destroy()
        if (data.startsWith('+PONG')) resolve()
        else reject(new Error(`unexpected reply ${JSON.stringify(data)}`))
      }
    })
    socket.on('timeout', () => socket.destroy(new Error('PING timed out')))
    socket.on('error', reject)
  })
}

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  server.close()
  await once(server, 'close')
  return address.port
}

async function startRedisServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  )
  await eventually(() => ping(port), 5_000)
  return child
}

async function stopRedisServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

describe('createRedisReplayCache (shared Redis at 127.0.0.1:6379)', () => {
  const prefix = `keybound-test:${randomUUID()}:`
  let admin: Redis
  let cache: ReplayCache

  before(async () => {
    admin = new Redis(SHARED_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
    await admin.connect()
    cache = createRedisReplayCache({ url: SHARED_URL, prefix })
    // The cache's own client connects in the background and refuses commands until it is ready.
    await eventually(() => cache.firstUse('warm-up', Date.now() + 1_000), 5_000)
  })

  after(async () => {
    await cache?.close?.()
    if (admin !== undefined) {
      const keys = await admin.keys(`${prefix}*`)
      if (keys.length > 0) await admin.del(...keys)
      await admin.quit()
    }
  })

  test('first use is true, a repeat is false, other keys are independent', async () => {
    const expiresAt = Date.now() + 10_000
    assert.equal(await cache.firstUse('jkt1:jti1', expiresAt), true)
    assert.equal(await cache.firstUse('jkt1:jti1', expiresAt), false)
    assert.equal(await cache.firstUse('jkt1:jti2', expiresAt), true)
    assert.equal(await admin.get(`${prefix}jkt1:jti1`), '1')
  })

  test('50 concurrent calls with one key: exactly one first use', async () => {
    const expiresAt = Date.now() + 10_000
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cache.firstUse('concurrent', expiresAt)),
    )
    assert.equal(results.filter((r) => r).length, 1)
  })

  test('two caches (two processes) sharing Redis and prefix see each other', async () => {
    const other = createRedisReplayCache({ url: SHARED_URL, prefix })
    try {
      const expiresAt = Date.now() + 10_000
      assert.equal(await cache.firstUse('shared', expiresAt), true)
      assert.equal(await eventually(() => other.firstUse('shared', expiresAt), 5_000), false)
    } finally {
      await other.close?.()
    }
  })

  test('the key gets a TTL running to expiresAt', async () => {
    assert.equal(await cache.firstUse('ttl', Date.now() + 60_000), true)
    const pttl = await admin.pttl(`${prefix}ttl`)
    assert.ok(pttl > 55_000 && pttl <= 60_000, `PTTL ${pttl}`)
  })

  test('an already-past expiresAt is still recorded, for one second', async () => {
    assert.equal(await cache.firstUse('late', Date.now() - 5_000), true)
    assert.equal(await cache.firstUse('late', Date.now() - 5_000), false)
    const pttl = await admin.pttl(`${prefix}late`)
    assert.ok(pttl > 0 && pttl <= 1_000, `PTTL ${pttl}`)
  })

  test('a caller-supplied client is used and left open by close()', async () => {
    const client = new Redis(SHARED_URL, { lazyConnect: true })
    await client.connect()
    try {
      const own = createRedisReplayCache({ client, prefix })
      assert.equal(await own.firstUse('supplied', Date.now() + 10_000), true)
      assert.equal(await cache.firstUse('supplied', Date.now() + 10_000), false)
      await own.close?.()
      assert.equal(await client.ping(), 'PONG')
      assert.equal(client.listenerCount('error'), 0)
      await assert.rejects(own.firstUse('after-close', Date.now() + 10_000), {
        reason: 'replay_cache_unavailable',
      })
    } finally {
      await client.quit()
    }
  })

  test('invalid options and arguments throw coded TypeErrors', async () => {
    const client = new Redis(SHARED_URL, { lazyConnect: true })
    try {
      assert.throws(() => createRedisReplayCache({ url: SHARED_URL, client }), {
        code: 'ERR_INVALID_ARG_VALUE',
      })
    } finally {
      client.disconnect()
    }
    assert.throws(() => createRedisReplayCache({ commandTimeout: 0 }), CodedTypeError)
    assert.throws(() => createRedisReplayCache({ prefix: 1 as never }), CodedTypeError)
    await assert.rejects(cache.firstUse('k', Number.NaN), { code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('createRedisReplayCache fails closed and recovers (own redis-server)', () => {
  let port: number
  let server: ChildProcess | undefined
  let cache: ReplayCache | undefined

  after(async () => {
    await cache?.close?.()
    if (server !== undefined) await stopRedisServer(server)
  })

  test('rejects fast with ReplayCacheUnavailableError while Redis is down, then recovers', async () => {
    port = await freePort()
    server = await startRedisServer(port)
    cache = createRedisReplayCache({ url: `redis://127.0.0.1:${port}`, commandTimeout: 300 })
    const replayCache = cache
    const expiresAt = () => Date.now() + 10_000

    assert.equal(await eventually(() => replayCache.firstUse('before', expiresAt()), 5_000), true)
    assert.equal(await replayCache.firstUse('before', expiresAt()), false)

    // Connected but unresponsive (frozen process): the command timeout bounds the wait.
    server.kill('SIGSTOP')
    try {
      const frozen = Date.now()
      await assert.rejects(replayCache.firstUse('frozen', expiresAt()), (err: unknown) => {
        assert.ok(err instanceof ReplayCacheUnavailableError)
        assert.match(err.detail ?? '', /timed out/i)
        return true
      })
      assert.ok(Date.now() - frozen < 2_000, `took ${Date.now() - frozen} ms`)
    } finally {
      server.kill('SIGCONT')
    }
    assert.equal(await replayCache.firstUse('thawed', expiresAt()), true)

    await stopRedisServer(server)
    server = undefined

    const started = Date.now()
    await assert.rejects(replayCache.firstUse('during', expiresAt()), (err: unknown) => {
      assert.ok(err instanceof ReplayCacheUnavailableError)
      assert.equal(err.reason, 'replay_cache_unavailable')
      assert.equal(err.status, 503)
      assert.equal(err.error, 'temporarily_unavailable')
      assert.match(err.detail ?? '', /Redis/)
      return true
    })
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`)

    // Still down a little later (the client is in its reconnection loop): still fast.
    await sleep(300)
    const again = Date.now()
    await assert.rejects(replayCache.firstUse('during', expiresAt()), ReplayCacheUnavailableError)
    assert.ok(Date.now() - again < 2_000, `took ${Date.now() - again} ms`)

    server = await startRedisServer(port)
    // The data died with the old server; the point is that the cache answers again by itself.
    assert.equal(
      await eventually(() => replayCache.firstUse('after', expiresAt()), 10_000, 100),
      true,
    )
    assert.equal(await replayCache.firstUse('after', expiresAt()), false)
  })
})
