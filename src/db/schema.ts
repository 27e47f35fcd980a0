import type { ColumnType, Generated } from 'kysely'

/** Table types of the org store. Snake case as in SQL; the API layer maps to its own shapes. */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
type Json<T = unknown> = ColumnType<T, string, string>
type JsonNullable<T = unknown> = ColumnType<T | null, string | null | undefined, string | null>

export type PersonStatus = 'active' | 'suspended' | 'deprovisioned'
export type SourceMode = 'auto' | 'review'
/** 'anonymous': nobody we know, e.g. a failed sign-in under an unknown name. */
export type ActorType = 'admin' | 'source' | 'system' | 'anonymous'

export interface SettingsTable {
  key: string
  value: Json
  updated_at: Timestamp
}

export interface SourcesTable {
  id: string
  type: string
  name: string
  config: Json<Record<string, unknown>>
  secrets: string | null
  mode: ColumnType<SourceMode, SourceMode | undefined, SourceMode>
  schedule: string | null
  precedence: ColumnType<number, number | undefined, number>
  enabled: ColumnType<boolean, boolean | undefined, boolean>
  policy: ColumnType<Record<string, unknown>, string | undefined, string>
  generation: ColumnType<number, number | undefined, number>
  cursor: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface DepartmentsTable {
  id: Generated<string>
  parent_id: string | null
  name: string
  path: string
  id_path: string
  depth: number
  virtual: ColumnType<boolean, boolean | undefined, boolean>
  source_id: string | null
  external_id: string | null
  version: ColumnType<number, number | undefined, number>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface PeopleTable {
  id: Generated<string>
  user_name: string
  display_name: string | null
  given_name: string | null
  family_name: string | null
  email: string | null
  employee_number: string | null
  title: string | null
  department_id: string | null
  manager_id: string | null
  status: ColumnType<PersonStatus, PersonStatus | undefined, PersonStatus>
  suspended_reason: string | null
  suspended_at: Date | null
  suspended_by_source_id: string | null
  remove_after: Date | null
  protected: ColumnType<boolean, boolean | undefined, boolean>
  provenance: Json<Record<string, { sourceId: string | null; at: string }>>
  search_text: ColumnType<string, never, never>
  version: ColumnType<number, number | undefined, number>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface IdentitiesTable {
  id: Generated<string>
  source_id: string
  external_id: string
  person_id: string | null
  user_name: string | null
  attributes: Json<Record<string, unknown>>
  raw: JsonNullable
  active: ColumnType<boolean, boolean | undefined, boolean>
  removed_at: Date | null
  version: ColumnType<number, number | undefined, number>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface GroupsTable {
  id: Generated<string>
  display_name: string
  description: string | null
  source_id: string | null
  external_id: string | null
  raw: JsonNullable
  version: ColumnType<number, number | undefined, number>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface GroupMembersTable {
  group_id: string
  person_id: string
  added_at: Timestamp
}

export interface AuditEventsTable {
  seq: Generated<number>
  at: Timestamp
  actor_type: ActorType
  actor_id: string | null
  actor_name: string | null
  ip: string | null
  request_id: string | null
  action: string
  target_type: string
  target_id: string | null
  before: JsonNullable
  after: JsonNullable
  user_agent: string | null
  /** The hash of the event before this one in the chain (the anchor's for the first). */
  prev_hash: ColumnType<Uint8Array, Buffer, Buffer>
  /** sha256(prev_hash || canonical JSON of the event): see src/org/audit-chain.ts. */
  hash: ColumnType<Uint8Array, Buffer, Buffer>
}

/** The one row that pins the audit chain's ends: the newest event, and where a prune cut it. */
export interface AuditChainHeadTable {
  id: ColumnType<number, 1, never>
  last_seq: number
  last_hash: ColumnType<Uint8Array, Buffer, Buffer>
  anchor_seq: number
  anchor_hash: ColumnType<Uint8Array, Buffer, Buffer>
}

export interface AdminsTable {
  id: string
  name: string
  email: string | null
  disabled_at: Date | null
  created_at: Timestamp
  /** scrypt, self-describing (`scrypt$N$r$p$salt$hash`); null: this admin signs in with tokens only. */
  password_hash: string | null
  /** The TOTP secret, sealed with the secret box (context: the admin's id). */
  totp_secret: string | null
  /** Set once a first code confirmed the enrolment; before that the secret is pending. */
  totp_enabled_at: Date | null
  /** Last accepted TOTP time step: a code is accepted once. */
  totp_last_step: ColumnType<number | null, number | null | undefined, number | null>
  failed_signins: ColumnType<number, number | undefined, number>
  locked_until: Date | null
  last_signin_at: Date | null
}

export interface AdminRecoveryCodesTable {
  id: string
  admin_id: string
  code_hash: ColumnType<Uint8Array, Buffer, Buffer>
  created_at: Timestamp
  used_at: Date | null
}

export type SecondFactor = 'totp' | 'recovery' | 'none'

export interface AdminSessionsTable {
  id: string
  admin_id: string
  token_hash: ColumnType<Uint8Array, Buffer, Buffer>
  csrf_hash: ColumnType<Uint8Array, Buffer, Buffer>
  second_factor: SecondFactor
  created_at: Timestamp
  last_seen_at: Timestamp
  expires_at: Timestamp
  revoked_at: Date | null
  ip: string | null
  user_agent: string | null
}

export interface SigninThrottleTable {
  key: string
  window_start: Timestamp
  failures: number
}

export type RoleScopeKind = 'global' | 'department' | 'source'

export interface AdminRolesTable {
  name: string
  description: string | null
  permissions: Json<string[]>
  scope_kind: RoleScopeKind
  created_by: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export type ApprovalStatus = 'pending' | 'executing' | 'executed' | 'rejected' | 'cancelled' | 'failed'

export interface ApprovalRequestsTable {
  id: string
  operation: string
  payload: Json
  payload_hash: ColumnType<Uint8Array, Buffer, Buffer>
  summary: string
  requested_by: string
  requested_at: Timestamp
  expires_at: Timestamp
  status: ApprovalStatus
  decided_by: string | null
  decided_at: Date | null
  result: JsonNullable
  error: string | null
}

export type AdminTokenOrigin = 'env' | 'generated' | 'api'

export interface AdminTokensTable {
  id: string
  admin_id: string
  name: string
  /** PGlite returns bytea as Uint8Array, pg as Buffer (a Uint8Array too). */
  token_hash: ColumnType<Uint8Array, Buffer, Buffer>
  origin: AdminTokenOrigin
  created_at: Timestamp
  last_used_at: Date | null
  expires_at: Date | null
  revoked_at: Date | null
}

export interface AdminRoleGrantsTable {
  id: string
  admin_id: string
  role: string
  scope_department_id: string | null
  scope_source_id: string | null
  expires_at: Date | null
  granted_by: string | null
  created_at: Timestamp
  revoked_at: Date | null
  revoked_by: string | null
  reason: string | null
}

export type PlanStatus = 'planning' | 'ready' | 'held' | 'failed' | 'applied' | 'rejected' | 'stale'
export type RunTrigger = 'manual' | 'schedule' | 'upload'
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'held' | 'awaiting-review'

export interface PlansTable {
  id: Generated<string>
  source_id: string
  status: PlanStatus
  trigger: RunTrigger
  full_listing: ColumnType<boolean, boolean | undefined, boolean>
  summary: ColumnType<unknown, string | undefined, string>
  change_count: ColumnType<number, number | undefined, number>
  source_generation: number
  cursor_after: string | null
  resync_reason: string | null
  held_reason: string | null
  error: string | null
  error_details: JsonNullable
  created_by: string | null
  created_at: Timestamp
  approved_by: string | null
  approved_at: Date | null
  decided_by: string | null
  decided_at: Date | null
  applied_at: Date | null
}

export interface PlanChangesTable {
  plan_id: string
  seq: number
  kind: string
  target_id: string | null
  ref: string | null
  base_version: number | null
  department_id: string | null
  protected: ColumnType<boolean, boolean | undefined, boolean>
  before: JsonNullable<Record<string, unknown>>
  after: JsonNullable<Record<string, unknown>>
}

export interface RunsTable {
  id: Generated<string>
  source_id: string
  plan_id: string | null
  trigger: RunTrigger
  slot: string | null
  status: RunStatus
  attempts: ColumnType<number, number | undefined, number>
  counts: JsonNullable<Record<string, number>>
  error: string | null
  claimed_by: string
  heartbeat_at: Timestamp
  started_at: Timestamp
  finished_at: Date | null
}

export interface ScimTokensTable {
  id: Generated<string>
  source_id: string
  name: string | null
  token_hash: ColumnType<Uint8Array, Buffer, Buffer>
  created_by: string | null
  created_at: Timestamp
  last_used_at: Date | null
  revoked_at: Date | null
  /** CIDRs this token may be used from; null: anywhere the admin API's policy allows SCIM. */
  allowed_cidrs: JsonNullable<string[]>
}

export type LeaverAction = 'suspend' | 'deprovision'
export type LeaverStatus = 'applied' | 'held' | 'approved' | 'discarded' | 'superseded'

export interface ScimLeaverEventsTable {
  id: Generated<string>
  source_id: string
  identity_id: string
  person_id: string | null
  action: LeaverAction
  status: LeaverStatus
  requested_by: string | null
  at: Timestamp
  decided_by: string | null
  decided_at: Date | null
}

export interface PendingManagerLinksTable {
  source_id: string
  person_id: string
  manager_external_id: string
}

/** A view: group members by their SCIM id (their identity in the group's source). */
export interface ScimGroupMembersView {
  group_id: string
  value: string
  person_id: string
}

export interface DB {
  settings: SettingsTable
  sources: SourcesTable
  departments: DepartmentsTable
  people: PeopleTable
  identities: IdentitiesTable
  groups: GroupsTable
  group_members: GroupMembersTable
  audit_events: AuditEventsTable
  audit_chain_head: AuditChainHeadTable
  admins: AdminsTable
  admin_tokens: AdminTokensTable
  admin_role_grants: AdminRoleGrantsTable
  admin_recovery_codes: AdminRecoveryCodesTable
  admin_sessions: AdminSessionsTable
  signin_throttle: SigninThrottleTable
  admin_roles: AdminRolesTable
  approval_requests: ApprovalRequestsTable
  plans: PlansTable
  plan_changes: PlanChangesTable
  runs: RunsTable
  scim_tokens: ScimTokensTable
  pending_manager_links: PendingManagerLinksTable
  scim_leaver_events: ScimLeaverEventsTable
  scim_group_members: ScimGroupMembersView
}
