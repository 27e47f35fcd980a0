import { randomBytes } from 'node:crypto'
import { ldapConnector } from '../../../connectors/ldap'
import { describeWithSamba, type SambaDc } from '../../helpers/samba'
import { seedOrg, type SeededOrg } from '../../helpers/samba-seed'
import { admin, allChanges, orgState, personByUserName, plan, sourceState } from '../../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

/**
 * The Active Directory connector against a real Samba AD DC: a full sync, then incremental rounds
 * from the DC's USN, with moves, leavers, deletions, manager and membership changes.
 */
describeWithSamba('ldap: Active Directory into the org tree', (samba) => {
  describeEachDatabase('ldap', (db) => {
    let app: TestApp
    let dc: SambaDc
    let org: SeededOrg
    let ou: string

    beforeAll(async () => {
      dc = samba()
      app = await startTestApp(db(), { connectors: { ldap: ldapConnector } })
      ou = await dc.createTestOu('ldap-sync')
      org = await seedOrg(dc, { base: ou, users: 120, prefix: `s${randomBytes(3).toString('hex')}` })
    }, 300_000)
    afterAll(async () => {
      await app?.close()
      if (ou) await dc.deleteTree(ou)
    })
    beforeEach(() => db().reset())

    const q = () => db().handle.db
    const person = (upn: string) => personByUserName(q(), upn)

    async function adSource(extra: Record<string, unknown> = {}) {
      const s = await app.services.sources.create(admin, {
        type: 'ldap',
        name: `AD ${randomBytes(3).toString('hex')}`,
        config: {
          url: dc.url,
          bindDn: dc.bindDn,
          bindPassword: dc.bindPassword,
          baseDn: ou,
          tlsCa: dc.ca,
          ignoredOus: [org.groupsOu],
          ...extra,
        },
        policy: { deletionThreshold: { count: 1000, share: 1 } },
        mode: 'auto',
      })
      return s.id
    }
    async function run(source: string) {
      const r = await app.services.runs.run(source, { trigger: 'manual', actor: admin })
      if (!r) throw new Error('run not claimed')
      return r
    }
    const ouPath = (dn: string) =>
      org.ous
        .filter((o) => dn === o || dn.endsWith(`,${o}`))
        .sort((a, b) => a.length - b.length)
        .map((o) => o.split(/,OU=/)[0]!.replace(/^OU=/, '').replace(/\\,/g, ','))
        .join('/')

    test('a full sync, then incremental rounds: a move, leavers, a manager and a membership change', async () => {
      const source = await adSource()
      const first = await run(source)
      expect(first).toMatchObject({ status: 'succeeded', listing: 'full' })

      // Users only (no contact, no computer), disabled and expired ones without a person.
      const identities = await q().selectFrom('identities').select('external_id').execute()
      expect(identities).toHaveLength(org.users.length)
      const inactive = [org.special.disabled, org.special.expired]
      const people = await q().selectFrom('people').select('user_name').execute()
      expect(people.map((p) => p.user_name).sort()).toEqual(
        org.users
          .filter((u) => !inactive.includes(u))
          .map((u) => u.userPrincipalName)
          .sort(),
      )
      expect(await person(org.special.neverExpiresMax.userPrincipalName)).toMatchObject({ status: 'active' })
      expect(await person(org.special.neverExpiresZero.userPrincipalName)).toMatchObject({ status: 'active' })
      // Departments are the OU tree (OU=Groups excluded), with AD's escaped names read right.
      const sample = org.users.find((u) => u.manager && u.ou.includes('Retail'))!
      const boss = org.users.find((u) => u.dn === sample.manager)!
      expect(await person(sample.userPrincipalName)).toMatchObject({
        department: { path: ouPath(sample.ou) },
        manager: { userName: boss.userPrincipalName },
        title: sample.title,
        employeeNumber: sample.employeeID,
        email: sample.mail.toLowerCase(),
      })
      expect(
        await q().selectFrom('departments').select('name').where('name', '=', 'Groups').execute(),
      ).toEqual([])
      // Nested groups are expanded: the nested group's members are members of its parent.
      const nested = org.groups.nested
      const nestedRow = await q()
        .selectFrom('groups')
        .select('id')
        .where('display_name', '=', nested.name)
        .executeTakeFirstOrThrow()
      const members = await q()
        .selectFrom('group_members')
        .select('person_id')
        .where('group_id', '=', nestedRow.id)
        .execute()
      expect(members.length).toBeGreaterThan(0)

      // Nothing changed: an incremental round with no changes.
      expect(await plan(app, source)).toMatchObject({ listing: 'incremental', changeCount: 0 })

      // The changes.
      const [mover, leaver, expiring, deleted, rewired] = org.users.filter(
        (u) => !inactive.includes(u) && u !== org.ceo && !org.users.some((o) => o.manager === u.dn),
      )
      const target = org.ous.find((o) => o !== mover!.ou && !o.includes('Groups'))!
      await dc.moveEntry(mover!.dn, target)
      await dc.disableUser(leaver!.dn)
      await dc.setAccountExpires(expiring!.dn, new Date(Date.now() - 86_400_000))
      await dc.deleteEntry(deleted!.dn)
      const newBoss = org.ceo
      await dc.modify(rewired!.dn, { manager: newBoss.dn })
      const group = org.groups.department
      const added = org.users.find(
        (u) => !group.members.includes(u.dn) && !inactive.includes(u) && u !== deleted,
      )!
      await dc.addGroupMember(group.dn, added.dn)

      const p = await plan(app, source)
      expect(p).toMatchObject({ status: 'ready', listing: 'incremental' })
      expect(p.summary).toMatchObject({
        people: { move: 1, suspend: 3, manager: 1, create: 0, update: 0 },
        memberships: { added: 1 },
      })
      const kinds = new Set((await allChanges(app, p.id)).map((c) => c.kind))
      expect([...kinds].sort()).toEqual(
        [
          'group.members.add',
          'identity.remove',
          'identity.update',
          'person.manager',
          'person.move',
          'person.suspend',
          ...(p.summary.memberships.removed ? ['group.members.remove'] : []),
        ].sort(),
      )
      await app.services.plans.apply(p.id, admin)
      expect(await person(mover!.userPrincipalName)).toMatchObject({ department: { path: ouPath(target) } })
      expect(await person(leaver!.userPrincipalName)).toMatchObject({ status: 'suspended' })
      expect(await person(expiring!.userPrincipalName)).toMatchObject({ status: 'suspended' })
      expect(await person(deleted!.userPrincipalName)).toMatchObject({
        status: 'suspended',
        suspendedReason: expect.stringContaining('no longer in'),
      })
      expect(await person(rewired!.userPrincipalName)).toMatchObject({
        manager: { userName: newBoss.userPrincipalName },
      })
      expect(await plan(app, source)).toMatchObject({ listing: 'incremental', changeCount: 0 })
    }, 300_000)

    test('tombstones (an account that may read deleted objects) find a deleted user; an OU rename is a department rename', async () => {
      const source = await adSource({
        bindDn: dc.adminDn,
        bindPassword: dc.adminPassword,
        deletedObjects: 'tombstones',
      })
      await run(source)
      // From the end of the list: the first test changed people from its start.
      const gone = [...org.users]
        .reverse()
        .find(
          (u) =>
            u.manager &&
            !org.users.some((o) => o.manager === u.dn) &&
            u !== org.special.disabled &&
            u !== org.special.expired,
        )!
      await dc.deleteEntry(gone.dn)
      const renamed = org.ous.find((o) => o.startsWith('OU=Engineering'))!
      await dc.renameOu(renamed, 'Engineering & Science')
      const p = await plan(app, source)
      expect(p).toMatchObject({ listing: 'incremental' })
      expect(p.summary).toMatchObject({
        people: { suspend: 1, move: 0 },
        departments: { rename: 1, move: 0 },
      })
      const changes = await allChanges(app, p.id)
      // Found as a tombstone (user.removed), not by a roster: the same leaver either way.
      expect(changes.find((c) => c.kind === 'person.suspend')!.after).toMatchObject({
        reason: expect.stringContaining('no longer in'),
      })
      expect(changes.find((c) => c.kind === 'department.rename')).toMatchObject({
        before: { name: 'Engineering' },
        after: { name: 'Engineering & Science' },
      })
      await app.services.plans.apply(p.id, admin)
      expect(await person(gone.userPrincipalName)).toMatchObject({ status: 'suspended' })
      // Moved along with their OU, people keep their department (by GUID) and its new path.
      const inside = org.users.find(
        (u) => u.ou === renamed && u !== gone && u !== org.special.disabled && u !== org.special.expired,
      )
      if (inside)
        expect(await person(inside.userPrincipalName)).toMatchObject({
          department: { name: 'Engineering & Science' },
        })
      await dc.renameOu(renamed.replace(/^OU=Engineering/, 'OU=Engineering & Science'), 'Engineering')
    }, 180_000)

    test('another DC or a restored one (a different invocationId) forces a full listing', async () => {
      const source = await adSource()
      await run(source)
      const state = await sourceState(q(), source)
      const cursor = JSON.parse(state.cursor!) as { invocationId: string }
      const before = await orgState(q())
      await q()
        .updateTable('sources')
        .set({ cursor: JSON.stringify({ ...cursor, invocationId: '00000000-0000-0000-0000-000000000000' }) })
        .where('id', '=', source)
        .execute()
      const r = await run(source)
      expect(r).toMatchObject({
        status: 'succeeded',
        listing: 'full',
        resyncReason: expect.stringContaining('invocationId changed'),
      })
      expect((await app.services.plans.get(r.planId!)).changeCount).toBe(0)
      expect((await orgState(q())).people).toEqual(before.people)
    }, 120_000)

    test('check: a wrong password and a missing base DN are named; StartTLS works', async () => {
      const ok = await adSource({ url: dc.startTlsUrl })
      expect(await app.services.plans.check(ok, new AbortController().signal)).toMatchObject({ ok: true })

      const wrong = await adSource({ bindPassword: 'not-the-password' })
      const bad = await app.services.plans.check(wrong, new AbortController().signal)
      expect(bad).toMatchObject({ ok: false })
      expect(bad.checks[0]!.message).toMatch(/^ldap: bind as .* failed: wrong password .*\(AD code 52e\)/)

      const missing = await adSource({ baseDn: `OU=Nowhere,${ou}` })
      const nowhere = await app.services.plans.check(missing, new AbortController().signal)
      expect(nowhere.checks.find((c) => c.name === 'base DN')).toMatchObject({
        ok: false,
        message: expect.stringContaining('does not exist'),
      })

      const untrusted = await adSource({ tlsCa: undefined })
      const tls = await app.services.plans.check(untrusted, new AbortController().signal)
      expect(tls.checks[0]!.message).toMatch(/not trusted.*tlsCa/)
    }, 120_000)
  })
})
