import { csvConfigSchema } from '../../../connectors/csv/csv-config'

describe('csvConfigSchema', () => {
  test.each<[string, unknown]>([
    ['nothing', {}],
    ['a semicolon delimiter', { delimiter: ';' }],
    ['a tab delimiter', { delimiter: '\t' }],
    ['an 8-character department delimiter', { departmentDelimiter: ' >>>>> ' }],
    [
      'every column mapped',
      {
        columns: {
          employee_id: 'Personalnummer',
          name: 'Name',
          given_name: 'Vorname',
          family_name: 'Nachname',
          email: 'E-Mail',
          title: 'Titel',
          department: 'Abteilung',
          manager: 'Vorgesetzter',
          status: 'Status',
        },
      },
    ],
    ['rank and active as column keys', { columns: { rank: 'Dienstgrad', active: 'Aktiv' } }],
  ])('accepts %s', (_name, config) => {
    expect(csvConfigSchema.safeParse(config).success).toBe(true)
  })

  test.each<[string, unknown, string]>([
    ['an unknown setting', { sheet: 1 }, 'sheet'],
    ['a two-character delimiter', { delimiter: ';;' }, 'one character'],
    ['a quote as delimiter', { delimiter: '"' }, 'quote'],
    ['a line break as delimiter', { delimiter: '\n' }, 'line break'],
    ['an empty department delimiter', { departmentDelimiter: '' }, 'must not be empty'],
    ['a 9-character department delimiter', { departmentDelimiter: '123456789' }, 'at most 8'],
    ['an unknown column key', { columns: { employee_number: 'Nr' } }, 'employee_number'],
    ['an empty header name', { columns: { email: ' ' } }, 'must not be empty'],
    ['title and rank both mapped', { columns: { title: 'Titel', rank: 'Rang' } }, 'same column'],
    ['status and active both mapped', { columns: { status: 'S', active: 'A' } }, 'same column'],
  ])('refuses %s', (_name, config, message) => {
    const result = csvConfigSchema.safeParse(config)
    expect(result.success).toBe(false)
    expect(JSON.stringify(result.error?.issues)).toContain(message)
  })
})
