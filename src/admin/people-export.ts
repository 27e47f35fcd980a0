import { once } from 'node:events'
import type { Response } from 'express'
import type { PersonSummary } from '../org/people-queries'
import { csvCell } from './csv-cell'

export type ExportFormat = 'ndjson' | 'csv'

const COLUMNS = [
  'id',
  'userName',
  'displayName',
  'email',
  'title',
  'status',
  'department',
  'managerId',
] as const

function row(p: PersonSummary): Record<(typeof COLUMNS)[number], unknown> {
  return {
    id: p.id,
    userName: p.userName,
    displayName: p.displayName,
    email: p.email,
    title: p.title,
    status: p.status,
    department: p.department?.path ?? null,
    managerId: p.managerId,
  }
}

/** Streams pages of people as NDJSON or CSV, waiting for the client to drain between pages. */
export async function writeExport(
  res: Response,
  format: ExportFormat,
  pages: AsyncIterable<PersonSummary[]>,
): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  res.setHeader('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
  res.setHeader('Content-Disposition', `attachment; filename="people-${stamp}.${format}"`)
  res.setHeader('Cache-Control', 'no-store')
  if (format === 'csv') res.write(`${COLUMNS.join(',')}\r\n`)
  for await (const page of pages) {
    const chunk =
      format === 'csv'
        ? page.map((p) => `${COLUMNS.map((c) => csvCell(row(p)[c])).join(',')}\r\n`).join('')
        : page.map((p) => `${JSON.stringify(row(p))}\n`).join('')
    if (!res.write(chunk)) await once(res, 'drain')
    if (res.destroyed) return
  }
  res.end()
}
