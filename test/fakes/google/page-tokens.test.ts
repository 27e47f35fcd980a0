import { PageTokens } from './page-tokens'

describe('PageTokens', () => {
  const keys = Array.from({ length: 7 }, (_, i) => `k${i}`)

  it('walks a snapshot in pages with unguessable tokens', () => {
    const store = new PageTokens()
    const first = store.page('q', undefined, 3, () => keys)
    const second = store.page('q', first?.nextPageToken, 3, () => [])
    const third = store.page('q', second?.nextPageToken, 3, () => [])
    expect([first?.keys, second?.keys, third?.keys]).toEqual([keys.slice(0, 3), keys.slice(3, 6), ['k6']])
    expect(third?.nextPageToken).toBeUndefined()
    expect(first?.nextPageToken).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(first?.nextPageToken).not.toBe(second?.nextPageToken)
  })

  it('refuses unknown tokens and tokens from another query', () => {
    const store = new PageTokens()
    const first = store.page('users', undefined, 2, () => keys)
    expect(store.page('users', 'AAAA', 2, () => keys)).toBeNull()
    expect(store.page('groups', first?.nextPageToken, 2, () => keys)).toBeNull()
  })

  it('lets a token be replayed, as a client retrying a failed page would', () => {
    const store = new PageTokens()
    const token = store.page('q', undefined, 2, () => keys)?.nextPageToken
    expect(store.page('q', token, 2, () => [])?.keys).toEqual(['k2', 'k3'])
    expect(store.page('q', token, 2, () => [])?.keys).toEqual(['k2', 'k3'])
  })
})
