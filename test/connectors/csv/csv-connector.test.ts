import { Writable } from 'node:stream'
import pino from 'pino'
import { csvConfigSchema, csvConnector, type CsvConfig, PAGE_SIZE, readHrCsv } from '../../../connectors/csv'
import {
  type Connector,
  type ConnectorDeps,
  ConnectorError,
  type ConnectorRegistry,
  type RemoteDepartment,
  type RemoteUser,
} from '../../../src/sync/connector'

/** A logger whose lines the test can read, to see how often the file was parsed. */
function recordingLogger(): { logger: ConnectorDeps['logger']; messages: string[] } {
  const messages: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      messages.push((JSON.parse(chunk.toString()) as { msg: string }).msg)
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), messages }
}

function open(
  body: string | Buffer | undefined,
  config: CsvConfig = {},
  contentType = 'text/csv',
): { connector: Connector; messages: string[] } {
  const { logger, messages } = recordingLogger()
  const upload =
    body === undefined
      ? undefined
      : { contentType, body: typeof body === 'string' ? Buffer.from(body) : body }
  return { connector: csvConnector.open(config, { logger, fetch, upload }), messages }
}

/** A valid file of `count` people in a few departments, each reporting to E0. */
function generated(count: number): string {
  const lines = ['employee_id,name,email,department,manager']
  for (let i = 0; i < count; i++) {
    lines.push(`E${i},Person ${i},p${i}@example.com,Division ${i % 5}/Team ${i % 600},${i === 0 ? '' : 'E0'}`)
  }
  return lines.join('\n')
}

async function all<T>(list: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string }>) {
  const pages: { size: number; nextCursor?: string }[] = []
  const items: T[] = []
  let cursor: string | undefined
  do {
    const page = await list(cursor)
    pages.push({ size: page.items.length, nextCursor: page.nextCursor })
    items.push(...page.items)
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return { pages, items }
}

const live = () => new AbortController().signal
const goodFile =
  'employee_id,name,email,department,manager\nE1,Ann,ann@x.org,HQ,\nE2,Bob,bob@x.org,HQ/IT,E1\n'

test('the definition: an upload-fed csv type with no secrets and the strict config schema', () => {
  expect(csvConnector).toMatchObject({ type: 'csv', upload: true, secretKeys: [] })
  expect(csvConnector.configSchema).toBe(csvConfigSchema)
  expect(csvConnector.description).toMatch(/CSV/)
  // It must fit the engine's registry as it is (a compile-time check as much as a runtime one).
  const registry: ConnectorRegistry = { csv: csvConnector }
  expect(registry.csv?.type).toBe('csv')
})

test('pages through a 2,500-row file: 3 pages of users, the same users readHrCsv gives', async () => {
  const text = generated(2500)
  const { connector } = open(text)
  const signal = live()
  const users = await all<RemoteUser>((c) => connector.listUsers(c, signal))
  expect(PAGE_SIZE).toBe(1000)
  expect(users.pages).toEqual([
    { size: 1000, nextCursor: '1000' },
    { size: 1000, nextCursor: '2000' },
    { size: 500, nextCursor: undefined },
  ])
  const expected = readHrCsv(Buffer.from(text), {})
  expect(expected.errors).toEqual([])
  expect(users.items).toEqual(expected.users)
  expect(new Set(users.items.map((u) => u.externalId)).size).toBe(2500)

  const departments = await all<RemoteDepartment>((c) => connector.listDepartments(c, signal))
  // 5 divisions + their distinct "Team n" children (Team i%600 under Division i%5: 600 pairs).
  expect(departments.items).toEqual(expected.departments)
  expect(departments.items).toHaveLength(605)
  expect(departments.pages.map((p) => p.size)).toEqual([605])
})

test('a page boundary exactly at the end has no next cursor', async () => {
  const { connector } = open(generated(1000))
  const page = await connector.listUsers(undefined, live())
  expect(page.items).toHaveLength(1000)
  expect(page.nextCursor).toBeUndefined()
})

test('listGroups is an empty page: HR files carry no groups', async () => {
  const { connector } = open(goodFile)
  await expect(connector.listGroups(undefined, live())).resolves.toEqual({ items: [] })
})

test('the file is parsed once, however many pages are read', async () => {
  const { connector, messages } = open(generated(2500))
  const signal = live()
  await all((c) => connector.listUsers(c, signal))
  await all((c) => connector.listDepartments(c, signal))
  await connector.listGroups(undefined, signal)
  await connector.check(signal)
  expect(messages.filter((m) => m === 'csv: file read')).toHaveLength(1)
})

test('opening does not parse: a bad upload fails the first call, not open()', async () => {
  const { connector, messages } = open('x', {}, 'application/json')
  expect(messages).toEqual([])
  await expect(connector.listUsers(undefined, live())).rejects.toMatchObject({ kind: 'invalid-config' })
})

describe('invalid rows fail every listing, with all of them in details', () => {
  const bad =
    'employee_id,name,email,manager\nE1,Ann,ann@x.org,\nE2,Bob,nope,E1\nE3,Cy,cy@x.org,E9\n,Di,di@x.org,\n'

  test.each<[string, (c: Connector, s: AbortSignal) => Promise<unknown>]>([
    ['listUsers', (c, s) => c.listUsers(undefined, s)],
    ['listDepartments', (c, s) => c.listDepartments(undefined, s)],
    ['listGroups', (c, s) => c.listGroups(undefined, s)],
  ])('%s', async (_name, call) => {
    const { connector } = open(bad)
    const error: unknown = await call(connector, live()).then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ConnectorError)
    const connectorError = error as ConnectorError
    expect(connectorError.kind).toBe('permanent')
    expect(connectorError.message).toBe(
      'csv: 3 invalid rows (first: row 3, column email: email "nope" is not a valid address)',
    )
    expect(connectorError.details).toEqual({ errors: readHrCsv(Buffer.from(bad), {}).errors })
    expect((connectorError.details as { errors: unknown[] }).errors).toHaveLength(3)
  })

  test('one invalid row, with no column, reads in the singular', async () => {
    const { connector } = open('employee_id,name\nE1,Ann,extra\n')
    await expect(connector.listUsers(undefined, live())).rejects.toThrow(
      /^csv: 1 invalid row \(first: row 2: the row has 3 fields but the header has 2/,
    )
  })
})

describe('the upload', () => {
  test('a missing upload is a config error telling the admin to send the file', async () => {
    const { connector } = open(undefined)
    const error = new ConnectorError(
      'invalid-config',
      'a CSV source reads the uploaded file: send it as the request body (text/csv)',
    )
    await expect(connector.listUsers(undefined, live())).rejects.toEqual(error)
    await expect(connector.listUsers(undefined, live())).rejects.toMatchObject({ kind: 'invalid-config' })
    await expect(connector.check(live())).resolves.toEqual({
      ok: false,
      checks: [{ name: 'upload', ok: false, message: error.message }],
    })
  })

  test.each([
    'text/csv',
    'text/csv; charset=utf-8',
    'TEXT/CSV;charset="UTF-8"',
    'application/octet-stream',
    'text/plain',
  ])('accepts content type %j', async (contentType) => {
    const { connector } = open(goodFile, {}, contentType)
    await expect(connector.listUsers(undefined, live())).resolves.toMatchObject({ items: [{}, {}] })
  })

  test.each<[string, RegExp]>([
    ['application/json', /not a CSV file/],
    ['multipart/form-data; boundary=x', /not a CSV file/],
    ['', /not a CSV file/],
    ['text/csv; charset=windows-1252', /windows-1252.*CSV UTF-8/],
  ])('refuses content type %j', async (contentType, message) => {
    const { connector } = open(goodFile, {}, contentType)
    const call = connector.listUsers(undefined, live())
    await expect(call).rejects.toMatchObject({ kind: 'invalid-config' })
    await expect(connector.listUsers(undefined, live())).rejects.toThrow(message)
  })
})

describe('cursors', () => {
  test.each(['abc', '-1', '1.5', '01', '', '2501', '1e3'])('refuses %j', async (cursor) => {
    const { connector } = open(generated(2500))
    await expect(connector.listUsers(cursor, live())).rejects.toMatchObject({
      kind: 'permanent',
      message: expect.stringContaining('is not a position'),
    })
  })

  test('any cursor for groups is refused (there is never a next page)', async () => {
    const { connector } = open(goodFile)
    await expect(connector.listGroups('0', live())).rejects.toBeInstanceOf(ConnectorError)
  })

  test('the end of the listing is an empty page', async () => {
    const { connector } = open(generated(2500))
    await expect(connector.listUsers('2500', live())).resolves.toEqual({ items: [] })
  })
})

describe('check', () => {
  test('a valid file: ok, with what it holds', async () => {
    const { connector } = open(goodFile)
    await expect(connector.check(live())).resolves.toEqual({
      ok: true,
      checks: [
        { name: 'upload', ok: true, message: 'a CSV file was uploaded' },
        { name: 'rows', ok: true, message: '2 people in 2 departments' },
      ],
    })
  })

  test('invalid rows: not ok, with the first five errors and a count of the rest', async () => {
    const lines = ['employee_id,name,email']
    for (let i = 0; i < 7; i++) lines.push(`E${i},P${i},bad${i}`)
    const { connector } = open(lines.join('\n'))
    const result = await connector.check(live())
    expect(result.ok).toBe(false)
    const rows = result.checks.find((c) => c.name === 'rows')
    expect(rows?.ok).toBe(false)
    expect(rows?.message).toMatch(
      /^7 invalid rows: row 2, column email: email "bad0" is not a valid address; /,
    )
    expect(rows?.message).toContain('row 6, column email')
    expect(rows?.message).not.toContain('row 7, column email')
    expect(rows?.message).toMatch(/; and 2 more$/)
  })
})

describe('cancellation', () => {
  test.each<[string, (c: Connector, s: AbortSignal) => Promise<unknown>]>([
    ['check', (c, s) => c.check(s)],
    ['listUsers', (c, s) => c.listUsers(undefined, s)],
    ['listDepartments', (c, s) => c.listDepartments(undefined, s)],
    ['listGroups', (c, s) => c.listGroups(undefined, s)],
  ])('%s throws the abort reason when the signal is aborted', async (_name, call) => {
    const { connector, messages } = open(goodFile)
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    controller.abort(reason)
    await expect(call(connector, controller.signal)).rejects.toBe(reason)
    // Aborted before any work: the file was not even parsed.
    expect(messages).toEqual([])
  })
})

test('a 100,000-row file reads and pages completely', async () => {
  const { connector } = open(generated(100_000))
  const signal = live()
  const users = await all<RemoteUser>((c) => connector.listUsers(c, signal))
  expect(users.pages).toHaveLength(100)
  expect(users.items).toHaveLength(100_000)
  expect(users.items[99_999]).toMatchObject({
    externalId: 'E99999',
    manager: { employeeNumber: 'E0' },
    departmentExternalId: 'Division 4/Team 399',
  })
})
