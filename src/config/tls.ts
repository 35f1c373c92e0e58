/**
 * @module config/tls
 *
 * Reads the PEM files the configuration names (`tls.cert`, `tls.key`, `tls.ca`,
 * `mtls.certificateHeader.ca`) when the server starts, and checks them: every mistake is a
 * {@link ConfigError} naming the field, as for the rest of the file.
 */
import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { parsePemBundle } from '../bindings/mtls/chain.js'
import { type Config, ConfigError, type ConfigIssue } from './load.js'

/** What the HTTPS listener is given (node's `tls.createSecureContext` options). */
export interface TlsListenerFiles {
  readonly cert: string
  readonly key: string
  readonly ca: string | undefined
}

export interface MtlsFiles {
  /** The HTTPS listener's files, when `tls` is configured. */
  readonly listener: TlsListenerFiles | undefined
  /** The CA certificates forwarded certificates must chain to (`mtls.certificateHeader.ca`, or `tls.ca`). */
  readonly headerCa: readonly X509Certificate[]
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
}

/**
 * Reads and checks the files. Each problem names its field (`tls.key: file server.key: not a
 * PEM private key`); all are reported at once.
 *
 * @throws {ConfigError}
 */
export async function loadMtlsFiles(config: Config): Promise<MtlsFiles> {
  const issues: ConfigIssue[] = []
  const read = async (path: string, field: string): Promise<string | undefined> => {
    try {
      return await readFile(path, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      issues.push({
        path: field,
        message: `file ${path}: ${READ_ERRORS[code] ?? `cannot be read (${code})`}`,
      })
      return undefined
    }
  }
  const certificates = (text: string, path: string, field: string): X509Certificate[] => {
    try {
      const list = parsePemBundle(text)
      if (list.length === 0)
        issues.push({ path: field, message: `file ${path}: no PEM certificate` })
      return list
    } catch (err) {
      issues.push({
        path: field,
        message: `file ${path}: a certificate does not parse (${(err as Error).message})`,
      })
      return []
    }
  }

  let listener: TlsListenerFiles | undefined
  let tlsCa: X509Certificate[] = []
  const tls = config.tls
  if (tls) {
    const [cert, key, ca] = await Promise.all([
      read(tls.cert, 'tls.cert'),
      read(tls.key, 'tls.key'),
      tls.ca === undefined ? undefined : read(tls.ca, 'tls.ca'),
    ])
    const [leaf] = cert === undefined ? [] : certificates(cert, tls.cert, 'tls.cert')
    let privateKey: KeyObject | undefined
    if (key !== undefined) {
      try {
        privateKey = createPrivateKey(key)
      } catch {
        issues.push({ path: 'tls.key', message: `file ${tls.key}: not a PEM private key` })
      }
    }
    if (leaf && privateKey && !leaf.checkPrivateKey(privateKey)) {
      issues.push({ path: 'tls.key', message: `file ${tls.key}: not the key of tls.cert` })
    }
    if (ca !== undefined) tlsCa = certificates(ca, tls.ca as string, 'tls.ca')
    if (cert !== undefined && key !== undefined) listener = { cert, key, ca }
  }

  let headerCa = tlsCa
  const headerCaPath = config.mtls.certificateHeader?.ca
  if (headerCaPath !== undefined) {
    const text = await read(headerCaPath, 'mtls.certificateHeader.ca')
    headerCa =
      text === undefined ? [] : certificates(text, headerCaPath, 'mtls.certificateHeader.ca')
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return { listener, headerCa }
}
