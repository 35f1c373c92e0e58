/**
 * @module server/http/form
 *
 * The `application/x-www-form-urlencoded` body of OAuth requests (RFC 6749 §3.2, Appendix B).
 */
import type { FastifyInstance } from 'fastify'
import { InvalidRequestError } from '../../errors.js'

/** Parsed form parameters; the class marks a body as coming from a form. */
export class FormParams {
  readonly values: Readonly<Record<string, string>>
  constructor(values: Record<string, string>) {
    this.values = values
  }
}

/**
 * Parses a form body. RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if
 * they were omitted"; §3.2: "Request and response parameters MUST NOT be included more than
 * once", so a repeated parameter is an `invalid_request`.
 */
export function parseForm(body: string): FormParams {
  const values: Record<string, string> = Object.create(null)
  for (const [name, value] of new URLSearchParams(body)) {
    if (value === '') continue
    if (name in values)
      throw new InvalidRequestError(`parameter "${name.slice(0, 64)}" is repeated`)
    values[name] = value
  }
  return new FormParams(values)
}

/** Registers the form parser, limited to `bodyLimit` bytes (413 above it). */
export function registerFormParser(app: FastifyInstance, bodyLimit: number): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit },
    (_request, body, done) => {
      try {
        done(null, parseForm(body as string))
      } catch (err) {
        done(err as Error, undefined)
      }
    },
  )
}

/** The form parameters of a request, or an `invalid_request` when it did not send a form. */
export function formOf(body: unknown): Readonly<Record<string, string>> {
  if (!(body instanceof FormParams)) {
    throw new InvalidRequestError('the body must be application/x-www-form-urlencoded')
  }
  return body.values
}
