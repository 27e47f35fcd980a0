import type { Request } from 'express'
import { sql, type Kysely } from 'kysely'
import type { SecretBox } from '../../crypto/secret-box'
import type { DB, SecondFactor } from '../../db/schema'
import type { Actor } from '../../org/actor'
import type { OrgStore } from '../../org/org-store'
import { liveGrants } from '../admin-tokens'
import type { SecurityPolicy, SecurityPolicyStore } from '../security-policy'
import { claimAccountAttempt } from './account-lockout'
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './password'
import { recoveryCodesLeft, useRecoveryCode } from './recovery-codes'
import { createSession } from './sessions'
import { claimAttempt, refundAttempt } from './signin-throttle'
import { acceptTotpCode } from './totp'
import { sessionRestriction } from './two-factor-policy'

/** Why a sign-in failed, as its audit event records it (the caller only ever hears "failed"). */
export type SignInFailure =
  'unknown-admin' | 'bad-password' | 'bad-code' | 'locked' | 'disabled' | 'throttled'

/** One message for every failure: it must not tell which part was wrong, or that an account is locked. */
export const SIGN_IN_FAILED =
  'sign-in failed: wrong name, password or code, or the account is locked for a while after repeated failures. ' +
  'Send {"name", "password"} and, once two-factor sign-in is enabled, "code" (from the authenticator app) or "recoveryCode"'

export interface SignInInput {
  name: string
  password: string
  code?: string
  recoveryCode?: string
}

export interface RequestContext {
  ip: string | null
  userAgent: string | null
  requestId: string | null
}

export const requestContext = (req: Request): RequestContext => ({
  ip: req.ip ?? null,
  userAgent: req.headers['user-agent']?.slice(0, 512) ?? null,
  requestId: req.id === undefined ? null : String(req.id),
})

export type SignInResult =
  | {
      kind: 'signed-in'
      admin: { id: string; name: string }
      session: { id: string; token: string; csrfToken: string; expiresAt: Date }
      secondFactor: SecondFactor
      restricted?: string
      /** After a recovery code was used: how many are left. */
      recoveryCodesLeft?: number
    }
  | { kind: 'failed'; reason: SignInFailure }
  | { kind: 'throttled'; retryAfterSeconds: number }

interface AdminRow {
  id: string
  name: string
  disabled_at: Date | null
  password_hash: string | null
  totp_secret: string | null
  totp_enabled_at: Date | null
  totp_last_step: number | null
}

/**
 * Password + TOTP sign-in with per-account lockout and a per-address failure limit. Every
 * attempt costs one scrypt verification whatever the outcome (unknown names verify against a
 * dummy hash), and every attempt is audited; no password or code ever reaches an audit event.
 */
export class SignInService {
  constructor(
    private readonly deps: { db: Kysely<DB>; store: OrgStore; box: SecretBox; policy: SecurityPolicyStore },
  ) {
    // Made now, so that the first unknown name is not the one attempt that takes twice as long.
    dummyPasswordHash().catch(() => undefined)
  }

  async signIn(input: SignInInput, ctx: RequestContext): Promise<SignInResult> {
    const { db } = this.deps
    const policy = await this.deps.policy.get()
    const name = input.name.trim()
    const admin = await db
      .selectFrom('admins')
      .select([
        'id',
        'name',
        'disabled_at',
        'password_hash',
        'totp_secret',
        'totp_enabled_at',
        'totp_last_step',
      ])
      .where(sql<string>`lower(name)`, '=', name.toLowerCase())
      .executeTakeFirst()

    const claim = await claimAttempt(db, `ip:${ctx.ip ?? 'unknown'}`)
    if (!claim.allowed) {
      await this.failed(ctx, admin, name, 'throttled', { retryAfterSeconds: claim.retryAfterSeconds })
      return { kind: 'throttled', retryAfterSeconds: claim.retryAfterSeconds }
    }
    const hash = admin?.password_hash ?? (await dummyPasswordHash())
    if (!admin) {
      await verifyPassword(input.password, hash)
      return this.failed(ctx, undefined, name, 'unknown-admin')
    }
    if (admin.disabled_at !== null) {
      await verifyPassword(input.password, hash)
      return this.failed(ctx, admin, name, 'disabled')
    }
    const attempt = await claimAccountAttempt(db, admin.id, policy)
    if (!attempt) {
      await verifyPassword(input.password, hash)
      return this.failed(ctx, admin, name, 'locked')
    }
    const lockedNow = attempt.lockedUntil ? { lockedUntil: attempt.lockedUntil } : {}
    const passwordOk = (await verifyPassword(input.password, hash)) && admin.password_hash !== null
    if (!passwordOk) return this.failed(ctx, admin, name, 'bad-password', lockedNow)

    let secondFactor: SecondFactor = 'none'
    if (admin.totp_enabled_at !== null) {
      if (input.code && (await acceptTotpCode(db, this.deps.box, admin, input.code))) secondFactor = 'totp'
      else if (input.recoveryCode && (await useRecoveryCode(db, admin.id, input.recoveryCode)))
        secondFactor = 'recovery'
      else {
        const tried = input.code ? 'totp' : input.recoveryCode ? 'recovery' : 'none'
        return this.failed(ctx, admin, name, 'bad-code', { ...lockedNow, secondFactorTried: tried })
      }
    }
    return this.succeed(ctx, policy, admin, secondFactor, input.password, claim)
  }

  private async succeed(
    ctx: RequestContext,
    policy: SecurityPolicy,
    admin: AdminRow,
    secondFactor: SecondFactor,
    password: string,
    claim: Awaited<ReturnType<typeof claimAttempt>>,
  ): Promise<SignInResult> {
    const { db } = this.deps
    const grants = await liveGrants(db, admin.id)
    const restricted = sessionRestriction(policy, grants, {
      totpEnabled: admin.totp_enabled_at !== null,
      secondFactor,
    })
    const rehash =
      admin.password_hash && needsRehash(admin.password_hash) ? await hashPassword(password) : null
    const left = secondFactor === 'recovery' ? await recoveryCodesLeft(db, admin.id) : undefined
    const session = await this.deps.store.write(this.actor(ctx, admin), async (w) => {
      await w.transaction
        .updateTable('admins')
        .set({
          failed_signins: 0,
          locked_until: null,
          last_signin_at: sql<Date>`now()`,
          ...(rehash ? { password_hash: rehash } : {}),
        })
        .where('id', '=', admin.id)
        .execute()
      const session = await createSession(w.transaction, {
        adminId: admin.id,
        secondFactor,
        hours: policy.signIn.sessionHours,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
      })
      if (secondFactor === 'recovery') {
        await w.audit({
          action: 'auth.recovery-code.use',
          targetType: 'admin',
          targetId: admin.id,
          after: { recoveryCodesLeft: left },
        })
      }
      await w.audit({
        action: 'auth.sign-in',
        targetType: 'admin',
        targetId: admin.id,
        after: {
          sessionId: session.id,
          secondFactor,
          expiresAt: session.expiresAt.toISOString(),
          ...(restricted ? { restricted: true } : {}),
          ...(rehash ? { passwordRehashed: true } : {}),
        },
      })
      return session
    })
    await refundAttempt(db, claim)
    return {
      kind: 'signed-in',
      admin: { id: admin.id, name: admin.name },
      session,
      secondFactor,
      ...(restricted ? { restricted } : {}),
      ...(left === undefined ? {} : { recoveryCodesLeft: left }),
    }
  }

  private actor(ctx: RequestContext, admin: { id: string; name: string } | undefined): Actor {
    return {
      type: admin ? 'admin' : 'anonymous',
      id: admin?.id ?? null,
      name: admin?.name ?? null,
      ip: ctx.ip,
      requestId: ctx.requestId,
      userAgent: ctx.userAgent,
    }
  }

  private async failed(
    ctx: RequestContext,
    admin: { id: string; name: string } | undefined,
    triedName: string,
    reason: SignInFailure,
    extra: Record<string, unknown> = {},
  ): Promise<SignInResult> {
    await this.deps.store.write(this.actor(ctx, admin), async (w) => {
      await w.audit({
        action: 'auth.sign-in.failed',
        targetType: 'admin',
        targetId: admin?.id ?? null,
        // The name as typed is kept (truncated) when it matches nobody: it shows what was tried.
        after: { reason, name: admin ? admin.name : triedName.slice(0, 200), ...extra },
      })
      if (admin && 'lockedUntil' in extra) {
        await w.audit({
          action: 'auth.lockout',
          targetType: 'admin',
          targetId: admin.id,
          after: { lockedUntil: extra.lockedUntil, afterReason: reason },
        })
      }
    })
    return { kind: 'failed', reason }
  }
}
