import { randomBytes } from 'node:crypto'

interface Cursor {
  /** The list request's parameters other than pageToken/maxResults; a token only continues its own query. */
  signature: string
  /** Keys in list order, captured when the first page was served. */
  snapshot: readonly string[]
  offset: number
}

export interface Page {
  keys: readonly string[]
  nextPageToken?: string
}

/** Old cursors are dropped beyond this, the way Google's tokens lapse (after three days, for users). */
const MAX_LIVE_CURSORS = 10_000

/**
 * Opaque, unguessable page tokens. The first page snapshots the ordered keys, so paging is O(page) and
 * later pages neither skip nor repeat items when the directory changes mid-listing; callers drop keys
 * that no longer resolve (deleted since), which can make a page short, as Google's pages can be.
 */
export class PageTokens {
  private readonly cursors = new Map<string, Cursor>()

  /** Returns null for a token this store never issued, or one issued for a different query. */
  page(
    signature: string,
    pageToken: string | undefined,
    maxResults: number,
    listKeys: () => readonly string[],
  ): Page | null {
    let snapshot: readonly string[]
    let offset = 0
    if (pageToken) {
      const cursor = this.cursors.get(pageToken)
      if (!cursor || cursor.signature !== signature) return null
      ;({ snapshot, offset } = cursor)
    } else {
      snapshot = listKeys()
    }
    const end = Math.min(offset + maxResults, snapshot.length)
    const keys = snapshot.slice(offset, end)
    if (end >= snapshot.length) return { keys }
    const nextPageToken = randomBytes(24).toString('base64url')
    this.cursors.set(nextPageToken, { signature, snapshot, offset: end })
    if (this.cursors.size > MAX_LIVE_CURSORS) {
      const oldest = this.cursors.keys().next().value
      if (oldest !== undefined) this.cursors.delete(oldest)
    }
    return { keys, nextPageToken }
  }
}
