import { sql, type Kysely } from 'kysely'

/** The sync's matching rules and manager lookups find people by email and employee number. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index people_email_lower on people (lower(email))`.execute(db)
  await sql`create index people_employee_number on people (employee_number)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists people_email_lower`.execute(db)
  await sql`drop index if exists people_employee_number`.execute(db)
}
