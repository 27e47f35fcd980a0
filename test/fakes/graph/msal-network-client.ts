import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node'

/**
 * An msal-node network module over any fetch function, so a caller decides how TLS is trusted (for the
 * Graph fake: undici's fetch with an Agent trusting the fake's CA) instead of msal's built-in client.
 */

/** The part of a fetch Response msal needs. */
export interface FetchResponseLike {
  status: number
  headers: { forEach(callback: (value: string, key: string) => void): void }
  text(): Promise<string>
}

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<FetchResponseLike>

export function msalNetworkClient(fetchImpl: FetchLike): INetworkModule {
  const send = async <T>(
    method: 'GET' | 'POST',
    url: string,
    options?: NetworkRequestOptions,
    timeoutMs?: number,
  ): Promise<NetworkResponse<T>> => {
    const response = await fetchImpl(url, {
      method,
      headers: { ...options?.headers },
      body: method === 'POST' ? (options?.body ?? '') : undefined,
      signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
    })
    const headers: Record<string, string> = {}
    response.headers.forEach((value, key) => {
      headers[key] = value
    })
    const text = await response.text()
    let body: T
    try {
      // msal parses identity-platform answers itself; it only needs the JSON, error bodies included.
      body = JSON.parse(text) as T
    } catch {
      throw new Error(
        `${method} ${url} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
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
