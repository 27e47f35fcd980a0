import { z } from 'zod'

/**
 * What a CSV source may be configured with. HR exports name their columns in the HR system's own
 * language ("Personalnummer", "Abteilung"), so `columns` maps our logical columns to the file's headers.
 */

/** The columns orgsync reads; any other column is kept only in the identity's raw record. */
export const logicalColumns = [
  'employee_id',
  'name',
  'given_name',
  'family_name',
  'email',
  'title',
  'department',
  'manager',
  'status',
] as const
export type LogicalColumn = (typeof logicalColumns)[number]

/** Other names for the same logical column, accepted both as header names and as `columns` keys. */
export const columnAliases = { rank: 'title', active: 'status' } as const satisfies Record<
  string,
  LogicalColumn
>

const columnKeys = [...logicalColumns, ...(Object.keys(columnAliases) as (keyof typeof columnAliases)[])]
type ColumnKey = LogicalColumn | keyof typeof columnAliases

const headerName = z
  .string()
  .trim()
  .min(1, { message: 'columns: a header name must not be empty' })
  .optional()

export const csvConfigSchema = z
  .object({
    delimiter: z
      .string()
      .length(1, { message: 'delimiter must be one character, e.g. "," or ";"' })
      .refine((c) => c !== '"' && c !== '\r' && c !== '\n', {
        message: 'delimiter cannot be a quote or a line break',
      })
      .optional(),
    departmentDelimiter: z
      .string()
      .min(1, { message: 'departmentDelimiter must not be empty' })
      .max(8, { message: 'departmentDelimiter must be at most 8 characters' })
      .optional(),
    columns: z
      .strictObject(
        Object.fromEntries(columnKeys.map((key) => [key, headerName])) as Record<
          ColumnKey,
          typeof headerName
        >,
        {
          error: (issue) =>
            issue.code === 'unrecognized_keys'
              ? `columns: orgsync has no column ${issue.keys.map((k) => `"${k}"`).join(' or ')}; the keys are ${columnKeys.join(', ')}`
              : undefined,
        },
      )
      .optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const [alias, column] of Object.entries(columnAliases)) {
      if (
        config.columns?.[column] !== undefined &&
        config.columns[alias as keyof typeof columnAliases] !== undefined
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['columns', alias],
          message: `columns: "${alias}" and "${column}" are the same column; map only one of them`,
        })
      }
    }
  })

export type CsvConfig = z.infer<typeof csvConfigSchema>

/** The header name configured for a logical column, under its own name or an alias. */
export function configuredHeader(config: CsvConfig, column: LogicalColumn): string | undefined {
  const columns = config.columns
  if (columns === undefined) return undefined
  const own = columns[column]
  if (own !== undefined) return own
  for (const [alias, target] of Object.entries(columnAliases)) {
    if (target === column) return columns[alias as keyof typeof columnAliases]
  }
  return undefined
}

/** The header names looked for when a column is not configured, in order of preference. */
export function defaultHeaders(column: LogicalColumn): string[] {
  const names: string[] = [column]
  for (const [alias, target] of Object.entries(columnAliases)) if (target === column) names.push(alias)
  return names
}
