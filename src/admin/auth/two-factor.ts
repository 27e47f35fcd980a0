import { sql, type Kysely } from 'kysely'
import type { SecretBox } from '../../crypto/secret-box'
import type { DB } from '../../db/schema'
import { AppError, conflict, forbidden, invalid } from '../../errors'
import type { Actor } from '../../org/actor'
import type { OrgStore } from '../../org/org-store'
import type { AdminPrincipal } from '../authz/principal'
import type { SecurityPolicyStore } from '../security-policy'
import { claimAccountAttempt, clearAccountFailures } from './account-lockout'
import { verifyPassword } from './password'
import { RECOVERY_CODE_COUNT, recoveryCodesLeft, replaceRecoveryCodes } from './recovery-codes'
import { acceptTotpCode, newTotpSecret, otpauthUri, sealTotpSecret } from './totp'
import { rolesRequiringTwoFactor } from './two-factor-policy'

export interface TwoFactorState {
  enabled: boolean
  enabledAt: Date | null
  /** An enrolment was started and awaits its first code. */
  pending: boolean
  /** The policy requires it for one of the admin's roles. */
  required: boolean
  requiredFor: string[]
  recoveryCodesLeft: number
}

/** An admin's own two-factor sign-in: enrol, confirm, new recovery codes, turn off. */
export class TwoFactorService {
  constructor(
    private readonly deps: { db: Kysely<DB>; store: OrgStore; box: SecretBox; policy: SecurityPolicyStore },
  ) {}

  private async admin(db: Kysely<DB>, adminId: string) {
    const row = await db
      .selectFrom('admins')
      .select(['id', 'name', 'password_hash', 'totp_secret', 'totp_enabled_at', 'totp_last_step'])
      .where('id', '=', adminId)
      .executeTakeFirst()
    if (!row) throw new AppError('unauthorized', 'the signed-in admin no longer exists')
    return row
  }

  /**
   * The current password, checked like a sign-in: wrong ones count towards the account's lockout
   * (a stolen session must not become a way to guess the password) and are audited.
   */
  private async checkPassword(
    admin: { id: string; password_hash: string | null },
    password: string,
    actor: Actor,
    during: string,
  ): Promise<void> {
    const policy = await this.deps.policy.get()
    const attempt = await claimAccountAttempt(this.deps.db, admin.id, policy)
    const ok =
      attempt !== undefined &&
      admin.password_hash !== null &&
      (await verifyPassword(password, admin.password_hash))
    if (ok) {
      await clearAccountFailures(this.deps.db, admin.id)
      return
    }
    await this.deps.store.write(actor, (w) =>
      w.audit({
        action: 'auth.password-check.failed',
        targetType: 'admin',
        targetId: admin.id,
        after: {
          during,
          reason: attempt ? 'bad-password' : 'locked',
          ...(attempt?.lockedUntil ? { lockedUntil: attempt.lockedUntil } : {}),
        },
      }),
    )
    throw forbidden(
      attempt
        ? 'the current password is wrong'
        : 'the account is locked after repeated wrong passwords: try again later',
    )
  }

  async state(principal: AdminPrincipal): Promise<TwoFactorState> {
    const [admin, policy] = await Promise.all([
      this.admin(this.deps.db, principal.adminId),
      this.deps.policy.get(),
    ])
    const requiredFor = rolesRequiringTwoFactor(policy, principal.grants)
    return {
      enabled: admin.totp_enabled_at !== null,
      enabledAt: admin.totp_enabled_at,
      pending: admin.totp_enabled_at === null && admin.totp_secret !== null,
      required: requiredFor.length > 0,
      requiredFor,
      recoveryCodesLeft: admin.totp_enabled_at ? await recoveryCodesLeft(this.deps.db, admin.id) : 0,
    }
  }

  /**
   * Starts an enrolment: a new secret, pending until a first code confirms it (sign-in does not ask
   * for codes before then). Needs the current password, so an unattended open session cannot bind
   * someone else's phone. Starting again replaces a pending secret.
   */
  async enrol(
    principal: AdminPrincipal,
    password: string,
    actor: Actor,
  ): Promise<{ otpauthUri: string; secret: string }> {
    const admin = await this.admin(this.deps.db, principal.adminId)
    if (!admin.password_hash)
      throw conflict(
        `admin "${admin.name}" has no password: a global admin must set one before 2FA can be enrolled`,
      )
    await this.checkPassword(admin, password, actor, 'auth.2fa.enrol')
    if (admin.totp_enabled_at !== null) {
      throw conflict(
        'two-factor sign-in is already enabled. To move to a new authenticator, turn it off (DELETE /api/v1/auth/2fa with password and code) and enrol again; ' +
          'while the policy requires it for your roles, ask a global admin to reset it',
      )
    }
    const secret = newTotpSecret()
    await this.deps.store.write(actor, async (w) => {
      const updated = await w.transaction
        .updateTable('admins')
        .set({ totp_secret: sealTotpSecret(this.deps.box, admin.id, secret), totp_last_step: null })
        .where('id', '=', admin.id)
        .where('totp_enabled_at', 'is', null)
        .returning('id')
        .executeTakeFirst()
      if (!updated) throw conflict('two-factor sign-in was enabled meanwhile (by another request)')
      await w.audit({
        action: 'auth.2fa.enrol',
        targetType: 'admin',
        targetId: admin.id,
        after: { pending: true, replacedPending: admin.totp_secret !== null },
      })
    })
    return { otpauthUri: otpauthUri(secret, admin.name), secret }
  }

  /**
   * Confirms a pending enrolment with a first code: 2FA is on from now, and ten recovery codes are
   * made (shown once). A cookie session that confirmed has proved the second factor, so it counts
   * as signed in with TOTP from here on.
   */
  async confirm(
    principal: AdminPrincipal,
    code: string,
    actor: Actor,
  ): Promise<{ enabledAt: Date; recoveryCodes: string[] }> {
    const admin = await this.admin(this.deps.db, principal.adminId)
    if (admin.totp_enabled_at !== null) throw conflict('two-factor sign-in is already enabled')
    if (!admin.totp_secret)
      throw conflict('no enrolment to confirm: start one with POST /api/v1/auth/2fa/enrol')
    if (!(await acceptTotpCode(this.deps.db, this.deps.box, admin, code)))
      throw invalid(
        'the code is wrong or was already used: enter the current code from the authenticator app',
      )
    return this.deps.store.write(actor, async (w) => {
      const row = await w.transaction
        .updateTable('admins')
        .set({ totp_enabled_at: sql<Date>`now()` })
        .where('id', '=', admin.id)
        .where('totp_secret', '=', admin.totp_secret)
        .where('totp_enabled_at', 'is', null)
        .returning('totp_enabled_at')
        .executeTakeFirst()
      if (!row?.totp_enabled_at)
        throw conflict('the enrolment changed meanwhile (by another request): enrol again')
      const recoveryCodes = await replaceRecoveryCodes(w.transaction, admin.id)
      if (principal.via === 'session' && principal.sessionId) {
        await w.transaction
          .updateTable('admin_sessions')
          .set({ second_factor: 'totp' })
          .where('id', '=', principal.sessionId)
          .where('second_factor', '=', 'none')
          .execute()
      }
      await w.audit({
        action: 'auth.2fa.confirm',
        targetType: 'admin',
        targetId: admin.id,
        after: { enabled: true, recoveryCodes: RECOVERY_CODE_COUNT },
      })
      return { enabledAt: new Date(row.totp_enabled_at), recoveryCodes }
    })
  }

  /** Ten new recovery codes for the old ones (used or not), on a current TOTP code. */
  async regenerateRecoveryCodes(principal: AdminPrincipal, code: string, actor: Actor): Promise<string[]> {
    const admin = await this.admin(this.deps.db, principal.adminId)
    if (admin.totp_enabled_at === null)
      throw conflict('two-factor sign-in is not enabled: enrol first (POST /api/v1/auth/2fa/enrol)')
    if (!(await acceptTotpCode(this.deps.db, this.deps.box, admin, code)))
      throw invalid(
        'the code is wrong or was already used: enter the current code from the authenticator app',
      )
    return this.deps.store.write(actor, async (w) => {
      const before = await recoveryCodesLeft(w.transaction, admin.id)
      const codes = await replaceRecoveryCodes(w.transaction, admin.id)
      await w.audit({
        action: 'auth.recovery-codes.regenerate',
        targetType: 'admin',
        targetId: admin.id,
        before: { recoveryCodesLeft: before },
        after: { recoveryCodesLeft: codes.length },
      })
      return codes
    })
  }

  /** Turns 2FA off (password and a current code), unless the policy requires it for the admin. */
  async disable(principal: AdminPrincipal, password: string, code: string, actor: Actor): Promise<void> {
    const policy = await this.deps.policy.get()
    const required = rolesRequiringTwoFactor(policy, principal.grants)
    if (required.length > 0) {
      throw forbidden(
        `two-factor sign-in cannot be turned off: the security policy requires it for ${required.join(', ')}`,
      )
    }
    const admin = await this.admin(this.deps.db, principal.adminId)
    if (!admin.totp_secret) throw conflict('two-factor sign-in is not enabled')
    await this.checkPassword(admin, password, actor, 'auth.2fa.disable')
    if (admin.totp_enabled_at !== null && !(await acceptTotpCode(this.deps.db, this.deps.box, admin, code)))
      throw invalid(
        'the code is wrong or was already used: enter the current code from the authenticator app',
      )
    await this.deps.store.write(actor, async (w) => {
      await w.transaction
        .updateTable('admins')
        .set({ totp_secret: null, totp_enabled_at: null, totp_last_step: null })
        .where('id', '=', admin.id)
        .execute()
      await w.transaction.deleteFrom('admin_recovery_codes').where('admin_id', '=', admin.id).execute()
      await w.audit({
        action: 'auth.2fa.disable',
        targetType: 'admin',
        targetId: admin.id,
        before: { enabled: admin.totp_enabled_at !== null },
        after: { enabled: false },
      })
    })
  }
}
