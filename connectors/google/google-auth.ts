import { JWT } from 'google-auth-library'
import { type ServiceAccountKey } from './google-config'

/** Read-only Directory scopes; the admin grants exactly these to the client id for domain-wide delegation. */
export const DIRECTORY_SCOPES = [
  'https://www.googleapis.com/auth/admin.directory.user.readonly',
  'https://www.googleapis.com/auth/admin.directory.orgunit.readonly',
  'https://www.googleapis.com/auth/admin.directory.group.readonly',
  'https://www.googleapis.com/auth/admin.directory.group.member.readonly',
] as const

/**
 * Where google-auth-library 10 (through gtoken 8) posts every JWT-bearer grant. Neither the JWT
 * options nor the key's token_uri change it.
 */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'

export interface DirectoryAuth {
  readonly client: JWT
  /**
   * Runs `call` with `signal` also aborting any token request the client makes meanwhile. The
   * connector makes one call at a time, so one slot for the signal is enough.
   */
  during<T>(signal: AbortSignal, call: () => Promise<T>): Promise<T>
  /** Forgets the access token, so the next request fetches a new one (after a 401). */
  forgetToken(): void
}

/**
 * A JWT client acting as `subject` through domain-wide delegation. gtoken makes its token request
 * itself, with no way to pass a URL or an AbortSignal, so both go in through a request interceptor on
 * the transporter it shares with the client. Gaxios picks an HTTPS_PROXY agent from the original URL
 * before interceptors run, so behind a proxy the redirected token request still goes through it.
 */
export function createDirectoryAuth(
  key: ServiceAccountKey,
  subject: string,
  options: { tokenUrl?: string; fetch: typeof fetch },
): DirectoryAuth {
  const client = new JWT({
    email: key.client_email,
    key: key.private_key,
    subject,
    scopes: [...DIRECTORY_SCOPES],
    // Gaxios otherwise loads node-fetch with a dynamic import(), which jest's CommonJS runtime refuses.
    transporterOptions: { fetchImplementation: options.fetch },
  })
  let current: AbortSignal | undefined
  const auth: DirectoryAuth = {
    client,
    async during(signal, call) {
      current = signal
      try {
        return await call()
      } finally {
        current = undefined
      }
    },
    forgetToken() {
      // An expiry in the past makes the client (and gtoken, told to force a refresh) fetch a new one.
      client.setCredentials({ refresh_token: 'jwt-placeholder', expiry_date: 1 })
    },
  }
  const target = options.tokenUrl === undefined ? undefined : new URL(options.tokenUrl)
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      // Gaxios has made the URL a URL object by the time interceptors run, so the replacement is one too.
      if (config.url.href === GOOGLE_TOKEN_URL) {
        if (target !== undefined) config.url = new URL(target)
        if (config.signal === undefined && current !== undefined) config.signal = current
      }
      return config
    },
  })
  return auth
}
