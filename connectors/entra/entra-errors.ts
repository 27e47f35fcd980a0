import { ConnectorError } from '../../src/sync/connector'

/**
 * Turns what the Microsoft identity platform and Graph answer into errors an Entra admin can act
 * on. AADSTS codes are documented in "Microsoft Entra authentication and authorization error codes".
 */

const AADSTS_ADVICE: Record<string, (clientId: string) => string> = {
  '7000222': (id) =>
    `client secret expired: create a new secret for app ${id} (Certificates & secrets) and save its value here`,
  '7000215': () => `invalid client secret (use the secret's value, not its id)`,
  '700016': (id) => `application ${id} is not known in this tenant: check the client id and the tenant id`,
  '90002': () => `tenant not found: check the tenant id (a GUID or a verified domain)`,
  '900023': () => `the tenant id is not a valid tenant: check it`,
  '700027': () => `the certificate does not match one registered for the app (Certificates & secrets)`,
  '7000112': () => `the application is disabled in this tenant`,
}

/** An identity-platform failure (msal's ServerError carries errorCode and the AADSTS description). */
export function tokenError(err: unknown, clientId: string): ConnectorError {
  const text =
    err instanceof Error
      ? `${err.message} ${(err as { errorMessage?: string }).errorMessage ?? ''}`
      : String(err)
  const code = /AADSTS(\d+)/.exec(text)?.[1]
  if (code && AADSTS_ADVICE[code]) {
    return new ConnectorError('auth', `entra: ${AADSTS_ADVICE[code]!(clientId)} (AADSTS${code})`, {
      cause: err,
    })
  }
  if (code) {
    const summary = text.replace(/\s+/g, ' ').slice(0, 300)
    return new ConnectorError('auth', `entra: sign-in refused (AADSTS${code}): ${summary}`, { cause: err })
  }
  return new ConnectorError('transient', `entra: could not reach the token endpoint: ${text.slice(0, 300)}`, {
    cause: err,
  })
}

export interface GraphErrorBody {
  error?: { code?: string; message?: string }
}

/** A Graph answer that is not a success, after retries where they apply. */
export function graphError(what: string, status: number, body: GraphErrorBody | undefined): ConnectorError {
  const code = body?.error?.code ?? ''
  const message = body?.error?.message ?? ''
  const detail = `${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`
  if (status === 403) {
    const permission = what.includes('group') ? 'GroupMember.Read.All' : 'User.Read.All'
    return new ConnectorError(
      'permission',
      `entra: ${what}: ${detail} — grant the application permission ${permission} to the app and give admin consent`,
    )
  }
  if (status === 401) return new ConnectorError('auth', `entra: ${what}: ${detail}`)
  if (status === 410 || code === 'syncStateNotFound' || code === 'resyncRequired')
    return new ConnectorError(
      'resync-required',
      `entra: ${what}: the delta token is no longer valid (${detail})`,
    )
  if (status === 429 || status === 503 || status === 504)
    return new ConnectorError('throttled', `entra: ${what}: ${detail}`)
  if (status >= 500) return new ConnectorError('transient', `entra: ${what}: ${detail}`)
  return new ConnectorError('permanent', `entra: ${what}: ${detail}`)
}
