import { randomUUID } from 'node:crypto'
import { parseListParams } from '../../src/scim/list-params'
import { isUserNameLookup, userNameLookupQuery } from '../../src/scim/user-name-lookup'
import { userPage } from '../../src/scim/user-resources'
import { describeEachDatabase } from '../helpers/test-database'

describeEachDatabase('userName lookups from a template', (db) => {
  const general = (sourceId: string, query: Record<string, unknown>) =>
    userPage(db().handle.db, sourceId, parseListParams(query))

  test.each([
    { filter: 'userName eq "alice@corp.example"' },
    { filter: 'USERNAME eq "Ünïcode \\"quoted\\" O\'Brien"' },
    { filter: 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"', count: '1', startIndex: '3' },
    { filter: 'userName eq ""', count: '0' },
  ])('the template gives the same SQL and values as building the query: %o', (query) => {
    const sourceId = randomUUID()
    const params = parseListParams(query)
    expect(isUserNameLookup(params)).toBe(true)
    if (!isUserNameLookup(params)) return
    const fromTemplate = userNameLookupQuery(db().handle.db, userPage, sourceId, params)
    const built = general(sourceId, query)
    expect(fromTemplate).toBeDefined()
    expect(fromTemplate!.sql).toBe(built.sql)
    expect(fromTemplate!.parameters).toEqual(built.parameters)
  })

  test.each([
    'userName co "alice"',
    'userName eq "a" and active eq true',
    'externalId eq "alice"',
    'emails.value eq "alice@corp.example"',
    'userName eq 12',
  ])('%s is not a lookup: it takes the general path', (filter) => {
    expect(isUserNameLookup(parseListParams({ filter }))).toBe(false)
  })

  test('a sort makes it the general path too', () => {
    expect(isUserNameLookup(parseListParams({ filter: 'userName eq "a"', sortBy: 'userName' }))).toBe(false)
  })
})
