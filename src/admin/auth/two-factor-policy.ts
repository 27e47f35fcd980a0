import type { SecondFactor } from '../../db/schema'
import { GLOBAL_ADMIN } from '../authz/roles'
import type { Grant } from '../authz/principal'
import type { SecurityPolicy } from '../security-policy'

/**
 * The roles among an admin's live grants for which the policy demands a second factor: global-admin
 * when `requiredForGlobalAdmins` (the default), and every role `requiredForRoles` names.
 */
export function rolesRequiringTwoFactor(policy: SecurityPolicy, grants: readonly Grant[]): string[] {
  const named = new Set(policy.twoFactor.requiredForRoles)
  if (policy.twoFactor.requiredForGlobalAdmins) named.add(GLOBAL_ADMIN)
  return [...new Set(grants.map((g) => g.role).filter((role) => named.has(role)))].sort()
}

/**
 * Why a cookie session may only reach the admin's own account routes, or undefined when it may go
 * wherever the grants allow. Bearer tokens never get here: the operator's bootstrap token must
 * always work, and personal tokens can only be created from an unrestricted session.
 */
export function sessionRestriction(
  policy: SecurityPolicy,
  grants: readonly Grant[],
  state: { totpEnabled: boolean; secondFactor: SecondFactor },
): string | undefined {
  const roles = rolesRequiringTwoFactor(policy, grants)
  if (roles.length === 0) return undefined
  const which = `the security policy requires two-factor sign-in for ${roles.length === 1 ? 'role' : 'roles'} ${roles.join(', ')}`
  if (!state.totpEnabled) {
    return `${which}: until you enrol an authenticator app (POST /api/v1/auth/2fa/enrol, then POST /api/v1/auth/2fa/confirm) only your own account's routes are open`
  }
  if (state.secondFactor === 'none') {
    return `${which}: this session was not signed in with a code; sign out and sign in again with "code" (or "recoveryCode")`
  }
  return undefined
}
