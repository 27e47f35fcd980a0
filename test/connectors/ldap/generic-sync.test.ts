import { randomBytes } from 'node:crypto'
import { ldapConnector } from '../../../connectors/ldap'
import { describeWithSlapd, genericSourceConfig, type Slapd } from '../../helpers/slapd'
import { admin, orgState, personByUserName, plan, runNow, memberUserNames } from '../../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

/**
 * The generic flavour against a real OpenLDAP (test/ldap/slapd.sh): a full sync of the seeded org
 * (ou=Acme), people keyed by entryUUID, departments from the OU tree or from departmentNumber,
 * managers by DN, groupOfNames and groupOfUniqueNames groups with a nested group expanded.
 */
describeWithSlapd('ldap generic: OpenLDAP into the org tree', (server) => {
  describeEachDatabase('ldap generic', (db) => {
    let app: TestApp
    let ld: Slapd
    /** uid → entryUUID of every person the seeded org has. */
    let uuids: Map<string, string>

    beforeAll(async () => {
      ld = server()
      app = await startTestApp(db(), { connectors: { ldap: ldapConnector } })
      const people = await ld.search(ld.orgDn, '(objectClass=inetOrgPerson)', ['uid', 'entryUUID'])
      uuids = new Map(people.map((e) => [String(e.uid), String(e.entryUUID)]))
    })
    afterAll(async () => {
      await app?.close()
    })
    beforeEach(() => db().reset())

    const q = () => db().handle.db
    const person = (uid: string) => personByUserName(q(), uid)

    async function source(extra: Record<string, unknown> = {}) {
      const s = await app.services.sources.create(admin, {
        type: 'ldap',
        name: `OpenLDAP ${randomBytes(3).toString('hex')}`,
        config: genericSourceConfig(ld, extra),
        policy: { deletionThreshold: { count: 1000, share: 1 } },
        mode: 'auto',
      })
      return s.id
    }
    const run = (id: string) => runNow(app, id)
    const membersOf = (group: string) => memberUserNames(q(), group)

    test('a full sync: people by entryUUID, the OU tree as departments, managers by DN, groups', async () => {
      const id = await source()
      expect(await run(id)).toMatchObject({ status: 'succeeded', listing: 'full' })

      // Every inetOrgPerson, keyed by its entryUUID; the device and the organizationalRole are not people.
      const identities = await q().selectFrom('identities').select(['external_id', 'user_name']).execute()
      expect(new Map(identities.map((i) => [i.user_name, i.external_id]))).toEqual(uuids)
      expect(uuids.size).toBe(16)
      expect((await q().selectFrom('people').select('user_name').execute()).length).toBe(16)

      // The OU tree below the base, OU=Groups left out; escaped and non-ASCII names read right, and an
      // OU with two `ou` values named by its DN.
      const departments = await q().selectFrom('departments').select('path').orderBy('path').execute()
      expect(departments.map((d) => d.path)).toEqual([
        'Engineering',
        'Engineering/Data',
        'Engineering/Platform',
        'Finance',
        'Retail, Wholesale',
        'Retail, Wholesale/Zürich',
      ])
      expect(await person('jose')).toMatchObject({
        displayName: 'José García',
        givenName: 'José',
        familyName: 'García',
        email: 'jose@example.org',
        title: 'Sales Associate',
        employeeNumber: 'E1011',
        status: 'active',
        department: { path: 'Retail, Wholesale/Zürich' },
        // manager: uid=sofia,ou=Retail\, Wholesale,… while the server names her entry ou=Retail\2C Wholesale
        manager: { userName: 'sofia' },
      })
      expect(await person('soren')).toMatchObject({ manager: { userName: 'jose' } })
      expect(await person('alan')).toMatchObject({
        department: { path: 'Finance' },
        manager: { userName: 'katherine' },
      })
      expect(await person('ada')).toMatchObject({ department: null, manager: null, title: 'Chief Executive' })
      expect(await person('ken')).toMatchObject({
        department: { path: 'Engineering/Platform' },
        manager: { userName: 'linus' },
      })

      // groupOfNames with the platform group nested in engineering; a groupOfUniqueNames.
      expect(await membersOf('platform')).toEqual(['dennis', 'ken', 'linus'])
      expect(await membersOf('engineering')).toEqual(
        ['barbara', 'dennis', 'grace', 'hedy', 'ken', 'linus', 'margaret'].sort(),
      )
      expect(await membersOf('managers')).toEqual(['ada', 'grace', 'katherine', 'linus', 'margaret', 'sofia'])
      expect(await membersOf('finance')).toEqual(['alan', 'emmy', 'katherine'])

      // The next run reads only what changed since (modifyTimestamp): nothing.
      const before = await orgState(q())
      const again = await plan(app, id)
      expect(again).toMatchObject({ status: 'ready', listing: 'incremental', changeCount: 0 })
      expect((await orgState(q())).people).toEqual(before.people)
    }, 60_000)

    test('departments from departmentNumber (attribute mode), read in small pages', async () => {
      const id = await source({ departmentsFrom: 'attribute', pageSize: 4 })
      expect(await run(id)).toMatchObject({ status: 'succeeded', listing: 'full' })
      expect((await q().selectFrom('identities').select('id').execute()).length).toBe(16)
      expect(await person('jose')).toMatchObject({ department: { path: 'Retail, Wholesale/Zürich' } })
      expect(await person('dennis')).toMatchObject({ department: { path: 'Engineering/Platform' } })
      expect(await person('alan')).toMatchObject({ department: { path: 'Finance' } })
      // The CEO has no departmentNumber: no department.
      expect(await person('ada')).toMatchObject({ department: null })
      expect(await membersOf('engineering')).toHaveLength(7)
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })
    }, 60_000)
  })
})
