import { Migrator, type Kysely, type MigrationResultSet } from 'kysely'
import { migrations } from './migrations'

// Migrations work on any database type: they create the tables the types describe.
function migrator<T>(db: Kysely<T>): Migrator {
  return new Migrator({
    db: db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableName: 'orgsync_migrations',
    migrationLockTableName: 'orgsync_migrations_lock',
  })
}

/** Applies every pending migration; several replicas starting together take turns (Kysely's lock). */
export async function migrateToLatest<T>(db: Kysely<T>): Promise<string[]> {
  const result: MigrationResultSet = await migrator(db).migrateToLatest()
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')
    const cause = result.error instanceof Error ? result.error.message : String(result.error)
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${cause}`, {
      cause: result.error,
    })
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** Names of migrations this build knows that the database has not applied. */
export async function pendingMigrations<T>(db: Kysely<T>): Promise<string[]> {
  const all = await migrator(db).getMigrations()
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name)
}
