import { type CsvConfig, type CsvRowError, readHrCsv } from '../../../connectors/csv/hr-csv'
import { type RemoteUser } from '../../../src/sync/connector'

const file = (...lines: string[]): Buffer => Buffer.from(lines.join('\r\n') + '\r\n')
const read = (config: CsvConfig, ...lines: string[]) => readHrCsv(file(...lines), config)
const byId = (users: RemoteUser[]) => new Map(users.map((u) => [u.externalId, u]))

describe('readHrCsv: people', () => {
  test('maps every column of a complete row', () => {
    const result = read(
      {},
      'employee_id,name,email,title,department,manager,status,cost_centre',
      'E1,Ann Lee,ann@example.com,CEO,Head Office,,active,100',
      'E2,Bob Roe,Bob@Example.com,CFO,Head Office/Finance,E1,inactive,200',
    )
    expect(result.errors).toEqual([])
    expect(result.users).toEqual([
      {
        externalId: 'E1',
        userName: 'ann@example.com',
        displayName: 'Ann Lee',
        email: 'ann@example.com',
        employeeNumber: 'E1',
        title: 'CEO',
        departmentExternalId: 'Head Office',
        manager: null,
        active: true,
        raw: {
          employee_id: 'E1',
          name: 'Ann Lee',
          email: 'ann@example.com',
          title: 'CEO',
          department: 'Head Office',
          manager: '',
          status: 'active',
          cost_centre: '100',
        },
      },
      {
        externalId: 'E2',
        userName: 'Bob@Example.com',
        displayName: 'Bob Roe',
        email: 'Bob@Example.com',
        employeeNumber: 'E2',
        title: 'CFO',
        departmentExternalId: 'Head Office/Finance',
        manager: { employeeNumber: 'E1' },
        active: false,
        raw: expect.objectContaining({ cost_centre: '200', status: 'inactive' }),
      },
    ])
  })

  test('columns the file does not have stay absent ("the source does not say"); empty cells are null', () => {
    const [withoutColumns] = read({}, 'employee_id,name', 'E1,Ann').users
    expect(withoutColumns).toEqual({
      externalId: 'E1',
      userName: 'E1',
      displayName: 'Ann',
      employeeNumber: 'E1',
      active: true,
      raw: { employee_id: 'E1', name: 'Ann' },
    })
    const [withEmptyCells] = read({}, 'employee_id,name,email,title,department,manager', 'E1,Ann,,,,').users
    expect(withEmptyCells).toMatchObject({
      userName: 'E1',
      email: null,
      title: null,
      departmentExternalId: null,
      manager: null,
    })
  })

  test('header names match case-insensitively and trimmed; values are trimmed, raw keeps them as written', () => {
    const result = read({}, ' Employee_ID ,NAME, Email', ' E1 , Ann Lee , ann@example.com ')
    expect(result.errors).toEqual([])
    expect(result.users[0]).toMatchObject({
      externalId: 'E1',
      displayName: 'Ann Lee',
      email: 'ann@example.com',
    })
    expect(result.users[0]?.raw).toEqual({
      ' Employee_ID ': ' E1 ',
      NAME: ' Ann Lee ',
      ' Email': ' ann@example.com ',
    })
  })

  test('raw keeps every column; odd header names ("__proto__", a repeated name) stay plain keys', () => {
    const [user] = read({}, 'employee_id,name,__proto__,notes,notes', 'E1,Ann,x,first,second').users
    expect(user?.raw).toEqual({ employee_id: 'E1', name: 'Ann', ['__proto__']: 'x', notes: 'first' })
    expect(Object.getPrototypeOf(user?.raw)).toBe(Object.prototype)
    expect(Object.keys(user?.raw ?? {})).toEqual(['employee_id', 'name', '__proto__', 'notes'])
  })

  test("config.columns maps logical columns to the file's own headers, with a configured delimiter", () => {
    const config: CsvConfig = {
      delimiter: ';',
      columns: {
        employee_id: 'Personalnummer',
        given_name: 'Vorname',
        family_name: 'Nachname',
        email: 'E-Mail',
        department: 'Abteilung',
        manager: 'Vorgesetzter',
        rank: 'Dienstgrad',
        active: 'Beschäftigt',
      },
    }
    const result = read(
      config,
      'personalnummer;Vorname;Nachname;E-Mail;Abteilung;Vorgesetzter;Dienstgrad;Beschäftigt',
      '1001;Jürgen;Groß;jg@example.de;Vertrieb/Süd;;Leiter;ja?',
      '1002;Anna;Weiß;aw@example.de;Vertrieb/Süd;1001;Referentin;nein?',
    )
    // "ja"/"nein" are not accepted values, and the error names the file's own column.
    expect(result.errors.map((e) => [e.row, e.column])).toEqual([
      [2, 'Beschäftigt'],
      [3, 'Beschäftigt'],
    ])
    const fixed = read(
      config,
      'Personalnummer;Vorname;Nachname;E-Mail;Abteilung;Vorgesetzter;Dienstgrad;Beschäftigt',
      '1001;Jürgen;Groß;jg@example.de;Vertrieb/Süd;;Leiter;yes',
      '1002;Anna;Weiß;aw@example.de;Vertrieb/Süd;1001;Referentin;no',
    )
    expect(fixed.errors).toEqual([])
    expect(fixed.users[1]).toMatchObject({
      externalId: '1002',
      displayName: 'Anna Weiß',
      givenName: 'Anna',
      familyName: 'Weiß',
      title: 'Referentin',
      departmentExternalId: 'Vertrieb/Süd',
      manager: { employeeNumber: '1001' },
      active: false,
    })
  })

  test('a configured header is used instead of the default name, even when the default is present', () => {
    const result = read(
      { columns: { email: 'work_email' } },
      'employee_id,name,email,work_email',
      'E1,Ann,home@x.org,ann@corp.com',
    )
    expect(result.users[0]?.email).toBe('ann@corp.com')
  })

  test.each<[string, string, string, string]>([
    ['name only', 'employee_id,name', 'E1,Ann Lee', 'Ann Lee'],
    ['given and family', 'employee_id,given_name,family_name', 'E1,Ann,Lee', 'Ann Lee'],
    [
      'name wins over given and family',
      'employee_id,name,given_name,family_name',
      'E1,Dr Ann Lee,Ann,Lee',
      'Dr Ann Lee',
    ],
    ['only a given name filled in', 'employee_id,given_name,family_name', 'E1,Cher,', 'Cher'],
    [
      'an empty name falls back to given and family',
      'employee_id,name,given_name,family_name',
      'E1,,Ann,Lee',
      'Ann Lee',
    ],
    ['Chinese: family name first, no space', 'employee_id,given_name,family_name', 'E1,伟,张', '张伟'],
    ['Korean: family name first, no space', 'employee_id,given_name,family_name', 'E1,민준,김', '김민준'],
    ['Cyrillic', 'employee_id,given_name,family_name', 'E1,Ђорђе,Петровић', 'Ђорђе Петровић'],
    ['Arabic', 'employee_id,given_name,family_name', 'E1,محمد,العلي', 'محمد العلي'],
  ])('display name: %s', (_name, header, row, displayName) => {
    const result = read({}, header, row)
    expect(result.errors).toEqual([])
    expect(result.users[0]?.displayName).toBe(displayName)
  })

  test.each<[string, string]>([
    ['title', 'title'],
    ['rank', 'rank'],
    ['RANK', 'RANK'],
  ])('the title comes from a "%s" column', (_name, column) => {
    expect(read({}, `employee_id,name,${column}`, 'E1,Ann,Captain').users[0]?.title).toBe('Captain')
  })

  test.each<[string, boolean]>([
    ['', true],
    ['active', true],
    ['Active', true],
    ['TRUE', true],
    ['yes', true],
    ['1', true],
    [' inactive ', false],
    ['false', false],
    ['No', false],
    ['0', false],
  ])('status %j → active %s', (value, active) => {
    const result = read({}, 'employee_id,name,status', `E1,Ann,${value}`)
    expect(result.errors).toEqual([])
    expect(result.users[0]?.active).toBe(active)
  })

  test('an "active" column works like "status"', () => {
    expect(read({}, 'employee_id,name,Active', 'E1,Ann,false').users[0]?.active).toBe(false)
  })

  test('userName is the email when there is one, else the employee_id', () => {
    const users = read({}, 'employee_id,name,email', 'E1,Ann,ann@example.com', 'E2,Bob,').users
    expect(users.map((u) => u.userName)).toEqual(['ann@example.com', 'E2'])
  })

  test('managers: by employee_id or by email (any case), declared before or after the person', () => {
    const result = read(
      {},
      'employee_id,name,email,manager',
      'E1,Report One,r1@example.com,E3',
      'E2,Report Two,r2@example.com,BOSS@example.com',
      'E3,Boss,boss@Example.com,',
    )
    expect(result.errors).toEqual([])
    const users = byId(result.users)
    expect(users.get('E1')?.manager).toEqual({ employeeNumber: 'E3' })
    // The email as spelled on the manager's own row, so it matches that person exactly.
    expect(users.get('E2')?.manager).toEqual({ email: 'boss@Example.com' })
    expect(users.get('E3')?.manager).toBeNull()
  })

  test('rows of empty cells (spreadsheet leftovers) are not people', () => {
    const result = read({}, 'employee_id,name,email', 'E1,Ann,', ',,', ' , , ', 'E2,Bob,')
    expect(result.errors).toEqual([])
    expect(result.users.map((u) => u.externalId)).toEqual(['E1', 'E2'])
  })

  test('non-Latin names, departments and headers round-trip unchanged', () => {
    const people = [
      ['E1', '张伟', 'zhang.wei@例子.中国', '总部/财务部'],
      ['E2', 'Łukasz Żółć', 'lukasz@example.pl', '总部/Dział IT'],
      ['E3', 'Ђорђе Петровић', 'djordje@example.rs', 'Београд'],
      ['E4', 'محمد العلي', 'mohammed@example.sa', 'الإدارة/المالية'],
    ]
    const config: CsvConfig = { columns: { name: '姓名', department: '部门' } }
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      file('employee_id,姓名,email,部门', ...people.map((p) => p.join(','))),
    ])
    const result = readHrCsv(body, config)
    expect(result.errors).toEqual([])
    expect(result.users.map((u) => [u.externalId, u.displayName, u.email, u.departmentExternalId])).toEqual(
      people,
    )
    expect(result.users[0]?.raw).toEqual({
      employee_id: 'E1',
      姓名: '张伟',
      email: 'zhang.wei@例子.中国',
      部门: '总部/财务部',
    })
    expect(result.departments.map((d) => d.name)).toEqual([
      '总部',
      '财务部',
      'Dział IT',
      'Београд',
      'الإدارة',
      'المالية',
    ])
  })
})

describe('readHrCsv: departments', () => {
  test('one department per distinct path prefix, parents first, segments trimmed', () => {
    const result = read(
      {},
      'employee_id,name,department',
      'E1,Ann, Head Office / Finance / Audit ',
      'E2,Bob,Head Office/Finance',
      'E3,Cy,Head Office/Sales',
      'E4,Di,Plant',
    )
    expect(result.errors).toEqual([])
    expect(result.departments).toEqual([
      { externalId: 'Head Office', name: 'Head Office', parentExternalId: null },
      { externalId: 'Head Office/Finance', name: 'Finance', parentExternalId: 'Head Office' },
      { externalId: 'Head Office/Finance/Audit', name: 'Audit', parentExternalId: 'Head Office/Finance' },
      { externalId: 'Head Office/Sales', name: 'Sales', parentExternalId: 'Head Office' },
      { externalId: 'Plant', name: 'Plant', parentExternalId: null },
    ])
    expect(result.users.map((u) => u.departmentExternalId)).toEqual([
      'Head Office/Finance/Audit',
      'Head Office/Finance',
      'Head Office/Sales',
      'Plant',
    ])
  })

  test('paths are compared case-insensitively and the first spelling wins, at every level', () => {
    const result = read(
      {},
      'employee_id,name,department',
      'E1,Ann,Sales/EMEA',
      'E2,Bob,SALES/emea/North',
      'E3,Cy,sales/Americas',
    )
    expect(result.departments).toEqual([
      { externalId: 'Sales', name: 'Sales', parentExternalId: null },
      { externalId: 'Sales/EMEA', name: 'EMEA', parentExternalId: 'Sales' },
      { externalId: 'Sales/EMEA/North', name: 'North', parentExternalId: 'Sales/EMEA' },
      { externalId: 'Sales/Americas', name: 'Americas', parentExternalId: 'Sales' },
    ])
    expect(result.users.map((u) => u.departmentExternalId)).toEqual([
      'Sales/EMEA',
      'Sales/EMEA/North',
      'Sales/Americas',
    ])
  })

  test('a backslash in a name is escaped in the externalId, as the org store escapes paths', () => {
    const result = read({}, 'employee_id,name,department', 'E1,Ann,Ops\\Infra/Team')
    expect(result.departments).toEqual([
      { externalId: 'Ops\\\\Infra', name: 'Ops\\Infra', parentExternalId: null },
      { externalId: 'Ops\\\\Infra/Team', name: 'Team', parentExternalId: 'Ops\\\\Infra' },
    ])
  })

  test('with another departmentDelimiter, a "/" inside a name is escaped and does not split', () => {
    const result = read({ departmentDelimiter: ' > ' }, 'employee_id,name,department', 'E1,Ann,R/D > Labs')
    expect(result.errors).toEqual([])
    expect(result.departments).toEqual([
      { externalId: 'R\\/D', name: 'R/D', parentExternalId: null },
      { externalId: 'R\\/D/Labs', name: 'Labs', parentExternalId: 'R\\/D' },
    ])
    // "R/D" as one name and "R" > "D" as two levels are different departments.
    const two = read({ departmentDelimiter: '>' }, 'employee_id,name,department', 'E1,Ann,R/D', 'E2,Bob,R>D')
    expect(two.departments.map((d) => d.externalId)).toEqual(['R\\/D', 'R', 'R/D'])
  })
})

describe('readHrCsv: errors', () => {
  const header = 'employee_id,name,email,department,manager,status'
  test.each<[string, CsvConfig, string[], CsvRowError[]]>([
    [
      'an empty file',
      {},
      [],
      [{ row: 1, column: null, reason: expect.stringContaining('the file is empty') }],
    ],
    [
      'no employee_id column',
      {},
      ['id,name', '1,Ann'],
      [{ row: 1, column: 'employee_id', reason: expect.stringContaining('no employee_id column') }],
    ],
    [
      'no name column',
      {},
      ['employee_id,given_name', 'E1,Ann'],
      [{ row: 1, column: 'name', reason: expect.stringContaining('given_name and family_name') }],
    ],
    [
      'a configured column missing from the header',
      { columns: { department: 'Abteilung' } },
      ['employee_id,name,Abt', 'E1,Ann,IT'],
      [{ row: 1, column: 'Abteilung', reason: expect.stringContaining('"Abteilung"') }],
    ],
    [
      'a used column twice in the header',
      {},
      ['employee_id,name,Email,email', 'E1,Ann,a@x.org,b@x.org'],
      [{ row: 1, column: 'Email', reason: expect.stringContaining('columns 3, 4') }],
    ],
    [
      'an empty employee_id',
      {},
      [header, ' ,Ann,ann@x.org,,,'],
      [{ row: 2, column: 'employee_id', reason: expect.stringContaining('employee_id is empty') }],
    ],
    [
      'a duplicate employee_id, naming both rows',
      {},
      [header, 'E1,Ann,ann@x.org,,,', 'E2,Bob,bob@x.org,,,', 'E1,Cy,cy@x.org,,,'],
      [{ row: 4, column: 'employee_id', reason: expect.stringContaining('"E1" is on rows 2 and 4') }],
    ],
    [
      'an invalid email',
      {},
      [header, 'E1,Ann,ann at x.org,,,'],
      [{ row: 2, column: 'email', reason: 'email "ann at x.org" is not a valid address' }],
    ],
    [
      'a duplicate email, in another case',
      {},
      [header, 'E1,Ann,ann@x.org,,,', 'E2,Ann B,ANN@x.org,,,'],
      [{ row: 3, column: 'email', reason: expect.stringContaining('is on rows 2 and 3') }],
    ],
    [
      'a manager employee_id not in the file',
      {},
      [header, 'E1,Ann,ann@x.org,,E9,'],
      [{ row: 2, column: 'manager', reason: 'manager "E9" is not an employee_id or email in this file' }],
    ],
    [
      'a manager email not in the file',
      {},
      [header, 'E1,Ann,ann@x.org,,boss@x.org,'],
      [
        {
          row: 2,
          column: 'manager',
          reason: 'manager "boss@x.org" is not an employee_id or email in this file',
        },
      ],
    ],
    [
      'their own manager by employee_id',
      {},
      [header, 'E1,Ann,ann@x.org,,E1,'],
      [{ row: 2, column: 'manager', reason: expect.stringContaining('cannot be their own manager') }],
    ],
    [
      'their own manager by email',
      {},
      [header, 'E1,Ann,ann@x.org,,Ann@X.org,'],
      [{ row: 2, column: 'manager', reason: expect.stringContaining('cannot be their own manager') }],
    ],
    [
      'too few fields',
      {},
      [header, 'E1,Ann,ann@x.org'],
      [{ row: 2, column: null, reason: expect.stringContaining('has 3 fields but the header has 6') }],
    ],
    [
      'too many fields (an unquoted comma)',
      {},
      [header, 'E1,Lee, Ann,ann@x.org,,,'],
      [{ row: 2, column: null, reason: expect.stringContaining('has 7 fields but the header has 6') }],
    ],
    [
      'an unknown status',
      {},
      [header, 'E1,Ann,ann@x.org,,,on leave'],
      [{ row: 2, column: 'status', reason: expect.stringContaining('status "on leave" is not one of') }],
    ],
    [
      'an empty department segment',
      {},
      [header, 'E1,Ann,ann@x.org,Sales//EMEA,,'],
      [{ row: 2, column: 'department', reason: expect.stringContaining('empty name') }],
    ],
    [
      'a trailing department delimiter',
      {},
      [header, 'E1,Ann,ann@x.org,Sales/,,'],
      [{ row: 2, column: 'department', reason: expect.stringContaining('"Sales/"') }],
    ],
    [
      'an empty name',
      {},
      [header, 'E1,,ann@x.org,,,'],
      [{ row: 2, column: 'name', reason: 'the name is empty' }],
    ],
    [
      'a structural CSV error, on its line',
      {},
      [header, 'E1,Ann,ann@x.org,,,', 'E2,Bob "the builder",bob@x.org,,,'],
      [{ row: 3, column: null, reason: expect.stringContaining('unquoted field') }],
    ],
  ])('%s', (_name, config, lines, expected) => {
    const result = lines.length === 0 ? readHrCsv(Buffer.alloc(0), config) : read(config, ...lines)
    expect(result.errors).toEqual(expected)
  })

  test('a file that is not UTF-8 is one error, on the line of the first bad byte', () => {
    // "Müller" saved as Windows-1252: ü is the single byte 0xFC.
    const body = Buffer.concat([
      file('employee_id,name', 'E1,Ann'),
      Buffer.from('E2,M'),
      Buffer.from([0xfc]),
      Buffer.from('ller\r\n'),
    ])
    expect(readHrCsv(body, {})).toEqual({
      users: [],
      departments: [],
      errors: [{ row: 3, column: null, reason: expect.stringContaining('not UTF-8') }],
    })
  })

  test('errors name the column by its header in the file', () => {
    const result = read({ columns: { employee_id: 'Personalnummer' } }, 'Personalnummer,name', ',Ann')
    expect(result.errors).toEqual([
      { row: 2, column: 'Personalnummer', reason: expect.stringContaining('employee_id is empty') },
    ])
  })

  test('a file with 3 bad rows reports all 3, in row order, and leaves those people out', () => {
    const result = read(
      {},
      'employee_id,name,email,manager',
      'E1,Ann,ann@x.org,',
      'E2,Bob,not-an-email,E1',
      'E3,Cy,cy@x.org,E1',
      ',Di,di@x.org,E1',
      'E5,Ed,ed@x.org,E404',
      'E6,Flo,flo@x.org,E1',
    )
    expect(result.errors.map((e) => [e.row, e.column])).toEqual([
      [3, 'email'],
      [5, 'employee_id'],
      [6, 'manager'],
    ])
    expect(result.users.map((u) => u.externalId)).toEqual(['E1', 'E3', 'E6'])
  })

  test('one row can have several errors, each reported', () => {
    const result = read({}, 'employee_id,name,email,department,manager,status', ',,bad,A//B,X9,maybe')
    expect(result.errors.map((e) => e.column)).toEqual([
      'employee_id',
      'name',
      'email',
      'department',
      'status',
      'manager',
    ])
  })

  test("a manager on a row with the wrong number of fields is still known, so the manager's reports do not fail too", () => {
    const result = read({}, 'employee_id,name,manager', 'E1,Boss,,extra', 'E2,Ann,E1', 'E3,Bob,E1')
    expect(result.errors).toEqual([{ row: 2, column: null, reason: expect.stringContaining('has 4 fields') }])
  })

  test('rows are numbered by the line they start on, counting multi-line quoted fields and blank lines', () => {
    const result = read({}, 'employee_id,name,email', '', 'E1,"Ann', 'Lee",ann@x.org', 'E2,Bob,bad')
    expect(result.errors).toEqual([{ row: 5, column: 'email', reason: expect.any(String) }])
  })
})
