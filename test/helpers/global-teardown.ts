import { onServer } from './postgres-admin'

export default async function globalTeardown(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL
  const template = process.env.ORGSYNC_TEST_TEMPLATE
  if (url && template) await onServer(url, [`drop database if exists ${template} with (force)`])
}
