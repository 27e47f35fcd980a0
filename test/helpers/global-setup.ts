import { migrateToLatest } from '../../src/db/migrate'
import { openDatabase } from '../../src/db/open-database'
import { randomBytes } from 'node:crypto'
import { databaseUrl, onServer } from './postgres-admin'

/**
 * With TEST_DATABASE_URL, builds one migrated template database; each test file then copies it
 * (CREATE DATABASE … TEMPLATE), which is much faster than migrating per file.
 */
export default async function globalSetup(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL
  if (!url) {
    process.stdout.write(
      '\n[orgsync tests] PostgreSQL runs skipped: TEST_DATABASE_URL is not set, so store tests run on embedded ' +
        'PGlite only. Install PostgreSQL and set TEST_DATABASE_URL=postgres://user@127.0.0.1:5432/db to run them too ' +
        '(.ci/run does).\n',
    )
    return
  }
  const template = `orgsync_test_template_${randomBytes(5).toString('hex')}`
  process.env.ORGSYNC_TEST_TEMPLATE = template
  await onServer(url, [`create database ${template}`])
  const handle = await openDatabase({ kind: 'postgres', url: databaseUrl(url, template), poolMax: 1 })
  try {
    await migrateToLatest(handle.db)
  } finally {
    await handle.close()
  }
}
