import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CodedTypeError, ReplayCacheFullError } from '../../src/errors.js'
import { createMemoryReplayCache } from '../../src/replay/index.js'

function clock(start = 1_700_000_000_000) {
  let t = start
  return {
    now: () => t,
    advance(ms: number) {
      t += ms
    },
  }
}

describe('createMemoryReplayCache', () => {
  test('first use is true, a repeat inside the window is false', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ now: c.now })
    assert.equal(await cache.firstUse('a', c.now() + 60_000), true)
    assert.equal(await cache.firstUse('a', c.now() + 60_000), false)
    assert.equal(await cache.firstUse('b', c.now() + 60_000), true)
    c.advance(59_999)
    assert.equal(await cache.firstUse('a', c.now() + 60_000), false)
  })

  test('an expired key counts as a first use again', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ now: c.now })
    const expiresAt = c.now() + 5_000
    assert.equal(await cache.firstUse('k', expiresAt), true)
    c.advance(5_000)
    assert.equal(await cache.firstUse('k', c.now() + 5_000), true)
    assert.equal(await cache.firstUse('k', c.now() + 5_000), false)
  })

  test('an expired key behind a live head is reusable (non-monotonic expiries)', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ now: c.now })
    assert.equal(await cache.firstUse('long', c.now() + 60_000), true)
    assert.equal(await cache.firstUse('short', c.now() + 2_000), true)
    c.advance(2_000)
    assert.equal(await cache.firstUse('short', c.now() + 2_000), true)
    assert.equal(await cache.firstUse('long', c.now() + 60_000), false)
  })

  test('a key whose expiresAt is already past is still remembered for a second', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ now: c.now })
    assert.equal(await cache.firstUse('late', c.now() - 10), true)
    assert.equal(await cache.firstUse('late', c.now() - 10), false)
    c.advance(999)
    assert.equal(await cache.firstUse('late', c.now()), false)
    c.advance(1)
    assert.equal(await cache.firstUse('late', c.now() + 1_000), true)
  })

  test('at the ceiling it refuses instead of evicting, and accepts again once entries expire', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ maxEntries: 3, now: c.now })
    assert.equal(await cache.firstUse('k1', c.now() + 10_000), true)
    assert.equal(await cache.firstUse('k2', c.now() + 20_000), true)
    assert.equal(await cache.firstUse('k3', c.now() + 5_000), true)

    await assert.rejects(cache.firstUse('k4', c.now() + 10_000), (err: unknown) => {
      assert.ok(err instanceof ReplayCacheFullError)
      assert.equal(err.reason, 'replay_cache_full')
      assert.equal(err.status, 503)
      assert.equal(err.error, 'temporarily_unavailable')
      assert.match(err.detail ?? '', /\b3\b/)
      return true
    })
    // Live entries were not evicted: they are still detected as replays.
    assert.equal(await cache.firstUse('k1', c.now() + 10_000), false)
    assert.equal(await cache.firstUse('k2', c.now() + 20_000), false)
    assert.equal(await cache.firstUse('k3', c.now() + 5_000), false)

    // k3 (not at the head) expires: the full sweep frees its slot.
    c.advance(5_000)
    assert.equal(await cache.firstUse('k4', c.now() + 10_000), true)
    await assert.rejects(cache.firstUse('k5', c.now() + 10_000), ReplayCacheFullError)

    // Everything expires: the cache is usable to its full size again.
    c.advance(20_000)
    for (const key of ['k5', 'k6', 'k7']) {
      assert.equal(await cache.firstUse(key, c.now() + 1_000), true)
    }
    await assert.rejects(cache.firstUse('k8', c.now() + 1_000), ReplayCacheFullError)
  })

  test('a key inserted after a sweep with an earlier expiry is reclaimed', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ maxEntries: 2, now: c.now })
    assert.equal(await cache.firstUse('a', c.now() + 1_000), true)
    assert.equal(await cache.firstUse('b', c.now() + 60_000), true)
    c.advance(1_000)
    // Sweep frees 'a' (earliest live expiry then is 'b' at +59 s) ...
    assert.equal(await cache.firstUse('c', c.now() + 1_000), true)
    await assert.rejects(cache.firstUse('d', c.now() + 1_000), ReplayCacheFullError)
    // ... and 'c', which expires well before 'b', must still be reclaimable.
    c.advance(1_000)
    assert.equal(await cache.firstUse('d', c.now() + 1_000), true)
  })

  test('stays bounded under a long stream of keys with expiring windows', async () => {
    const c = clock()
    const cache = createMemoryReplayCache({ maxEntries: 100, now: c.now })
    for (let i = 0; i < 10_000; i++) {
      // One key every 11 ms with 1 s windows: about 91 live keys, so the head pruning alone must
      // keep the cache under its ceiling of 100.
      c.advance(11)
      assert.equal(await cache.firstUse(`k${i}`, c.now() + 1_000), true)
    }
  })

  test('rejects an invalid maxEntries with ERR_INVALID_ARG_VALUE', () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as never]) {
      assert.throws(
        () => createMemoryReplayCache({ maxEntries }),
        (err: unknown) => {
          assert.ok(err instanceof CodedTypeError)
          assert.ok(err instanceof TypeError)
          assert.equal(err.code, 'ERR_INVALID_ARG_VALUE')
          assert.equal(err.message, '"maxEntries" must be a positive integer')
          return true
        },
      )
    }
    assert.doesNotThrow(() => createMemoryReplayCache({ maxEntries: 1 }))
    assert.doesNotThrow(() => createMemoryReplayCache())
  })

  test('rejects a non-finite expiresAt', async () => {
    const cache = createMemoryReplayCache()
    await assert.rejects(cache.firstUse('k', Number.NaN), { code: 'ERR_INVALID_ARG_VALUE' })
    await assert.rejects(cache.firstUse('k', Number.POSITIVE_INFINITY), {
      code: 'ERR_INVALID_ARG_VALUE',
    })
  })
})
