import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { ldapConnector } from '../../../connectors/ldap'
import { guidFromBuffer } from '../../../connectors/ldap/ad-values'
import type { Connector, RemoteChange } from '../../../src/sync/connector'
import { describeWithSamba, type SambaDc } from '../../helpers/samba'
import { seedOrg, type SeededOrg, type SeededUser } from '../../helpers/samba-seed'
import { admin, allChanges, personByUserName, plan, sourceState, runNow } from '../../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

/**
 * AD incremental runs by DirSync (incremental: "dirsync") against a real Samba AD DC, bound as the
 * Administrator (an account with "Replicating Directory Changes", which DirSync needs).
 */
describeWithSamba('ldap: DirSync incremental runs', (samba) => {
  let dc: SambaDc
  let org: SeededOrg
  let ou: string
  const prefix = `d${randomBytes(3).toString('hex')}`

  beforeAll(async () => {
    dc = samba()
    ou = await dc.createTestOu('dirsync')
    org = await seedOrg(dc, { base: ou, users: 40, prefix })
  }, 300_000)
  afterAll(async () => {
    if (ou) await dc.deleteTree(ou)
  })

  const settings = (extra: Record<string, unknown> = {}) => ({
    url: dc.url,
    bindDn: dc.adminDn,
    bindPassword: dc.adminPassword,
    baseDn: ou,
    tlsCa: dc.ca,
    ignoredOus: [org.groupsOu],
    incremental: 'dirsync' as const,
    ...extra,
  })
  /** Users nobody reports to and that are neither special accounts nor the CEO, unused so far. */
  const used = new Set<SeededUser>()
  const pickUsers = (n: number) => {
    const special = Object.values(org.special)
    const out = org.users
      .filter(
        (u) =>
          !used.has(u) && !special.includes(u) && u !== org.ceo && !org.users.some((o) => o.manager === u.dn),
      )
      .slice(0, n)
    if (out.length < n) throw new Error('not enough users to change')
    for (const u of out) used.add(u)
    return out
  }

  test('the connector reads what changed as DirSync reports it: partial records, tombstones', async () => {
    const connector: Connector = ldapConnector.open(settings({ deletedObjects: 'tombstones' }), {
      logger: pino({ level: 'silent' }),
    } as Parameters<typeof ldapConnector.open>[1])
    const signal = new AbortController().signal
    await connector.listDepartments(undefined, signal)
    const listed = new Set<string>()
    for (let cursor: string | undefined; ;) {
      const page = await connector.listUsers(cursor, signal)
      for (const u of page.items) listed.add(u.externalId)
      if (!page.nextCursor) break
      cursor = page.nextCursor
    }
    for (let cursor: string | undefined; ;) {
      const page = await connector.listGroups(cursor, signal)
      if (!page.nextCursor) break
      cursor = page.nextCursor
    }
    const token = connector.deltaToken!()!
    expect(JSON.parse(token)).toMatchObject({ v: 1, kind: 'dirsync' })

    // Other tests change the domain meanwhile: DirSync reads the whole naming context, and users
    // outside this source come as removals the engine ignores. Only this source's users count.
    const read = async (from: string) => {
      const changes: RemoteChange[] = []
      let cursor: string | undefined
      for (;;) {
        const page = await connector.changes!(from, cursor, signal)
        changes.push(...page.changes)
        if (!page.nextCursor) return { changes: changes.filter(ours), deltaToken: page.deltaToken! }
        cursor = page.nextCursor
      }
    }
    const ours = (c: RemoteChange) =>
      c.kind === 'user.removed'
        ? listed.has(c.externalId)
        : c.kind === 'user' || c.kind === 'user.partial'
          ? listed.has(c.user.externalId)
          : true
    expect((await read(token)).changes).toEqual([])

    const [retitled, gone] = pickUsers(2)
    const guidOf = async (u: SeededUser) =>
      guidFromBuffer((await dc.getEntry(u.dn, ['objectGUID']))!.objectGUID as Buffer)
    const retitledId = await guidOf(retitled!)
    const goneId = await guidOf(gone!)
    await dc.modify(retitled!.dn, { title: 'Chief Tester' })
    await dc.deleteEntry(gone!.dn)
    const round = await read(token)
    // Exactly these, in either order; the partial record holds what changed (and the placement).
    const byKind = (a: { kind: string }, b: { kind: string }) => a.kind.localeCompare(b.kind)
    expect(
      round.changes
        .map((c) => ({ ...c, ...('user' in c ? { user: { ...c.user, raw: undefined } } : {}) }))
        .sort(byKind),
    ).toEqual([
      {
        kind: 'user.partial',
        user: {
          externalId: retitledId,
          title: 'Chief Tester',
          departmentExternalId: expect.any(String),
          raw: undefined,
        },
      },
      { kind: 'user.removed', externalId: goneId, deleted: false },
    ])
    // The next round starts after these changes.
    expect((await read(round.deltaToken)).changes).toEqual([])
  }, 180_000)

  describeEachDatabase('ldap dirsync', (db) => {
    let app: TestApp
    beforeAll(async () => {
      app = await startTestApp(db(), { connectors: { ldap: ldapConnector } })
    }, 120_000)
    afterAll(async () => {
      await app?.close()
    })
    beforeEach(() => db().reset())
    const q = () => db().handle.db
    const person = (upn: string) => personByUserName(q(), upn)

    async function source(extra: Record<string, unknown> = {}) {
      const s = await app.services.sources.create(admin, {
        type: 'ldap',
        name: `AD ${randomBytes(3).toString('hex')}`,
        config: settings(extra),
        policy: { deletionThreshold: { count: 1000, share: 1 } },
        mode: 'auto',
      })
      return s.id
    }
    const run = (id: string) => runNow(app, id)

    test('a full sync, then a DirSync round: a title change, a move, a joiner, a disable, a deletion', async () => {
      const id = await source({ deletedObjects: 'tombstones' })
      expect(await run(id)).toMatchObject({ status: 'succeeded', listing: 'full' })
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })

      const [retitled, mover, leaver, deleted] = pickUsers(4)
      const target = org.ous.find((o) => o !== mover!.ou)!
      await dc.modify(retitled!.dn, { title: 'Chief Tester' })
      await dc.moveEntry(mover!.dn, target)
      await dc.disableUser(leaver!.dn)
      await dc.deleteEntry(deleted!.dn)
      const joiner = `${prefix}j${randomBytes(2).toString('hex')}`
      await dc.createUser(org.ous[0]!, {
        sAMAccountName: joiner,
        givenName: 'Jo',
        sn: 'Iner',
        displayName: `Jo Iner ${joiner}`,
        title: 'Joiner',
      })

      const p = await plan(app, id)
      expect(p).toMatchObject({ status: 'ready', listing: 'incremental' })
      expect(p.summary.people).toEqual({
        create: 1,
        update: 1,
        move: 1,
        manager: 0,
        suspend: 2,
        reactivate: 0,
        deprovision: 0,
      })
      const changes = await allChanges(app, p.id)
      // A deleted user also leaves their groups (AD removes the member values).
      const kinds = changes
        .map((c) => c.kind)
        .filter((k) => !k.startsWith('identity.') && k !== 'group.members.remove')
      expect(kinds.sort()).toEqual([
        'person.create',
        'person.move',
        'person.suspend',
        'person.suspend',
        'person.update',
      ])
      await app.services.plans.apply(p.id, admin)
      expect(await person(retitled!.userPrincipalName)).toMatchObject({ title: 'Chief Tester' })
      expect(await person(mover!.userPrincipalName)).toMatchObject({
        department: { name: target.split(/,OU=/)[0]!.replace(/^OU=/, '') },
      })
      expect(await person(leaver!.userPrincipalName)).toMatchObject({ status: 'suspended' })
      expect(await person(deleted!.userPrincipalName)).toMatchObject({ status: 'suspended' })
      expect(await person(`${joiner}@test.local`)).toMatchObject({ status: 'active', title: 'Joiner' })
      expect(await plan(app, id)).toMatchObject({ listing: 'incremental', changeCount: 0 })
    }, 300_000)

    test('check: DirSync needs "Replicating Directory Changes" (the service account lacks it)', async () => {
      const ok = await source()
      const passed = await app.services.plans.check(ok, new AbortController().signal)
      expect(passed).toMatchObject({ ok: true })
      expect(passed.checks.find((c) => c.name === 'change tracking')!.message).toMatch(/DirSync/)

      const plain = await source({ bindDn: dc.bindDn, bindPassword: dc.bindPassword })
      const failed = await app.services.plans.check(plain, new AbortController().signal)
      expect(failed.checks.find((c) => c.name === 'change tracking')).toMatchObject({
        ok: false,
        message: expect.stringContaining('Replicating Directory Changes'),
      })
    }, 120_000)

    test('a cookie the DC refuses makes a full listing, and the run says why', async () => {
      const id = await source()
      await run(id)
      const state = await sourceState(q(), id)
      const cursor = JSON.parse(state.cursor!) as Record<string, unknown>
      expect(cursor).toMatchObject({ v: 1, kind: 'dirsync' })
      await q()
        .updateTable('sources')
        .set({ cursor: JSON.stringify({ ...cursor, users: Buffer.from('not a cookie').toString('base64') }) })
        .where('id', '=', id)
        .execute()
      const r = await run(id)
      expect(r).toMatchObject({
        status: 'succeeded',
        listing: 'full',
        resyncReason: expect.stringContaining('DirSync cookie'),
      })
      expect((await app.services.plans.get(r.planId!)).changeCount).toBe(0)
    }, 180_000)
  })
})
