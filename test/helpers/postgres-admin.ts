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
