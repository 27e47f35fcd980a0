import {
  type CsvConfig,
  configuredHeader,
  defaultHeaders,
  type LogicalColumn,
  logicalColumns,
} from './csv-config'
import { type CsvRowError } from './hr-csv-error'

/**
 * Finds each logical column in the file's header. Header names are compared trimmed and
 * case-insensitively, because exports differ in both ("Email ", "EMAIL").
 */

export interface ResolvedColumns {
  /** Field index of each logical column the file has. */
  index: Partial<Record<LogicalColumn, number>>
  /** The file's own header for each column found, to name it in errors the admin will recognise. */
  label: Partial<Record<LogicalColumn, string>>
}

export function resolveColumns(
  header: readonly string[],
  headerRow: number,
  config: CsvConfig,
): { columns: ResolvedColumns; errors: CsvRowError[] } {
  const normalised = header.map((h) => h.trim().toLowerCase())
  const columns: ResolvedColumns = { index: {}, label: {} }
  const errors: CsvRowError[] = []

  for (const column of logicalColumns) {
    const configured = configuredHeader(config, column)
    const candidates = configured === undefined ? defaultHeaders(column) : [configured]
    let found = false
    for (const candidate of candidates) {
      const wanted = candidate.trim().toLowerCase()
      const at = positions(normalised, wanted)
      const first = at[0]
      if (first === undefined) continue
      found = true
      const label = header[first]?.trim() ?? candidate
      if (at.length > 1) {
        errors.push({
          row: headerRow,
          column: label,
          reason: `the header has "${label}" ${at.length} times (columns ${at.map((i) => i + 1).join(', ')}); orgsync cannot tell which is ${column}`,
        })
      }
      columns.index[column] = first
      columns.label[column] = label
      break
    }
    if (!found && configured !== undefined) {
      errors.push({
        row: headerRow,
        column: configured,
        reason: `the header has no "${configured}" column, which the source's config names as ${column}`,
      })
    }
  }

  const index = columns.index
  if (index.employee_id === undefined && configuredHeader(config, 'employee_id') === undefined) {
    errors.push({
      row: headerRow,
      column: 'employee_id',
      reason: `the header has no employee_id column (it has: ${header.join(', ')}); rename the column or map it in the source's config`,
    })
  }
  const nameConfigured = configuredHeader(config, 'name') !== undefined
  if (
    index.name === undefined &&
    !nameConfigured &&
    (index.given_name === undefined || index.family_name === undefined)
  ) {
    errors.push({
      row: headerRow,
      column: 'name',
      reason: 'the header needs a name column, or both given_name and family_name',
    })
  }
  return { columns, errors }
}

function positions(values: readonly string[], wanted: string): number[] {
  const at: number[] = []
  values.forEach((v, i) => {
    if (v === wanted) at.push(i)
  })
  return at
}
