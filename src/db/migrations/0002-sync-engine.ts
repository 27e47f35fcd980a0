import { sql, type Kysely } from 'kysely'

/** Plans, their changes, runs, and what the sync engine keeps per source. */
const statements = [
  // policy: matching rule, attribute precedence, deletion guard, grace period (validated by the app).
  `alter table sources add column policy jsonb not null default '{}'`,
  // Bumped by every applied plan: a plan computed against an older generation is stale.
  `alter table sources add column generation integer not null default 0`,
  // Where an incremental connector resumes; saved only when a plan applies.
  `alter table sources add column cursor text`,
  `alter table departments add column version integer not null default 1`,
  `alter table groups add column version integer not null default 1`,

  `create table plans (
    id uuid primary key default gen_random_uuid(),
    source_id uuid not null references sources (id) on delete cascade,
    status text not null check (status in ('planning', 'ready', 'held', 'failed', 'applied', 'rejected', 'stale')),
    trigger text not null check (trigger in ('manual', 'schedule', 'upload')),
    full_listing boolean not null default true,
    summary jsonb not null default '{}',
    change_count integer not null default 0,
    source_generation integer not null,
    cursor_after text,
    held_reason text,
    error text,
    error_details jsonb,
    created_by text,
    created_at timestamptz not null default now(),
    approved_by text,
    approved_at timestamptz,
    decided_by text,
    decided_at timestamptz,
    applied_at timestamptz
  )`,
  `create index plans_source on plans (source_id, created_at desc)`,

  `create table plan_changes (
    plan_id uuid not null references plans (id) on delete cascade,
    seq integer not null,
    kind text not null,
    target_id uuid,
    ref text,
    base_version integer,
    department_id uuid,
    protected boolean not null default false,
    before jsonb,
    after jsonb,
    primary key (plan_id, seq)
  )`,
  `create index plan_changes_kind on plan_changes (plan_id, kind, seq)`,

  `create table runs (
    id uuid primary key default gen_random_uuid(),
    source_id uuid not null references sources (id) on delete cascade,
    plan_id uuid references plans (id) on delete set null,
    trigger text not null check (trigger in ('manual', 'schedule', 'upload')),
    slot text,
    status text not null check (status in ('running', 'succeeded', 'failed', 'held', 'awaiting-review')),
    attempts integer not null default 1,
    counts jsonb,
    error text,
    claimed_by text not null,
    heartbeat_at timestamptz not null default now(),
    started_at timestamptz not null default now(),
    finished_at timestamptz
  )`,
  // One running run per source, across every process on this database.
  `create unique index runs_one_running_per_source on runs (source_id) where status = 'running'`,
  // A scheduled slot runs once, however many replicas fire for it.
  `create unique index runs_one_per_slot on runs (source_id, slot) where slot is not null`,
  `create index runs_source on runs (source_id, started_at desc)`,
]

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'drop table if exists runs',
    'drop table if exists plan_changes',
    'drop table if exists plans',
    'alter table groups drop column if exists version',
    'alter table departments drop column if exists version',
    'alter table sources drop column if exists cursor',
    'alter table sources drop column if exists generation',
    'alter table sources drop column if exists policy',
  ]) {
    await sql.raw(statement).execute(db)
  }
}
