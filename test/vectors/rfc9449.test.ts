import assert from 'node:assert/strict'
import { test } from 'node:test'
import { calculateJwkThumbprint } from 'jose'
import { computeAth } from '../../src/bindings/dpop/ath.js'
import { verifyProof } from '../../src/bindings/dpop/verify.js'
import { jwkThumbprint, type PublicJwk } from '../../src/jose/jwk.js'
import {
  EXAMPLE_KEY,
  RESOURCE_REQUEST_PROOF,
  RFC7638_EXAMPLE,
  TOKEN_REQUEST_PROOF,
} from './rfc9449.js'

test(`RFC 7638 §3.1 thumbprint (${RFC7638_EXAMPLE.title})`, async () => {
  assert.equal(jwkThumbprint(RFC7638_EXAMPLE.jwk as PublicJwk), RFC7638_EXAMPLE.thumbprint)
  // and agrees with jose's independent implementation
  assert.equal(await calculateJwkThumbprint(RFC7638_EXAMPLE.jwk), RFC7638_EXAMPLE.thumbprint)
})

test(`RFC 9449 §6.1 jkt of the example key (${EXAMPLE_KEY.title})`, () => {
  assert.equal(jwkThumbprint(EXAMPLE_KEY.jwk as PublicJwk), EXAMPLE_KEY.jkt)
})

test(`RFC 9449 §7.1 ath of the example access token (${RESOURCE_REQUEST_PROOF.title})`, () => {
  assert.equal(computeAth(RESOURCE_REQUEST_PROOF.accessToken), RESOURCE_REQUEST_PROOF.ath)
})

test(`RFC 9449 §4.1 token request proof verifies (${TOKEN_REQUEST_PROOF.title})`, async () => {
  const v = TOKEN_REQUEST_PROOF
  const result = await verifyProof(v.proof, {
    htm: v.htm,
    htu: v.htu,
    replayCache: null,
    currentDate: new Date(v.iat * 1000),
  })
  assert.equal(result.jkt, EXAMPLE_KEY.jkt)
  assert.equal(result.alg, 'ES256')
  assert.equal(result.claims.jti, v.jti)
})

test(`RFC 9449 §7.1 resource request proof verifies with ath and jkt (${RESOURCE_REQUEST_PROOF.title})`, async () => {
  const v = RESOURCE_REQUEST_PROOF
  const options = {
    htm: v.htm,
    htu: v.htu,
    accessToken: v.accessToken,
    expectedJkt: EXAMPLE_KEY.jkt,
    replayCache: null,
    currentDate: new Date(v.iat * 1000),
  }
  const result = await verifyProof(v.proof, options)
  assert.equal(result.claims.ath, v.ath)
  await assert.rejects(verifyProof(v.proof, { ...options, accessToken: 'other' }), {
    reason: 'ath_mismatch',
  })
})
