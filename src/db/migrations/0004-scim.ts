import { sql, type Kysely } from 'kysely'

/** The SCIM service provider: bearer tokens per source, group documents, the leaver guard's ledger. */
const statements = [
  // A SCIM group's document as the provider sent it (externalId and such); members live in group_members.
  `alter table groups add column raw jsonb`,

  `create table scim_tokens (
    id uuid primary key default gen_random_uuid(),
    source_id uuid not null references sources (id) on delete cascade,
    name text,
    token_hash bytea not null unique,
    created_by text,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz
  )`,
  `create index scim_tokens_source on scim_tokens (source_id, created_at)`,

  // Every leaver a SCIM source caused (disable or delete): the rolling window of the guard counts these
  // rows, and the held ones wait here for an admin.
  `create table scim_leaver_events (
    id uuid primary key default gen_random_uuid(),
    source_id uuid not null references sources (id) on delete cascade,
    identity_id uuid not null references identities (id) on delete cascade,
    person_id uuid references people (id) on delete set null,
    action text not null check (action in ('suspend', 'deprovision')),
    status text not null check (status in ('applied', 'held', 'approved', 'discarded', 'superseded')),
    requested_by text,
    at timestamptz not null default now(),
    decided_by text,
    decided_at timestamptz
  )`,
  `create index scim_leaver_events_window on scim_leaver_events (source_id, at)`,
  `create index scim_leaver_events_held on scim_leaver_events (source_id, at) where status = 'held'`,
  `create index scim_leaver_events_identity on scim_leaver_events (identity_id) where status = 'held'`,

  // Reports waiting for a manager who arrives later in a push find each other through this.
  `create index identities_manager_ref on identities (source_id, (attributes -> 'manager' ->> 'externalId'))
     where attributes -> 'manager' ->> 'externalId' is not null`,
  // List order of SCIM users (and the ORDER BY of sortBy=userName) without a sort.
  `create index identities_source_order on identities (source_id, id) where removed_at is null`,

  // Pushes name departments by path ("Engineering/Platform"), ignoring case as sibling names do.
  `create index departments_path_lower on departments (lower(path))`,

  // Group members as SCIM sees them: the member's SCIM id is their identity in the group's source.
  `create view scim_group_members as
     select gm.group_id, i.id as value, gm.person_id
     from group_members gm
     join groups g on g.id = gm.group_id
     join identities i on i.person_id = gm.person_id and i.source_id = g.source_id and i.removed_at is null`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'drop view if exists scim_group_members',
    'drop index if exists departments_path_lower',
    'drop index if exists identities_source_order',
    'drop index if exists identities_manager_ref',
    'drop table if exists scim_leaver_events',
    'drop table if exists scim_tokens',
    'alter table groups drop column if exists raw',
  ])
    await sql.raw(statement).execute(db)
}
