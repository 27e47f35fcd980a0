/** A role grant as authorisation sees it: live (not expired, not revoked) at the time of the request. */
export interface Grant {
  id: string
  role: string
  /** Both null: the whole organisation. */
  scopeDepartmentId: string | null
  scopeSourceId: string | null
  expiresAt: Date | null
}

/** The admin a request acts for, set by authentication in `res.locals.admin`. */
export interface AdminPrincipal {
  adminId: string
  name: string
  /** How this request authenticated. */
  via: 'token' | 'session'
  tokenId?: string
  sessionId?: string
  /**
   * Set when the policy requires a second factor this admin has not enrolled yet (or the session
   * skipped it): only their own account's routes (2FA enrolment, sign-out) are open to them.
   */
  restricted?: string
  grants: Grant[]
}
