import { type JWT } from 'google-auth-library'

/** Where google-auth-library 10.x (through gtoken 8) always posts JWT-bearer grants; not configurable. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'

/**
 * Sends the client's token requests to `tokenUrl` instead of Google.
 *
 * Neither JWT's options nor the key file's token_uri change where gtoken posts, so this rewrites the URL in a
 * request interceptor on the client's Gaxios transporter, which gtoken shares. Gaxios runs interceptors after
 * it has turned the URL into a URL object, so the replacement must be a URL too. API calls made through the
 * same client pass untouched. The signed assertion keeps aud=https://oauth2.googleapis.com/token; the fake
 * accepts that audience, as Google does.
 *
 * Caveat: Gaxios picks an HTTPS_PROXY agent before interceptors run, from the original URL, so with a proxy
 * configured the redirected request still goes through the proxy.
 */
export function pointJwtAt(client: JWT, tokenUrl: string): void {
  const target = new URL(tokenUrl)
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (config.url.href === GOOGLE_TOKEN_URL) config.url = new URL(target)
      return config
    },
  })
}
