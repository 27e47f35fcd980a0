import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** Connection URL of another database on the same server as `url`. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** Runs statements on the server's maintenance connection (CREATE/DROP DATABASE cannot run in a transaction). */
export async function onServer(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const s of statements) await client.query(s)
  } finally {
    await client.end()
  }
}

/**
 * The migrated template this jest run copies per test file. Named per run (global setup picks it and
 * passes it to workers through the environment) so parallel runs on one server never share it.
 */
export function templateDatabase(): string {
  const name = process.env.ORGSYNC_TEST_TEMPLATE
  if (!name) throw new Error('ORGSYNC_TEST_TEMPLATE is not set: jest global setup did not run')
  return name
}

/**
 * describe() for a suite that needs a database of its own on TEST_DATABASE_URL's server: a copy of the
 * migrated template, created before the suite and dropped after it; fn gets its URL. Without
 * TEST_DATABASE_URL it registers one skipped test whose name says so (global setup prints it too).
 */
export function describeWithPostgresCopy(name: string, fn: (url: string) => void): void {
  const server = process.env.TEST_DATABASE_URL
  if (!server) {
    describe(name, () => {
      test.skip(`${name}: skipped, TEST_DATABASE_URL is not set (PostgreSQL only)`, () => undefined)
    })
    return
  }
  const database = `orgsync_test_${randomBytes(4).toString('hex')}`
  describe(name, () => {
    beforeAll(() => onServer(server, [`create database ${database} template ${templateDatabase()}`]))
    afterAll(() => onServer(server, [`drop database if exists ${database} with (force)`]))
    fn(databaseUrl(server, database))
  })
}
