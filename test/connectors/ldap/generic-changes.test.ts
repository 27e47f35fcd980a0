import { randomBytes } from 'node:crypto'
import { ldapConnector } from '../../../connectors/ldap'
import { Attribute, Change } from 'ldapts'
import { parseGeneralizedTime } from '../../../connectors/ldap/generalized-time'
import type { Page, RemoteChange } from '../../../src/sync/connector'
import { createLogger } from '../../../src/logger'
import { describeWithSlapd, genericSourceConfig, type Slapd } from '../../helpers/slapd'
import {
  admin,
  allChanges,
  personByUserName,
  plan,
  sourceState,
  runNow,
  memberUserNames,
} from '../../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

/**
 * The generic flavour's incremental runs against a real OpenLDAP: after a full listing, a run reads
 * the users, OUs and groups whose modifyTimestamp is at or after the cursor, and every user's
 * entryUUID to find leavers. Each database's tests work on their own copy of the seeded org.
 */
describeWithSlapd('ldap generic: incremental runs from modifyTimestamp', (server) => {
  describeEachDatabase('ldap generic changes', (db) => {
    let app: TestApp
    let ld: Slapd
    let base: string
    const dn = {
      platform: () => `ou=Platform,ou=Engineering,${base}`,
      data: () => `ou=Data,ou=Engineering,${base}`,
      finance: () => `ou=Finance,${base}`,
      groups: () => `ou=Groups,${base}`,
    }

    beforeAll(async () => {
      ld = server()
      app = await startTestApp(db(), { connectors: { ldap: ldapConnector } })
      base = await ld.cloneOrg('changes')
    })
    afterAll(async () => {
      await app?.close()
      if (base) await ld.deleteTree(base)
    })
    beforeEach(() => db().reset())

    const q = () => db().handle.db
    const person = (uid: string) => personByUserName(q(), uid)
    const settings = (extra: Record<string, unknown> = {}) =>
      genericSourceConfig(ld, extra, { baseDn: base, groupsDn: dn.groups() })
    async function source(extra: Record<string, unknown> = {}) {
      const s = await app.services.sources.create(admin, {
        type: 'ldap',
        name: `OpenLDAP ${randomBytes(3).toString('hex')}`,
        config: settings(extra),
        policy: { deletionThreshold: { count: 1000, share: 1 } },
        mode: 'auto',
      })
      return s.id
    }
    const run = (id: string) => runNow(app, id)
    const membersOf = (group: string) => memberUserNames(q(), group)
    /** The plan's changes as "kind <uid or group>" lines, sorted: what a reviewer would see, exactly. */
    async function changeLines(planId: string): Promise<string[]> {
      const names = new Map<string, string>()
      for (const p of await q().selectFrom('people').select(['id', 'user_name']).execute())
        names.set(p.id, p.user_name)
      for (const i of await q().selectFrom('identities').select(['id', 'external_id', 'user_name']).execute())
        names.set(i.id, i.user_name ?? '?').set(`p:${i.external_id}`, i.user_name ?? '?')
      for (const g of await q().selectFrom('groups').select(['id', 'display_name']).execute())
        names.set(g.id, g.display_name)
      for (const e of await ld.search(base, '(objectClass=inetOrgPerson)', ['uid', 'entryUUID']))
        names.set(`p:${String(e.entryUUID)}`, String(e.uid))
      return (await allChanges(app, planId))
        .map((c) => `${c.kind} ${names.get(c.targetId ?? c.ref ?? '') ?? c.targetId ?? c.ref}`)
        .sort()
    }

    test('a title change, an OU move, a joiner and a leaver: an incremental plan of exactly those', async () => {
      const id = await source()
      expect(await run(id)).toMatchObject({ status: 'succeeded', listing: 'full' })
      const cursor = JSON.parse((await sourceState(q(), id)).cursor!) as { kind: string; since: string }
      expect(cursor).toMatchObject({ kind: 'modifyTimestamp', since: expect.stringMatching(/^\d{14}Z$/) })
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })

      await ld.modify(`uid=barbara,${dn.data()}`, { title: 'Senior Analyst' })
      // modrdn with newSuperior: dennis (a platform group member) moves from Platform to Data.
      await ld.move(`uid=dennis,${dn.platform()}`, dn.data())
      await ld.addPerson(dn.finance(), {
        uid: 'mary',
        givenName: 'Mary',
        sn: 'Jackson',
        title: 'Analyst',
        employeeNumber: 'E1100',
        manager: `uid=katherine,${dn.finance()}`,
      })
      // No reports, in no group: found gone only because the entryUUID listing lacks her.
      await ld.delete(`uid=frances,${dn.data()}`)

      const p = await plan(app, id)
      expect(p).toMatchObject({ status: 'ready', listing: 'incremental' })
      expect(p.summary).toMatchObject({
        people: { create: 1, update: 1, move: 1, suspend: 1 },
        memberships: { added: 0, removed: 0 },
      })
      expect(await changeLines(p.id)).toEqual([
        'identity.remove frances',
        'identity.update barbara',
        'identity.update dennis',
        'person.create mary',
        'person.manager mary',
        'person.move dennis',
        'person.suspend frances',
        'person.update barbara',
      ])
      await app.services.plans.apply(p.id, admin)

      expect(await person('barbara')).toMatchObject({ title: 'Senior Analyst' })
      expect(await person('dennis')).toMatchObject({
        department: { path: 'Engineering/Data' },
        manager: { userName: 'linus' },
      })
      expect(await person('mary')).toMatchObject({
        status: 'active',
        department: { path: 'Finance' },
        manager: { userName: 'katherine' },
        employeeNumber: 'E1100',
      })
      expect(await person('frances')).toMatchObject({
        status: 'suspended',
        suspendedReason: expect.stringContaining('no longer in'),
      })
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })
    }, 60_000)

    test('a member added to a nested group changes that group and the group it is nested in', async () => {
      const id = await source()
      await run(id)
      await ld.modify(`cn=platform,${dn.groups()}`, [
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'member', values: [`uid=emmy,${dn.finance()}`] }),
        }),
      ])
      const p = await plan(app, id)
      expect(p).toMatchObject({ listing: 'incremental', summary: { memberships: { added: 2, removed: 0 } } })
      expect(await changeLines(p.id)).toEqual(['group.members.add engineering', 'group.members.add platform'])
      await app.services.plans.apply(p.id, admin)
      expect(await membersOf('engineering')).toContain('emmy')
      expect(await membersOf('platform')).toContain('emmy')
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })
    }, 60_000)

    test('a round reads only the entries stamped since its cursor, and every entryUUID', async () => {
      const connector = ldapConnector.open(ldapConnector.configSchema.parse(settings()), {
        logger: createLogger('silent'),
        fetch,
      })
      const signal = new AbortController().signal
      const drain = async <T>(list: (cursor: string | undefined, s: AbortSignal) => Promise<Page<T>>) => {
        const out: T[] = []
        let cursor: string | undefined
        do {
          const page = await list(cursor, signal)
          out.push(...page.items)
          cursor = page.nextCursor
        } while (cursor)
        return out
      }
      await drain(connector.listDepartments.bind(connector))
      const users = await drain(connector.listUsers.bind(connector))
      await drain(connector.listGroups.bind(connector))
      const token = JSON.parse(connector.deltaToken!()!) as { since: string; listedAt: number }
      const newest = Math.max(
        ...(await ld.search(base, '(objectClass=*)', ['modifyTimestamp'])).map((e) =>
          parseGeneralizedTime(String(e.modifyTimestamp))!,
        ),
      )
      // From the newest stamp read, less the listing's time and the overlap.
      expect(parseGeneralizedTime(token.since)!).toBeLessThanOrEqual(newest - 10 * 60_000)

      // Past the second of every earlier change, one user and one group change; a cursor at the
      // first of them reads those two, with the full entryUUID listing.
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const ken = `uid=ken,${dn.platform()}`
      await ld.modify(ken, { title: 'Staff Engineer' })
      await ld.modify(`cn=finance,${dn.groups()}`, { description: 'Finance and accounting' })
      const stamp = String((await ld.getEntry(ken, ['modifyTimestamp']))!.modifyTimestamp)
      const changes: RemoteChange[] = []
      let cursor: string | undefined
      let next: string | undefined
      do {
        const page = await connector.changes!(JSON.stringify({ ...token, since: stamp }), cursor, signal)
        changes.push(...page.changes)
        cursor = page.nextCursor
        next = page.deltaToken
      } while (cursor)
      const of = <K extends RemoteChange['kind']>(kind: K) =>
        changes.filter((c): c is Extract<RemoteChange, { kind: K }> => c.kind === kind)
      expect(of('user').map((c) => [c.user.userName, c.user.title])).toEqual([['ken', 'Staff Engineer']])
      expect(of('user')[0]!.user).toMatchObject({
        departmentExternalId: users.find((u) => u.userName === 'ken')!.departmentExternalId,
        manager: users.find((u) => u.userName === 'ken')!.manager,
      })
      expect(of('group').map((c) => [c.group.displayName, c.group.description])).toEqual([
        ['finance', 'Finance and accounting'],
      ])
      expect(of('department')).toEqual([])
      expect(
        of('user.roster')
          .flatMap((c) => c.externalIds)
          .sort(),
      ).toEqual(
        (await ld.search(base, '(objectClass=inetOrgPerson)', ['entryUUID']))
          .map((e) => String(e.entryUUID))
          .sort(),
      )
      // The next cursor: the newest stamp this round read, less its time and the overlap.
      const after = JSON.parse(next!) as { since: string; listedAt: number }
      expect(after.listedAt).toBe(token.listedAt)
      expect(parseGeneralizedTime(after.since)!).toBeLessThanOrEqual(
        parseGeneralizedTime(stamp)! - 10 * 60_000,
      )
      expect(parseGeneralizedTime(after.since)!).toBeGreaterThan(parseGeneralizedTime(stamp)! - 11 * 60_000)
    }, 60_000)

    test('a cursor this flavour cannot read, or a week old, makes a full listing that says why', async () => {
      const id = await source()
      await run(id)
      const { cursor } = await sourceState(q(), id)
      const setCursor = (value: string) =>
        q().updateTable('sources').set({ cursor: value }).where('id', '=', id).execute()

      await setCursor(
        JSON.stringify({ v: 1, dsa: 'cn=ntds settings,…', invocationId: 'x', usn: '1', listedAt: 0 }),
      )
      const r = await run(id)
      expect(r).toMatchObject({ listing: 'full', resyncReason: expect.stringContaining('modifyTimestamp') })
      expect((await app.services.plans.get(r.planId!)).changeCount).toBe(0)

      const old = { ...(JSON.parse(cursor!) as object), listedAt: Date.now() - 8 * 86_400_000 }
      await setCursor(JSON.stringify(old))
      expect(await run(id)).toMatchObject({
        listing: 'full',
        resyncReason: expect.stringContaining('weekly full listing'),
      })
    }, 60_000)

    test('an OU renamed and an OU moved: a department rename and move; their people stay in them', async () => {
      const id = await source()
      await run(id)
      await ld.rename(dn.finance(), 'ou=Finance & Tax')
      await ld.move(dn.data(), `ou=Retail\\, Wholesale,${base}`)
      const p = await plan(app, id)
      expect(p).toMatchObject({ status: 'ready', listing: 'incremental' })
      expect(p.summary).toMatchObject({
        departments: { rename: 1, move: 1 },
        people: { move: 0, update: 0, suspend: 0 },
      })
      expect((await allChanges(app, p.id)).map((c) => c.kind).sort()).toEqual([
        'department.move',
        'department.rename',
      ])
      await app.services.plans.apply(p.id, admin)
      expect(await person('alan')).toMatchObject({ department: { path: 'Finance & Tax' } })
      expect(await person('barbara')).toMatchObject({
        department: { path: 'Retail, Wholesale/Data' },
        manager: { userName: 'margaret' },
      })
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })
    }, 60_000)
  })
})
