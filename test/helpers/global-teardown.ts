import { TEMPLATE_DATABASE, onServer } from './postgres-admin'

export default async function globalTeardown(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL
  if (url) await onServer(url, [`drop database if exists ${TEMPLATE_DATABASE}`])
}
