import { randomBytes } from 'node:crypto'

export interface IssuedToken {
  /** The impersonated user, or null for a token of the service account itself (no `sub`). */
  subject: string | null
  scopes: ReadonlySet<string>
  expiresAt: number
}

/** Access tokens the fake has handed out; opaque strings shaped like Google's ("ya29.…"). */
export class AccessTokens {
  private readonly tokens = new Map<string, IssuedToken>()

  issue(subject: string | null, scopes: Iterable<string>, lifetimeSeconds: number, now: number): string {
    const token = `ya29.${randomBytes(48).toString('base64url')}`
    this.tokens.set(token, { subject, scopes: new Set(scopes), expiresAt: now + lifetimeSeconds * 1000 })
    return token
  }

  /** Undefined for unknown and for expired tokens alike: Google answers both with "Invalid Credentials". */
  lookup(token: string, now: number): IssuedToken | undefined {
    const issued = this.tokens.get(token)
    return issued && issued.expiresAt > now ? issued : undefined
  }

  expireAll(): void {
    this.tokens.clear()
  }
}
