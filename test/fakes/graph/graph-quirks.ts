/**
 * Runtime switches that make the fake misbehave the ways Graph is documented (or known) to, so a
 * connector's handling of each can be tested. All off by default; set them on `fake.quirks`.
 */

export interface ThrottleQuirk {
  status: 429 | 503
  /** How many of the next Graph requests fail; counts down to zero, then the quirk switches off. */
  times: number
  retryAfterSeconds: number
}

export type DeltaTokenExpiryCode = 'syncStateNotFound' | 'resyncRequired'

export class GraphQuirks {
  /** Start each page with the last object of the previous page again. */
  duplicates = false
  /** Shuffle object order across a round's pages (fixed when the round starts). */
  reorder = false
  /** Serve an empty `value` with a nextLink before every real page. */
  emptyPages = false
  /** 403 Authorization_RequestDenied on users/delta, groups/delta. */
  denyUsers = false
  denyGroups = false
  /** The app's (correct) client secret has expired: the token endpoint answers AADSTS7000222. */
  secretExpired = false
  /**
   * Updated objects carry every selected property instead of only the changed ones. Off by default: the
   * delta overview only promises "at least the properties that have been updated", so a connector must
   * cope with partial objects; `Prefer: return=minimal` forces partial objects either way.
   */
  fullObjectsOnUpdate = false
  /** Error code of the 410 Gone answered for expired delta tokens. */
  deltaTokenExpiryCode: DeltaTokenExpiryCode = 'syncStateNotFound'

  private throttleState: ThrottleQuirk | null = null
  private expiryCutoff: number | null = null

  constructor(private readonly lastTokenSerial: () => number) {}

  get throttle(): ThrottleQuirk | null {
    return this.throttleState
  }

  set throttle(value: ThrottleQuirk | null) {
    this.throttleState = value && value.times > 0 ? { ...value } : null
  }

  /** Counts one Graph request against the throttle; returns the throttle if this request must fail. */
  takeThrottle(): ThrottleQuirk | null {
    const t = this.throttleState
    if (!t) return null
    t.times--
    if (t.times <= 0) this.throttleState = null
    return t
  }

  /** While on, every delta token issued before it was switched on answers 410 Gone. */
  get expireDeltaTokens(): boolean {
    return this.expiryCutoff !== null
  }

  set expireDeltaTokens(on: boolean) {
    this.expiryCutoff = on ? this.lastTokenSerial() : null
  }

  isExpired(tokenSerial: number): boolean {
    return this.expiryCutoff !== null && tokenSerial <= this.expiryCutoff
  }

  reset(): void {
    this.duplicates = false
    this.reorder = false
    this.emptyPages = false
    this.denyUsers = false
    this.denyGroups = false
    this.secretExpired = false
    this.fullObjectsOnUpdate = false
    this.deltaTokenExpiryCode = 'syncStateNotFound'
    this.throttleState = null
    this.expiryCutoff = null
  }
}
