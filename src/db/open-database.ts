import { Kysely } from 'kysely'
import { PGlite, type Extension } from '@electric-sql/pglite'
import pg from 'pg'
import { PgliteDialect } from './pglite-dialect'
import { PipelinedPostgresDialect } from './pipelined-postgres'
import type { DB } from './schema'

export type DatabaseTarget =
  | { kind: 'postgres'; url: string; poolMax?: number }
  /** dataDir undefined keeps the database in memory (tests). */
  | { kind: 'pglite'; dataDir?: string }

export interface DatabaseHandle {
  readonly db: Kysely<DB>
  readonly kind: DatabaseTarget['kind']
  /**
   * Write transactions worth running at once: PGlite has one connection, so a second would only
   * queue behind the first; a PostgreSQL pool keeps half its connections for reads.
   */
  readonly parallelWrites: number
  close(): Promise<void>
}

// The package's contrib entry ships ESM-only type declarations although its require() build works.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pg_trgm } = require('@electric-sql/pglite/contrib/pg_trgm') as { pg_trgm: Extension }

// pg hands int8 (counts, sequences) back as strings; our int8 values stay far below 2^53.
const INT8_OID = 20
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format)
  },
}

export async function openDatabase(target: DatabaseTarget): Promise<DatabaseHandle> {
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      max: target.poolMax ?? 10,
      types: pgTypes as pg.CustomTypesConfig,
      application_name: 'orgsync',
      // Statements whose results nobody waits for (BEGIN, the audit append before COMMIT) share a
      // write with the next one: see PipelinedPostgresDialect.
      pipeline: true,
    })
    // A client losing its server (restart, failover, pg_terminate_backend) must not crash the
    // process: idle ones are covered by the pool's listener, checked-out ones by their own; the
    // next query on it fails with an ordinary error instead.
    pool.on('error', () => undefined)
    pool.on('connect', (client) => client.on('error', () => undefined))
    const db = new Kysely<DB>({ dialect: new PipelinedPostgresDialect(pool) })
    return {
      db,
      kind: 'postgres',
      parallelWrites: Math.max(1, Math.floor((target.poolMax ?? 10) / 2)),
      close: () => db.destroy(),
    }
  }
  const pglite = await PGlite.create(target.dataDir ?? 'memory://', { extensions: { pg_trgm } })
  const db = new Kysely<DB>({ dialect: new PgliteDialect(pglite) })
  return {
    db,
    kind: 'pglite',
    parallelWrites: 1,
    async close() {
      await db.destroy()
      if (!pglite.closed) await pglite.close()
    },
  }
}
