import { sql } from 'kysely'
import {
  attribute,
  column,
  defineResourceSchema,
  filterToSql,
  parseFilter,
  ScimFilterError,
} from '../../../src/scim/filter'
import { matchesFilter, type ScimResource } from '../../../src/scim/filter/evaluate-filter'
import type { ResourceFilterSchema } from '../../../src/scim/filter'
import { describeEachDatabase } from '../../helpers/test-database'
import {
  createProbeTables,
  insertGroups,
  insertUsers,
  probeGroupJsonSchema,
  probeGroupTableSchema,
  probeUserActiveColumnSchema,
  probeUserSchema,
  selectIds,
} from './probe-table'

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User'
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'
const MANAGER_ID = '26118915-6090-4610-87e4-49d8ca9f808d'

const id = (n: number) => `aaaaaaaa-0000-4000-8000-${String(n).padStart(12, '0')}`

// A small, hand-made population: every expectation below can be checked by reading it.
const users: ScimResource[] = [
  {
    id: id(1),
    schemas: [CORE, ENTERPRISE],
    userName: 'bjensen',
    externalId: '701984',
    name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
    displayName: 'Babs Jensen',
    title: 'Tour Guide',
    userType: 'Employee',
    active: true,
    rank: 3,
    score: 1.5,
    emails: [
      { value: 'bjensen@example.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ],
    phoneNumbers: [{ value: '555-555-5555', type: 'work' }],
    [ENTERPRISE]: {
      employeeNumber: '701984',
      department: 'Tour Operations',
      manager: { value: MANAGER_ID, displayName: 'John Smith' },
    },
    meta: { created: '2010-01-23T04:56:22Z', lastModified: '2011-05-13T04:42:34Z' },
  },
  {
    id: id(2),
    schemas: [CORE],
    userName: 'Tomalley@Example.COM',
    name: { familyName: "O'Malley" },
    title: '',
    userType: 'Intern',
    active: false,
    rank: 10,
    score: 0.25,
    emails: [{ value: 't.omalley@EXAMPLE.org', type: 'Work' }],
    meta: { created: '2011-01-01T00:00:00Z', lastModified: '2011-05-13T04:42:34Z' },
  },
  {
    id: id(3),
    schemas: [CORE],
    userName: 'JSmith',
    rank: '7',
    emails: [],
    ims: [{ value: 'jsmith@foo.com', type: 'xmpp' }],
    meta: { created: '2011-06-01T00:00:00Z', lastModified: '2012-01-01T00:00:00.123456Z' },
  },
  {
    id: id(4),
    schemas: [CORE],
    userName: 'Ärger.Ölaf',
    displayName: 'ÖLAF ÄRGER',
    title: 'Ingénieur',
    userType: 'Employee',
    emails: [{ value: 'olaf@ÄRGER.de', type: 'work' }],
    meta: { created: '2012-02-29T12:00:00Z', lastModified: '2012-03-01T00:00:00Z' },
  },
  {
    id: id(5),
    schemas: [CORE],
    userName: '100%_sure\\user',
    displayName: 'under_score',
    title: "x' or 1=1 --",
    emails: [{ type: 'work' }],
    meta: { created: '2013-01-01T00:00:00Z', lastModified: '2013-01-01T00:00:00Z' },
  },
  {
    id: id(6),
    schemas: [CORE, ENTERPRISE],
    userName: 'jdoe',
    userType: 'Employee',
    active: true,
    emails: [
      { value: 'jdoe@corp.example', type: 'work' },
      { value: 'jdoe@home.example', type: 'home', primary: true },
    ],
    [ENTERPRISE]: { employeeNumber: 'E-6', department: 'Engineering' },
    meta: { created: '2014-01-01T00:00:00Z', lastModified: '2014-01-01T00:00:00Z' },
  },
]

const byName = new Map(users.map((u) => [String(u.userName), String(u.id)]))
const idsOf = (...names: string[]) =>
  names
    .map((n) => {
      const found = byName.get(n)
      if (!found) throw new Error(`no fixture user ${n}`)
      return found
    })
    .sort()

const ALL = ['bjensen', 'Tomalley@Example.COM', 'JSmith', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe']

// [filter, userNames it selects]
const cases: [string, string[]][] = [
  // RFC 7644 §3.4.2.2's examples
  ['userName eq "bjensen"', ['bjensen']],
  [`name.familyName co "O'Malley"`, ['Tomalley@Example.COM']],
  ['userName sw "J"', ['JSmith', 'jdoe']],
  [`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, ['JSmith', 'jdoe']],
  ['title pr', ['bjensen', 'Ärger.Ölaf', '100%_sure\\user']],
  ['meta.lastModified gt "2011-05-13T04:42:34Z"', ['JSmith', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe']],
  ['meta.lastModified ge "2011-05-13T04:42:34Z"', ALL],
  ['meta.lastModified lt "2011-05-13T04:42:34Z"', []],
  ['meta.lastModified le "2011-05-13T04:42:34Z"', ['bjensen', 'Tomalley@Example.COM']],
  ['title pr and userType eq "Employee"', ['bjensen', 'Ärger.Ölaf']],
  ['title pr or userType eq "Intern"', ['bjensen', 'Tomalley@Example.COM', 'Ärger.Ölaf', '100%_sure\\user']],
  [`schemas eq "${ENTERPRISE}"`, ['bjensen', 'jdoe']],
  ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', ['bjensen']],
  ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', []],
  ['userType ne "Employee" and not (emails co "example.com")', ['Tomalley@Example.COM']],
  ['userType eq "Employee" and (emails.type eq "work")', ['bjensen', 'Ärger.Ölaf', 'jdoe']],
  ['userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', ['bjensen']],
  [
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    ['bjensen', 'JSmith'],
  ],
  // case: userName, emails.value and type compare case-insensitively; id and externalId exactly
  ['userName eq "BJENSEN"', ['bjensen']],
  ['userName eq "tomalley@example.com"', ['Tomalley@Example.COM']],
  ['emails.value eq "T.OMALLEY@example.ORG"', ['Tomalley@Example.COM']],
  ['emails[type eq "WORK"]', ['bjensen', 'Tomalley@Example.COM', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe']],
  ['externalId eq "701984"', ['bjensen']],
  ['externalId eq "701984 "', []],
  [`id eq "${id(1)}"`, ['bjensen']],
  [`id eq "${id(1).toUpperCase()}"`, []],
  ['id eq "not-a-uuid"', []],
  ['id sw "aaaaaaaa-0000-4000-8000-00000000000"', ALL],
  ['id ne "not-a-uuid"', ALL],
  // unicode case mapping
  ['userName eq "ärger.ölaf"', ['Ärger.Ölaf']],
  ['displayName co "ölaf ä"', ['Ärger.Ölaf']],
  ['emails.value ew "@ärger.DE"', ['Ärger.Ölaf']],
  ['title eq "INGÉNIEUR"', ['Ärger.Ölaf']],
  // one element must satisfy the whole value filter; dotted paths may use different elements
  ['emails[type eq "work" and value co "@corp.example"]', ['jdoe']],
  ['emails[type eq "home" and value co "@corp.example"]', []],
  ['emails.type eq "home" and emails.value co "@corp.example"', ['jdoe']],
  ['emails[primary eq true and type eq "home"]', ['jdoe']],
  [
    'emails[not (primary eq true)]',
    ['bjensen', 'Tomalley@Example.COM', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe'],
  ],
  ['emails[value pr]', ['bjensen', 'Tomalley@Example.COM', 'Ärger.Ölaf', 'jdoe']],
  ['emails[not (value pr)]', ['100%_sure\\user']],
  // ne, not and missing attributes
  [
    'not (title eq "Tour Guide")',
    ['Tomalley@Example.COM', 'JSmith', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe'],
  ],
  ['title ne "Tour Guide"', ['Tomalley@Example.COM', 'Ärger.Ölaf', '100%_sure\\user']],
  ['emails.value ne "jdoe@corp.example"', ['bjensen', 'Tomalley@Example.COM', 'Ärger.Ölaf', 'jdoe']],
  [
    'not (emails.value eq "jdoe@corp.example")',
    ['bjensen', 'Tomalley@Example.COM', 'JSmith', 'Ärger.Ölaf', '100%_sure\\user'],
  ],
  ['title eq null', ['Tomalley@Example.COM', 'JSmith', 'jdoe']],
  ['title ne null', ['bjensen', 'Ärger.Ölaf', '100%_sure\\user']],
  ['not (not (title pr))', ['bjensen', 'Ärger.Ölaf', '100%_sure\\user']],
  ['title pr and not (title co "o")', ['Ärger.Ölaf']],
  ['userName sw "j" and (title pr or not (emails[type eq "home"]))', ['JSmith']],
  // booleans are JSON booleans
  ['active eq true', ['bjensen', 'jdoe']],
  ['active eq false', ['Tomalley@Example.COM']],
  ['active ne true', ['Tomalley@Example.COM']],
  ['not (active eq true)', ['Tomalley@Example.COM', 'JSmith', 'Ärger.Ölaf', '100%_sure\\user']],
  ['active pr', ['bjensen', 'Tomalley@Example.COM', 'jdoe']],
  // pr on complex and multi-valued attributes
  ['emails pr', ['bjensen', 'Tomalley@Example.COM', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe']],
  ['not (emails pr)', ['JSmith']],
  ['name pr', ['bjensen', 'Tomalley@Example.COM']],
  ['meta pr', ALL],
  ['ims pr', ['JSmith']],
  ['phoneNumbers.value eq "555-555-5555"', ['bjensen']],
  // the enterprise extension, with and without its URN
  [`${ENTERPRISE}:employeeNumber eq "701984"`, ['bjensen']],
  ['employeeNumber eq "e-6"', ['jdoe']],
  [`${ENTERPRISE}:department sw "tour"`, ['bjensen']],
  [`${ENTERPRISE}:manager.value eq "${MANAGER_ID}"`, ['bjensen']],
  [`${ENTERPRISE}:manager eq "${MANAGER_ID.toUpperCase()}"`, ['bjensen']],
  [`${ENTERPRISE}:manager[displayName sw "john"]`, ['bjensen']],
  [`${ENTERPRISE.toUpperCase()}:EMPLOYEENUMBER pr`, ['bjensen', 'jdoe']],
  ['USERNAME EQ "JDOE"', ['jdoe']],
  // meta: dates compare as instants, to the microsecond
  ['meta.lastModified eq "2012-01-01T00:00:00.123456Z"', ['JSmith']],
  ['meta.lastModified eq "2012-01-01T01:00:00.123456+01:00"', ['JSmith']],
  ['meta.lastModified eq "2012-01-01T00:00:00.123Z"', []],
  ['meta.created lt "2011-01-01"', ['bjensen']],
  [
    'meta[created ge "2012-01-01T00:00:00Z" and lastModified lt "2014-01-01T00:00:00Z"]',
    ['Ärger.Ölaf', '100%_sure\\user'],
  ],
  // strings order by code point (ä after z), case-folded
  ['userName gt "z"', ['Ärger.Ölaf']],
  ['userName lt "b"', ['100%_sure\\user']],
  ['userName ge "JSMITH"', ['Tomalley@Example.COM', 'JSmith', 'Ärger.Ölaf']],
  // LIKE wildcards in values match themselves only
  ['userName co "%"', ['100%_sure\\user']],
  ['userName sw "100%_"', ['100%_sure\\user']],
  ['userName co "\\\\"', ['100%_sure\\user']],
  ['userName ew "e\\\\user"', ['100%_sure\\user']],
  ['displayName co "er_sc"', ['100%_sure\\user']],
  ['displayName co "er%sc"', []],
  ['userName co "_"', ['100%_sure\\user']],
  ['userName co ""', ALL],
  // values are values: quotes and SQL in them change nothing
  [`userName eq "x' or 1=1 --"`, []],
  [`userName eq "x\\" or 1=1 --"`, []],
  [`title eq "x' or 1=1 --"`, ['100%_sure\\user']],
  [`userName eq "'); drop table scim_filter_probe; --"`, []],
]

/** What the in-memory reference evaluator selects, for cross-checking the hand-written expectations. */
function evaluatorSelects(filter: string, resources: readonly ScimResource[], schema: ResourceFilterSchema) {
  const node = parseFilter(filter)
  return resources
    .filter((r) => matchesFilter(node, r, schema))
    .map((r) => String(r.id))
    .sort()
}

describeEachDatabase('SCIM filter → SQL', (db) => {
  const q = () => db().handle.db

  beforeAll(async () => {
    await createProbeTables(q())
    await insertUsers(q(), users)
  })

  test.each(cases)('%s', async (filter, names) => {
    const expected = idsOf(...names)
    expect(await selectIds(q(), filter)).toEqual(expected)
    expect(evaluatorSelects(filter, users, probeUserSchema)).toEqual(expected)
  })

  test.each([
    ['active eq true', ['bjensen', 'jdoe']],
    ['active ne true', ['Tomalley@Example.COM']],
    ['not (active eq true)', ['Tomalley@Example.COM', 'JSmith', 'Ärger.Ölaf', '100%_sure\\user']],
    ['active pr', ['bjensen', 'Tomalley@Example.COM', 'jdoe']],
    ['active eq null', ['JSmith', 'Ärger.Ölaf', '100%_sure\\user']],
  ])('active in a boolean column: %s', async (filter, names) => {
    expect(await selectIds(q(), filter, probeUserActiveColumnSchema)).toEqual(idsOf(...names))
    expect(evaluatorSelects(filter, users, probeUserActiveColumnSchema)).toEqual(idsOf(...names))
  })

  // Neither core schema has numbers; a schema of our own shows integer and decimal attributes.
  const numbers = defineResourceSchema({
    resourceType: 'Ranked',
    table: 'i',
    jsonColumn: 'resource',
    core: {
      urn: 'urn:example:Ranked',
      attributes: [
        attribute('userName', 'string', { storage: column('user_name', 'text') }),
        attribute('rank', 'integer'),
        attribute('score', 'decimal'),
      ],
    },
    extensions: [],
  })

  test.each([
    ['rank gt 2', ['bjensen', 'Tomalley@Example.COM']],
    ['rank eq 3.0', ['bjensen']],
    ['rank ne 3', ['Tomalley@Example.COM']],
    ['rank pr', ['bjensen', 'Tomalley@Example.COM']],
    ['not (rank ge 4)', ['bjensen', 'JSmith', 'Ärger.Ölaf', '100%_sure\\user', 'jdoe']],
    ['score le 1.5 and score gt 2.5e-1', ['bjensen']],
    ['score lt 1e1', ['bjensen', 'Tomalley@Example.COM']],
  ])('numbers: %s', async (filter, names) => {
    expect(await selectIds(q(), filter, numbers)).toEqual(idsOf(...names))
    expect(evaluatorSelects(filter, users, numbers)).toEqual(idsOf(...names))
  })

  test('numbers: co on a number is invalid', () => {
    expect(() => filterToSql(parseFilter('rank co 1'), numbers)).toThrow(/"co" does not apply to rank/)
  })

  test('filter values are bound parameters, never SQL text', () => {
    const condition = filterToSql(
      parseFilter(`userName eq "x' or 1=1 --" or title co "%_\\\\"`),
      probeUserSchema,
    )
    const compiled = sql`select 1 from scim_filter_probe as i where ${condition}`.compile(q())
    expect(compiled.sql).not.toContain('1=1')
    expect(compiled.sql).not.toContain("x'")
    expect(compiled.parameters).toEqual(["x' or 1=1 --", '%\\%\\_\\\\%'])
  })

  test('the table is still there after the injection attempts', async () => {
    const rows = await sql<{ n: number }>`select count(*)::int as n from scim_filter_probe`.execute(q())
    expect(rows.rows[0]?.n).toBe(users.length)
  })

  test('userName eq on the column keeps the shape an index on lower(user_name) serves', () => {
    const condition = filterToSql(parseFilter('userName eq "bjensen"'), probeUserSchema)
    const compiled = sql`${condition}`.compile(q())
    expect(compiled.sql).toBe('(lower("i"."user_name") = lower($1::text))')
    const byId = sql`${filterToSql(parseFilter(`id eq "${id(1)}"`), probeUserSchema)}`.compile(q())
    expect(byId.sql).toBe('("i"."id" = $1::uuid)')
  })

  describe('groups', () => {
    const memberA = id(101)
    const memberB = id(102)
    const groups: ScimResource[] = [
      {
        id: id(11),
        displayName: 'Engineers',
        members: [
          { value: memberA, display: 'Ada Lovelace' },
          { value: memberB, display: 'Bob Barker' },
        ],
        meta: { created: '2020-01-01T00:00:00Z', lastModified: '2020-06-01T00:00:00Z' },
      },
      {
        id: id(12),
        displayName: 'Sales',
        externalId: 'sales-1',
        members: [{ value: memberB, display: 'Bob Barker' }],
        meta: { created: '2020-02-01T00:00:00Z', lastModified: '2021-01-01T00:00:00Z' },
      },
      {
        id: id(13),
        displayName: 'Empty',
        members: [],
        meta: { created: '2020-03-01T00:00:00Z', lastModified: '2020-03-01T00:00:00Z' },
      },
    ]
    const gids = (...names: string[]) =>
      names.map((n) => String(groups.find((g) => g.displayName === n)?.id)).sort()

    const groupCases: [string, string[]][] = [
      ['displayName eq "engineers"', ['Engineers']],
      ['displayName co "e"', ['Engineers', 'Sales', 'Empty']],
      [`members[value eq "${memberA}"]`, ['Engineers']],
      [`members.value eq "${memberB.toUpperCase()}"`, ['Engineers', 'Sales']],
      [`members eq "${memberB}"`, ['Engineers', 'Sales']],
      ['members pr', ['Engineers', 'Sales']],
      ['not (members pr)', ['Empty']],
      ['members.display co "bar"', ['Engineers', 'Sales']],
      [`members[value eq "${memberB}" and display sw "bob"] and not (members.display sw "ada")`, ['Sales']],
      ['externalId eq "sales-1"', ['Sales']],
      ['meta.lastModified gt "2020-05-01T00:00:00Z"', ['Engineers', 'Sales']],
    ]

    beforeAll(async () => {
      await insertGroups(q(), groups)
    })

    describe.each([
      ['members in the document', probeGroupJsonSchema],
      ['members in a child table', probeGroupTableSchema],
    ])('%s', (_title, schema) => {
      test.each(groupCases)('%s', async (filter, names) => {
        expect(await selectIds(q(), filter, schema)).toEqual(gids(...names))
        expect(evaluatorSelects(filter, groups, schema)).toEqual(gids(...names))
      })
    })

    test('members in a child table: an EXISTS on that table, joined to the group', () => {
      const condition = filterToSql(parseFilter(`members[value eq "${memberA}"]`), probeGroupTableSchema)
      expect(sql`${condition}`.compile(q()).sql).toBe(
        'exists (select 1 from "scim_filter_probe_members" as "e1" where "e1"."group_id" = "g"."id" and ' +
          '("e1"."member_id" = $1::uuid))',
      )
    })
  })

  test('an invalid filter fails before any SQL is built', () => {
    expect(() => filterToSql(parseFilter('nickname eq 1'), probeUserSchema)).toThrow(ScimFilterError)
  })
})
