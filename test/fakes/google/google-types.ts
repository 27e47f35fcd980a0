/**
 * Shapes shared by the Google Workspace fake. Field names follow the Admin SDK Directory API
 * resources (User, OrgUnit, Group, Member) so that seeded data reads like what the API returns.
 */

export interface GoogleUserName {
  givenName: string
  familyName: string
  fullName: string
}

export interface GoogleOrganization {
  title?: string
  department?: string
  costCenter?: string
  description?: string
  location?: string
  name?: string
  primary?: boolean
  type?: string
  customType?: string
}

export interface GoogleRelation {
  /** e.g. 'manager', 'assistant'; 'custom' with customType otherwise. */
  type: string
  /** Free text: Google stores whatever the admin typed, usually the manager's email. */
  value: string
  customType?: string
}

export interface GoogleExternalId {
  /** e.g. 'organization' (employee id), 'account', 'custom'. */
  type: string
  value: string
  customType?: string
}

export interface GoogleUser {
  id: string
  primaryEmail: string
  name: GoogleUserName
  suspended: boolean
  suspensionReason?: string
  archived: boolean
  orgUnitPath: string
  isAdmin: boolean
  organizations?: GoogleOrganization[]
  relations?: GoogleRelation[]
  externalIds?: GoogleExternalId[]
  aliases?: string[]
  creationTime: string
  lastLoginTime?: string
}

/** What addUser/seed accept: everything but primaryEmail is optional, and fullName is derived. */
export type GoogleUserInput = Partial<Omit<GoogleUser, 'name'>> & {
  primaryEmail: string
  name?: { givenName?: string; familyName?: string; fullName?: string }
}

export interface GoogleOrgUnit {
  /** "id:…" as the API returns it. */
  orgUnitId: string
  name: string
  /** "/" for the root. */
  orgUnitPath: string
  /** Absent for the root. */
  parentOrgUnitId?: string
  parentOrgUnitPath?: string
  description?: string
}

export type GoogleMemberRole = 'OWNER' | 'MANAGER' | 'MEMBER'
export type GoogleMemberType = 'USER' | 'GROUP' | 'CUSTOMER'

export interface GoogleMember {
  /** A user id, a group id, or the customer id (type CUSTOMER: "everyone in the organisation"). */
  id: string
  role: GoogleMemberRole
  type: GoogleMemberType
}

export interface GoogleGroup {
  id: string
  email: string
  name: string
  description: string
  members: GoogleMember[]
}

export interface GroupInput {
  email: string
  name: string
  description?: string
  /** User or group ids; roles default to MEMBER. */
  memberIds?: string[]
}

export type MemberInput = string | { id: string; role?: GoogleMemberRole }

export interface SeededGroup {
  id: string
  email: string
  name: string
  description: string
  members: { id: string; role: GoogleMemberRole }[]
}

export interface SeededWorkspace {
  domain: string
  /** Full paths, parents before children ("/Sales", "/Sales/EMEA"). */
  orgUnitPaths: string[]
  /** Complete users with ids; managers always appear before their reports. */
  users: GoogleUser[]
  groups: SeededGroup[]
}

export interface QuotaFault {
  status: 403 | 429
  /** How many of the next Directory API calls fail. */
  times: number
  /** Defaults: 403 → userRateLimitExceeded, 429 → rateLimitExceeded. */
  reason?: 'userRateLimitExceeded' | 'quotaExceeded' | 'rateLimitExceeded'
  /** Google's Directory docs promise no Retry-After, so none is sent unless asked for. */
  retryAfterSeconds?: number
}

export interface GoogleFakeQuirks {
  quota: QuotaFault | null
  /** Scopes the Workspace admin granted the service account's client id for domain-wide delegation. */
  delegationScopes: string[]
  /** Super admins: only these subjects may call the Directory API. Compared case-insensitively. */
  adminEmails: string[]
  /** expires_in of issued access tokens. */
  tokenLifetimeSeconds: number
}

export interface LoggedRequest {
  method: string
  path: string
  /** The query string including "?", or "" when there is none. */
  query: string
  status: number
}
