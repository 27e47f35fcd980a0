import { createPrivateKey, X509Certificate } from 'node:crypto'
import {
  ConfidentialClientApplication,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node'
import { ConnectorError } from '../../src/sync/connector'
import type { EntraConfig } from './entra-config'
import { tokenError } from './entra-errors'

/**
 * Access tokens for Graph by the client-credentials grant. msal caches the token and renews it
 * shortly before it expires; `fresh` forces a new one (Graph said the cached one is no longer good).
 */
export interface TokenSource {
  token(fresh?: boolean): Promise<string>
}

/** msal's HTTP through the connector's fetch, so how TLS is trusted (proxies, test CAs) is the caller's. */
export function msalNetworkClient(fetchImpl: typeof fetch): INetworkModule {
  const send = async <T>(
    method: 'GET' | 'POST',
    url: string,
    options?: NetworkRequestOptions,
    timeoutMs?: number,
  ): Promise<NetworkResponse<T>> => {
    const request = () =>
      fetchImpl(url, {
        method,
        headers: { ...options?.headers },
        body: method === 'POST' ? (options?.body ?? '') : undefined,
        signal: AbortSignal.timeout(timeoutMs ?? 30_000),
      })
    let response: Response
    try {
      response = await request()
    } catch {
      // Once more on a fresh connection: a pooled keep-alive socket the server closed while the
      // process was busy fails the first request sent on it.
      response = await request()
    }
    const headers: Record<string, string> = {}
    response.headers.forEach((value, key) => {
      headers[key] = value
    })
    const text = await response.text()
    let body: T
    try {
      body = JSON.parse(text) as T
    } catch {
      throw new Error(
        `${method} ${url}: ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
      )
    }
    return { headers, body, status: response.status }
  }
  return {
    sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions, timeout?: number) =>
      send<T>('GET', url, options, timeout),
    sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('POST', url, options),
  }
}

function certificateCredential(pem: string) {
  const cert = new X509Certificate(pem)
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(
    pem,
  )
  if (!key) throw new Error('certificate: no private key in the PEM')
  // msal-node signs the client assertion PS256 (RSA-PSS); with an EC key it fails before sending anything,
  // which would otherwise read as "could not reach the token endpoint".
  const keyType = createPrivateKey(key[0]).asymmetricKeyType
  if (keyType !== 'rsa') {
    throw new ConnectorError(
      'auth',
      `entra: the certificate's private key is ${(keyType ?? 'unknown').toUpperCase()}: ` +
        'Entra certificate credentials need an RSA key (2048 bits or more)',
    )
  }
  return {
    thumbprintSha256: cert.fingerprint256.replace(/:/g, ''),
    privateKey: key[0],
    x5c: cert.toString(),
  }
}

export function entraTokenSource(config: EntraConfig, fetchImpl: typeof fetch): TokenSource {
  const authorityHost = config.authorityHost.replace(/\/+$/, '')
  let credential: { clientSecret: string } | { clientCertificate: ReturnType<typeof certificateCredential> }
  try {
    credential = config.clientSecret
      ? { clientSecret: config.clientSecret }
      : { clientCertificate: certificateCredential(config.certificate!) }
  } catch (err) {
    // A credential that cannot work: say so on every sign-in (check, runs) instead of at construction.
    if (!(err instanceof ConnectorError)) throw err
    return {
      token: () => Promise.reject(err),
    }
  }
  const app = new ConfidentialClientApplication({
    auth: {
      clientId: config.clientId,
      authority: `${authorityHost}/${config.tenantId}`,
      // A known authority skips instance discovery, which only knows Microsoft's own hosts.
      knownAuthorities: [new URL(authorityHost).host],
      ...credential,
    },
    system: { networkClient: msalNetworkClient(fetchImpl) },
  })
  const scopes = [`${config.graphBaseUrl.replace(/\/+$/, '')}/.default`]
  return {
    async token(fresh = false) {
      try {
        const result = await app.acquireTokenByClientCredential({ scopes, skipCache: fresh })
        if (!result?.accessToken) throw new Error('the token endpoint returned no access token')
        return result.accessToken
      } catch (err) {
        throw tokenError(err, config.clientId)
      }
    },
  }
}
