import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { migrateToLatest } from '../../src/db/migrate'
import { openDatabase, type DatabaseHandle } from '../../src/db/open-database'
import { OrgStore } from '../../src/org/org-store'
import { databaseUrl, onServer, templateDatabase } from './postgres-admin'

export type DatabaseKind = 'pglite' | 'postgres'

export interface TestDatabase {
  readonly kind: DatabaseKind
  readonly handle: DatabaseHandle
  readonly store: OrgStore
  /**
   * PostgreSQL only: the connection URL of this test database, so a test can open a second,
   * independent handle to it (as another orgsync process would). PGlite has one connection only.
   */
  readonly url?: string
  /** Empties every table (between tests that must not see each other's rows). */
  reset(): Promise<void>
  close(): Promise<void>
}

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set (global setup says so when it is not). */
export function databaseKinds(): DatabaseKind[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite']
}

const TABLES = [
  'audit_events',
  'audit_chain_head',
  'approval_requests',
  'admin_sessions',
  'admin_recovery_codes',
  'signin_throttle',
  'admin_roles',
  'group_members',
  'groups',
  'identities',
  'people',
  'departments',
  'admin_role_grants',
  'admin_tokens',
  'admins',
  'sources',
  'settings',
]

/** A fresh, migrated database of its own: an in-memory PGlite, or a copy of the PostgreSQL template. */
export async function openTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  let handle: DatabaseHandle
  let dropAfter: (() => Promise<void>) | undefined
  let url: string | undefined
  if (kind === 'pglite') {
    handle = await openDatabase({ kind: 'pglite' })
    await migrateToLatest(handle.db)
  } else {
    const server = process.env.TEST_DATABASE_URL
    if (!server) throw new Error('TEST_DATABASE_URL is not set')
    const name = `orgsync_test_${randomBytes(6).toString('hex')}`
    await onServer(server, [`create database ${name} template ${templateDatabase()}`])
    url = databaseUrl(server, name)
    handle = await openDatabase({ kind: 'postgres', url, poolMax: 4 })
    dropAfter = () => onServer(server, [`drop database if exists ${name} with (force)`])
  }
  return {
    kind,
    handle,
    store: new OrgStore(handle.db, { parallelWrites: handle.parallelWrites }),
    url,
    async reset() {
      await sql.raw(`truncate ${TABLES.join(', ')} restart identity cascade`).execute(handle.db)
    },
    async close() {
      await handle.close()
      await dropAfter?.()
    },
  }
}

/** Declares the same suite once per database kind, each with its own database for the file. */
export function describeEachDatabase(
  title: string,
  body: (db: () => TestDatabase, kind: DatabaseKind) => void,
): void {
  for (const kind of databaseKinds()) {
    describe(`${title} [${kind}]`, () => {
      let current: TestDatabase | undefined
      beforeAll(async () => {
        current = await openTestDatabase(kind)
      }, 60_000)
      afterAll(async () => {
        await current?.close()
      })
      body(() => {
        if (!current) throw new Error('test database is not open (beforeAll failed)')
        return current
      }, kind)
    })
  }
}
