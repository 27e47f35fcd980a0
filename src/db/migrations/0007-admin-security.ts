import { sql, type Kysely } from 'kysely'

/**
 * Admin sign-in (password, TOTP, recovery codes, sessions, lockout), scoped and expiring role
 * grants, custom roles, dual-approval requests and per-token network allowlists.
 */
const statements = [
  `alter table admins
     add column password_hash text,
     add column totp_secret text,
     add column totp_enabled_at timestamptz,
     add column totp_last_step bigint,
     add column failed_signins integer not null default 0,
     add column locked_until timestamptz,
     add column last_signin_at timestamptz`,

  `create table admin_recovery_codes (
    id uuid primary key,
    admin_id uuid not null references admins (id) on delete cascade,
    code_hash bytea not null unique,
    created_at timestamptz not null default now(),
    used_at timestamptz
  )`,
  `create index admin_recovery_codes_admin on admin_recovery_codes (admin_id)`,

  `create table admin_sessions (
    id uuid primary key,
    admin_id uuid not null references admins (id) on delete cascade,
    token_hash bytea not null unique,
    csrf_hash bytea not null,
    second_factor text not null check (second_factor in ('totp', 'recovery', 'none')),
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz,
    ip text,
    user_agent text
  )`,
  `create index admin_sessions_admin on admin_sessions (admin_id)`,

  // Failed sign-ins per key (an IP, an account name) in a fixed window, shared by all replicas.
  `create table signin_throttle (
    key text primary key,
    window_start timestamptz not null,
    failures integer not null
  )`,

  `alter table admin_role_grants
     add column scope_source_id uuid references sources (id) on delete cascade,
     add column revoked_at timestamptz,
     add column revoked_by text,
     add column reason text,
     add constraint admin_role_grants_one_scope
       check (scope_department_id is null or scope_source_id is null)`,

  `create table admin_roles (
    name text primary key check (name ~ '^[a-z][a-z0-9-]{1,62}$'),
    description text,
    permissions jsonb not null,
    scope_kind text not null check (scope_kind in ('global', 'department', 'source')),
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,

  `create table approval_requests (
    id uuid primary key,
    operation text not null,
    payload jsonb not null,
    payload_hash bytea not null,
    summary text not null,
    requested_by uuid not null references admins (id),
    requested_at timestamptz not null default now(),
    expires_at timestamptz not null,
    status text not null check (status in ('pending', 'executing', 'executed', 'rejected', 'cancelled', 'failed')),
    decided_by uuid references admins (id),
    decided_at timestamptz,
    result jsonb,
    error text
  )`,
  `create index approval_requests_pending on approval_requests (status, requested_at)`,

  `alter table scim_tokens add column allowed_cidrs jsonb`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'alter table scim_tokens drop column if exists allowed_cidrs',
    'drop table if exists approval_requests',
    'drop table if exists admin_roles',
    `alter table admin_role_grants drop constraint if exists admin_role_grants_one_scope,
       drop column if exists scope_source_id, drop column if exists revoked_at,
       drop column if exists revoked_by, drop column if exists reason`,
    'drop table if exists signin_throttle',
    'drop table if exists admin_sessions',
    'drop table if exists admin_recovery_codes',
    `alter table admins drop column if exists password_hash, drop column if exists totp_secret,
       drop column if exists totp_enabled_at, drop column if exists totp_last_step,
       drop column if exists failed_signins, drop column if exists locked_until,
       drop column if exists last_signin_at`,
  ]) {
    await sql.raw(statement).execute(db)
  }
}
