import { sql, type Kysely } from 'kysely'

/**
 * Reports whose manager (named by the source's id) has not arrived yet. A push source may send a
 * report before their manager; the manager's arrival binds them. Kept apart from identities so the
 * lookup at each arrival reads a table as small as the number of people waiting, whatever the
 * planner's statistics say about a fast-growing identities table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table pending_manager_links (
    source_id uuid not null references sources (id) on delete cascade,
    person_id uuid not null references people (id) on delete cascade,
    manager_external_id text not null,
    primary key (source_id, person_id)
  )`.execute(db)
  await sql`create index pending_manager_links_manager on pending_manager_links (source_id, manager_external_id)`.execute(
    db,
  )
  await sql`drop index if exists identities_manager_ref`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists pending_manager_links`.execute(db)
  await sql`create index identities_manager_ref on identities (source_id, (attributes -> 'manager' ->> 'externalId'))
     where attributes -> 'manager' ->> 'externalId' is not null`.execute(db)
}
