import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Opaque state tokens for `$skiptoken` / `$deltatoken`. Graph documents them as opaque, so clients must
 * not be able to read, depend on or forge them: the JSON state is sealed with AES-256-GCM under a
 * per-instance key (confidential and authenticated) and base64url-encoded. A token from another fake
 * instance, or with any byte changed, fails to open.
 */

const IV_BYTES = 12
const TAG_BYTES = 16

export type ResourceKind = 'users' | 'groups'

/** Where a round stands; carried in a `$skiptoken`. */
export interface PageCursor {
  kind: ResourceKind
  type: 'skip'
  /** Initial round (every current object) or delta round (changes after `from`). */
  phase: 'initial' | 'delta'
  /** Change-log sequence the round started after (delta phase only). */
  from: number
  /** Snapshot sequence: the round reports the state as of this point and its deltaLink resumes from it. */
  to: number
  /** Length of the round's object list when the round started. */
  count: number
  /** Index into the round's object list, and offset into that object's member list. */
  pos: number
  memberPos: number
  select: string[] | null
  pageSize: number
  /** A permutation of positions (`a*p+b mod n`), set when the reorder quirk was on at round start. */
  perm?: [number, number, number]
  /** The previous response was an injected empty page (emptyPages quirk), so this one carries data. */
  afterEmpty?: boolean
  /** Issue serial, so "tokens issued before now" can be expired without clock resolution worries. */
  serial: number
}

/** Where the next round starts; carried in a `$deltatoken`. */
export interface DeltaState {
  kind: ResourceKind
  type: 'delta'
  at: number
  select: string[] | null
  pageSize: number
  serial: number
}

export type StateToken = PageCursor | DeltaState

export class StateTokenCodec {
  private readonly key = randomBytes(32)
  private serial = 0

  /** Serial of the most recently issued token. */
  get lastSerial(): number {
    return this.serial
  }

  encode(state: Omit<PageCursor, 'serial'> | Omit<DeltaState, 'serial'>): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const sealed = cipher.update(JSON.stringify({ ...state, serial: ++this.serial }), 'utf8')
    return Buffer.concat([iv, sealed, cipher.final(), cipher.getAuthTag()]).toString('base64url')
  }

  /** The state a token carries, or null for anything this instance did not issue unchanged. */
  decode(token: string): StateToken | null {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) return null
    const raw = Buffer.from(token, 'base64url')
    if (raw.length <= IV_BYTES + TAG_BYTES) return null
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES))
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
      const plain = Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ])
      return JSON.parse(plain.toString('utf8')) as StateToken
    } catch {
      // Authentication failure: tampered, truncated or sealed by another instance.
      return null
    }
  }
}
