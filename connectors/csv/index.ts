import {
  type CheckResult,
  type Connector,
  type ConnectorDefinition,
  type ConnectorDeps,
  ConnectorError,
  type Page,
  type RemoteDepartment,
  type RemoteGroup,
  type RemoteUser,
} from '../../src/sync/connector'
import { type CsvConfig, csvConfigSchema } from './csv-config'
import { type HrCsv, readHrCsv } from './hr-csv'
import { type CsvRowError } from './hr-csv-error'

/**
 * The CSV source: an HR system's export, uploaded as the body of a plan request. The file is the
 * whole listing, so it is read once and paged from memory; any invalid row fails the run, because a
 * partial roster would look like a wave of leavers.
 */

export { csvConfigSchema, type CsvConfig } from './csv-config'
export { readHrCsv, type HrCsv } from './hr-csv'
export { type CsvRowError } from './hr-csv-error'

export const PAGE_SIZE = 1000

const acceptedContentTypes = new Set(['text/csv', 'application/octet-stream', 'text/plain'])
const acceptedCharsets = new Set(['utf-8', 'utf8', 'us-ascii'])

export const csvConnector: ConnectorDefinition<CsvConfig> = {
  type: 'csv',
  description: 'CSV files uploaded from an HR system',
  configSchema: csvConfigSchema,
  secretKeys: [],
  upload: true,
  open(config: CsvConfig, deps: ConnectorDeps): Connector {
    return new CsvConnector(config, deps)
  },
}

class CsvConnector implements Connector {
  readonly type = 'csv'
  private result: HrCsv | undefined

  constructor(
    private readonly config: CsvConfig,
    private readonly deps: ConnectorDeps,
  ) {}

  async check(signal: AbortSignal): Promise<CheckResult> {
    signal.throwIfAborted()
    let result: HrCsv
    try {
      result = this.read()
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err
      return { ok: false, checks: [{ name: 'upload', ok: false, message: err.message }] }
    }
    signal.throwIfAborted()
    const upload: CheckResult['checks'][number] = {
      name: 'upload',
      ok: true,
      message: 'a CSV file was uploaded',
    }
    if (result.errors.length > 0) {
      const shown = result.errors.slice(0, 5).map(describe).join('; ')
      const more = result.errors.length > 5 ? `; and ${result.errors.length - 5} more` : ''
      return {
        ok: false,
        checks: [upload, { name: 'rows', ok: false, message: `${summary(result.errors)}: ${shown}${more}` }],
      }
    }
    return {
      ok: true,
      checks: [
        upload,
        {
          name: 'rows',
          ok: true,
          message: `${result.users.length} people in ${result.departments.length} departments`,
        },
      ],
    }
  }

  async listUsers(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteUser>> {
    return page(this.valid(signal).users, cursor)
  }

  async listDepartments(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteDepartment>> {
    return page(this.valid(signal).departments, cursor)
  }

  async listGroups(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>> {
    this.valid(signal)
    if (cursor !== undefined) throw badCursor(cursor)
    // HR files carry no groups.
    return { items: [] }
  }

  /** The file's records, or the error that stops the run. */
  private valid(signal: AbortSignal): HrCsv {
    signal.throwIfAborted()
    const result = this.read()
    signal.throwIfAborted()
    if (result.errors.length > 0) {
      throw new ConnectorError(
        'permanent',
        `csv: ${summary(result.errors)} (first: ${describe(result.errors[0])})`,
        {
          details: { errors: result.errors },
        },
      )
    }
    return result
  }

  /** Reads the upload once; every list call pages over the same result. */
  private read(): HrCsv {
    if (this.result !== undefined) return this.result
    const upload = this.deps.upload
    if (upload === undefined) {
      throw new ConnectorError(
        'invalid-config',
        'a CSV source reads the uploaded file: send it as the request body (text/csv)',
      )
    }
    checkContentType(upload.contentType)
    const started = Date.now()
    this.result = readHrCsv(upload.body, this.config)
    this.deps.logger.info(
      {
        bytes: upload.body.length,
        users: this.result.users.length,
        departments: this.result.departments.length,
        errors: this.result.errors.length,
        ms: Date.now() - started,
      },
      'csv: file read',
    )
    return this.result
  }
}

function checkContentType(contentType: string): void {
  const [mediaType = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase())
  if (!acceptedContentTypes.has(mediaType)) {
    throw new ConnectorError(
      'invalid-config',
      `csv: the upload is "${contentType}", not a CSV file: send the file with Content-Type text/csv`,
    )
  }
  for (const param of params) {
    const [key, value = ''] = param.split('=').map((p) => p.trim())
    const charset = value.replace(/^"|"$/g, '')
    if (key === 'charset' && !acceptedCharsets.has(charset)) {
      throw new ConnectorError(
        'invalid-config',
        `csv: the upload is in ${charset}, but orgsync reads CSV files as UTF-8: save the file as "CSV UTF-8"`,
      )
    }
  }
}

function page<T>(items: readonly T[], cursor: string | undefined): Page<T> {
  let offset = 0
  if (cursor !== undefined) {
    // The cursor is ours (a previous page's nextCursor); anything else means the caller mixed up runs.
    if (!/^(0|[1-9]\d*)$/.test(cursor) || Number(cursor) > items.length) throw badCursor(cursor)
    offset = Number(cursor)
  }
  const end = offset + PAGE_SIZE
  const result: Page<T> = { items: items.slice(offset, end) }
  if (end < items.length) result.nextCursor = String(end)
  return result
}

function badCursor(cursor: string): ConnectorError {
  return new ConnectorError('permanent', `csv: cursor "${cursor}" is not a position in this file's listing`)
}

function summary(errors: readonly CsvRowError[]): string {
  const rows = new Set(errors.map((e) => e.row)).size
  return `${rows} invalid ${rows === 1 ? 'row' : 'rows'}`
}

function describe(error: CsvRowError | undefined): string {
  if (error === undefined) return 'no details'
  return error.column === null
    ? `row ${error.row}: ${error.reason}`
    : `row ${error.row}, column ${error.column}: ${error.reason}`
}
