import { type RemoteDepartment, type RemoteUser } from '../../src/sync/connector'
import { type CsvConfig, type LogicalColumn } from './csv-config'
import { DepartmentTree } from './department-tree'
import { resolveColumns, type ResolvedColumns } from './hr-columns'
import { type CsvRowError } from './hr-csv-error'
import { type CsvRecord, parseCsv } from './parse-csv'

/**
 * Maps an HR bulk-upload file to users and departments. Every problem in the file is collected, not
 * just the first: an HR admin fixes the spreadsheet once, not once per upload.
 */

export { csvConfigSchema, type CsvConfig } from './csv-config'
export { type CsvRowError } from './hr-csv-error'

export interface HrCsv {
  /** The valid rows; incomplete while `errors` is not empty, so never apply it then. */
  users: RemoteUser[]
  /** Every distinct department path prefix, parents before children. */
  departments: RemoteDepartment[]
  /** In row order. */
  errors: CsvRowError[]
}

export function readHrCsv(body: Buffer, config: CsvConfig): HrCsv {
  const parsed = parseCsv(body, { delimiter: config.delimiter })
  const errors: CsvRowError[] = parsed.errors.map((e) => ({ row: e.line, column: null, reason: e.reason }))
  if (parsed.header === null) {
    if (errors.length === 0) {
      errors.push({
        row: 1,
        column: null,
        reason: 'the file is empty: its first line must be the header (employee_id, name, email, …)',
      })
    }
    return { users: [], departments: [], errors }
  }
  const header = parsed.header.fields
  const resolved = resolveColumns(header, parsed.header.line, config)
  // Without the header's columns no row can be read reliably; the header errors say what to fix.
  if (resolved.errors.length > 0) {
    return { users: [], departments: [], errors: byRow([...errors, ...resolved.errors]) }
  }
  const mapper = new RowMapper(header, resolved.columns, config)
  for (const record of parsed.rows) mapper.add(record)
  const users = mapper.finish()
  return { users, departments: mapper.departments(), errors: byRow([...errors, ...mapper.errors]) }
}

const statusValues = new Map<string, boolean>([
  ['active', true],
  ['inactive', false],
  ['true', true],
  ['false', false],
  ['yes', true],
  ['no', false],
  ['1', true],
  ['0', false],
])

// Deliberately loose (Unicode local parts and domains are fine): it catches typos such as a missing
// "@" or domain, a space, or two addresses in one cell, not every RFC 5322 corner.
const emailPattern = /^[^\s@"<>,;]+@[^\s@"<>,;.]+(?:\.[^\s@"<>,;.]+)+$/u

// Chinese, Japanese and Korean names are written family name first and without a space (张伟).
const eastAsianName = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+$/u

interface PendingUser {
  row: number
  user: RemoteUser
  id: string
  emailKey: string | null
  managerRef: string
  valid: boolean
}

class RowMapper {
  readonly errors: CsvRowError[] = []
  private readonly pending: PendingUser[] = []
  /** employee_id → the first row that has it. */
  private readonly rowById = new Map<string, number>()
  /** Lower-cased email → the first row that has it, and the email as spelled there. */
  private readonly byEmail = new Map<string, { row: number; email: string }>()
  private readonly tree: DepartmentTree

  constructor(
    private readonly header: readonly string[],
    private readonly columns: ResolvedColumns,
    private readonly config: CsvConfig,
  ) {
    this.tree = new DepartmentTree(config.departmentDelimiter ?? '/')
  }

  add(record: CsvRecord): void {
    const { fields, line: row } = record
    // Spreadsheets export rows that look blank but keep their delimiters (",,,,"): not people.
    if (fields.every((f) => f.trim() === '')) return
    const get = (column: LogicalColumn): string | undefined => {
      const at = this.columns.index[column]
      return at === undefined ? undefined : (fields[at] ?? '').trim()
    }

    if (fields.length !== this.header.length) {
      const delimiter = this.config.delimiter ?? ','
      this.errors.push({
        row,
        column: null,
        reason:
          `the row has ${fields.length} fields but the header has ${this.header.length}: look for a missing or ` +
          `extra "${delimiter}", or a value containing "${delimiter}" that is not in quotes`,
      })
      // Its people can still be named as managers, so one broken row does not fail everyone they manage.
      this.remember(get('employee_id') ?? '', get('email') ?? '', row)
      return
    }

    const id = get('employee_id') ?? ''
    const email = get('email')
    const pending: PendingUser = {
      row,
      id,
      emailKey: email ? email.toLowerCase() : null,
      managerRef: get('manager') ?? '',
      valid: true,
      user: {
        externalId: id,
        userName: email || id,
        employeeNumber: id,
        active: true,
        raw: rawRecord(this.header, fields),
      },
    }
    const fail = (column: LogicalColumn | null, reason: string): void => {
      pending.valid = false
      this.errors.push({ row, column: column === null ? null : this.label(column), reason })
    }
    const user = pending.user

    if (id === '') fail('employee_id', 'employee_id is empty: every row needs one')
    else {
      const first = this.rowById.get(id)
      if (first !== undefined) {
        fail('employee_id', `employee_id "${id}" is on rows ${first} and ${row}; each person needs their own`)
      }
    }

    const name = get('name')
    const given = get('given_name')
    const family = get('family_name')
    const displayName = name || joinName(given ?? '', family ?? '')
    if (displayName === '')
      fail(this.columns.index.name !== undefined ? 'name' : 'given_name', 'the name is empty')
    user.displayName = displayName
    if (given !== undefined) user.givenName = given || null
    if (family !== undefined) user.familyName = family || null

    if (email !== undefined) {
      user.email = email || null
      if (email !== '') {
        if (!emailPattern.test(email)) fail('email', `email "${email}" is not a valid address`)
        const first = this.byEmail.get(email.toLowerCase())
        if (first !== undefined) {
          fail('email', `email "${email}" is on rows ${first.row} and ${row}; each person needs their own`)
        }
      }
    }

    const title = get('title')
    if (title !== undefined) user.title = title || null

    const department = get('department')
    if (department !== undefined) {
      const found = this.tree.add(department)
      if (found.ok) user.departmentExternalId = found.externalId
      else fail('department', found.reason)
    }

    const status = get('status')
    if (status !== undefined && status !== '') {
      const active = statusValues.get(status.toLowerCase())
      if (active === undefined) {
        fail('status', `status "${status}" is not one of ${[...statusValues.keys()].join(', ')}`)
      } else user.active = active
    }

    if (this.columns.index.manager !== undefined && pending.managerRef === '') user.manager = null
    this.remember(id, email ?? '', row)
    this.pending.push(pending)
  }

  /** Resolves managers (who may come later in the file) and returns the valid users. */
  finish(): RemoteUser[] {
    for (const p of this.pending) {
      const ref = p.managerRef
      if (ref === '') continue
      const refKey = ref.toLowerCase()
      const error = (reason: string): void => {
        p.valid = false
        this.errors.push({ row: p.row, column: this.label('manager'), reason })
      }
      if (ref === p.id || refKey === p.emailKey) {
        error(
          `manager "${ref}" is this person's own employee_id or email: someone cannot be their own manager`,
        )
      } else if (this.rowById.has(ref)) {
        p.user.manager = { employeeNumber: ref }
      } else {
        const manager = this.byEmail.get(refKey)
        if (manager !== undefined) p.user.manager = { email: manager.email }
        else error(`manager "${ref}" is not an employee_id or email in this file`)
      }
    }
    const users: RemoteUser[] = []
    for (const p of this.pending) if (p.valid) users.push(p.user)
    return users
  }

  departments(): RemoteDepartment[] {
    return this.tree.departments
  }

  private remember(id: string, email: string, row: number): void {
    if (id !== '' && !this.rowById.has(id)) this.rowById.set(id, row)
    const key = email.toLowerCase()
    if (key !== '' && !this.byEmail.has(key)) this.byEmail.set(key, { row, email })
  }

  private label(column: LogicalColumn): string {
    return this.columns.label[column] ?? column
  }
}

function joinName(given: string, family: string): string {
  if (given === '' || family === '') return given || family
  if (eastAsianName.test(given) && eastAsianName.test(family)) return family + given
  return `${given} ${family}`
}

/** The row as {header: value}, values as written; with a repeated header name the first column wins. */
function rawRecord(header: readonly string[], fields: readonly string[]): Record<string, string> {
  const raw: Record<string, string> = {}
  for (let i = 0; i < header.length; i++) {
    const key = header[i] ?? ''
    if (Object.hasOwn(raw, key)) continue
    const value = fields[i] ?? ''
    // Plain assignment keeps the object fast; "__proto__" would set the prototype instead of a key.
    if (key === '__proto__')
      Object.defineProperty(raw, key, { value, enumerable: true, writable: true, configurable: true })
    else raw[key] = value
  }
  return raw
}

function byRow(errors: CsvRowError[]): CsvRowError[] {
  // Array.prototype.sort is stable, so a row's errors keep their column order.
  return errors.sort((a, b) => a.row - b.row)
}
