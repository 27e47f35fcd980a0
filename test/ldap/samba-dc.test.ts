import { Change, Attribute, Client, Control, InvalidCredentialsError, StrongAuthRequiredError } from 'ldapts'
import { describeWithSamba, fileTime, randomPrefix } from '../helpers/samba'
import { readSharedOrg, seedOrg, type SeededOrg } from '../helpers/samba-seed'

const PEOPLE = '(&(objectClass=user)(objectCategory=person))'
const SHOW_DELETED = '1.2.840.113556.1.4.417'

/** objectGUID bytes as AD's string form (the first three groups are little-endian). */
function guidString(b: Buffer): string {
  const h = b.toString('hex')
  const swap = (s: string) => s.match(/../g)!.reverse().join('')
  return `${swap(h.slice(0, 8))}-${swap(h.slice(8, 12))}-${swap(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20)}`
}

describeWithSamba('the test Samba AD DC', (samba) => {
  let svc: Client

  beforeAll(async () => {
    svc = await samba().connect()
  })
  afterAll(async () => {
    await svc?.unbind()
  })

  test('binds as the service account over LDAPS, trusting our CA for 127.0.0.1', async () => {
    const dc = samba()
    expect(dc.url).toBe('ldaps://127.0.0.1:636')
    const { searchEntries } = await svc.search(dc.bindDn, { scope: 'base', attributes: ['memberOf'] })
    // A plain Domain User: no group memberships besides its primary group (not listed in memberOf).
    expect(searchEntries[0]?.memberOf).toEqual([])
    await expect(
      new Client({ url: dc.url, connectTimeout: 5000 }).bind(dc.bindDn, dc.bindPassword),
    ).rejects.toThrow(/certificate/)
  })

  test('binds over StartTLS on 389, and refuses a plain simple bind there with code 8', async () => {
    const dc = samba()
    const tls = await dc.connect({ startTls: true })
    try {
      const { searchEntries } = await tls.search(dc.baseDn, { scope: 'base', attributes: ['objectSid'] })
      expect(searchEntries[0]?.dn).toBe(dc.baseDn)
    } finally {
      await tls.unbind()
    }
    const plain = new Client({ url: dc.startTlsUrl, connectTimeout: 5000 })
    try {
      await expect(plain.bind(dc.bindDn, dc.bindPassword)).rejects.toBeInstanceOf(StrongAuthRequiredError)
    } finally {
      await plain.unbind()
    }
  })

  test('pages through the seeded users and reads objectGUID as a 16-byte Buffer', async () => {
    const dc = samba()
    const org = readSharedOrg()
    let pages = 0
    const seen = new Map<string, Buffer>()
    for await (const page of svc.searchPaginated(dc.peopleBaseDn, {
      filter: PEOPLE,
      attributes: ['objectGUID', 'sAMAccountName'],
      explicitBufferAttributes: ['objectGUID'],
      paged: { pageSize: 500 },
    })) {
      pages++
      for (const e of page.searchEntries) seen.set(String(e.sAMAccountName), e.objectGUID as Buffer)
    }
    expect(seen.size).toBe(org.users.length)
    // Samba ends with an empty page when the total is a multiple of the page size (Windows does not).
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(org.users.length / 500))
    expect(pages).toBeLessThanOrEqual(Math.ceil(org.users.length / 500) + 1)
    const guid = seen.get(org.ceo.sAMAccountName)
    expect(Buffer.isBuffer(guid)).toBe(true)
    expect(guid).toHaveLength(16)
    // The filter keeps the contact and the computer out; the service account lives outside the base.
    expect(seen.has('svc-orgsync')).toBe(false)
  })

  test('the seeded org has the special accounts, managers as DNs and escaped OU names', async () => {
    const org = readSharedOrg()
    const read = async (dn: string, attributes: string[]) =>
      (await svc.search(dn, { scope: 'base', attributes })).searchEntries[0]!
    expect((await read(org.special.disabled.dn, ['userAccountControl'])).userAccountControl).toBe('514')
    expect((await read(org.special.neverExpiresMax.dn, ['accountExpires'])).accountExpires).toBe(
      '9223372036854775807',
    )
    expect((await read(org.special.neverExpiresZero.dn, ['accountExpires'])).accountExpires).toBe('0')
    const expired = BigInt(String((await read(org.special.expired.dn, ['accountExpires'])).accountExpires))
    expect(expired).toBeLessThan(fileTime(new Date()))
    const report = org.users.find((u) => u.manager && u.ou.includes('OU=Zürich,OU=Retail\\, Wholesale'))!
    expect(report).toBeDefined()
    expect((await read(report.dn, ['manager'])).manager).toBe(report.manager)
  })

  test('rootDSE highestCommittedUSN is readable and numeric', async () => {
    const { searchEntries } = await svc.search('', { scope: 'base', attributes: ['highestCommittedUSN'] })
    expect(String(searchEntries[0]?.highestCommittedUSN)).toMatch(/^\d+$/)
  })

  test('a wrong password is code 49 with "data 52e"', async () => {
    const dc = samba()
    const client = new Client({ url: dc.url, tlsOptions: { ca: [dc.ca] }, connectTimeout: 5000 })
    try {
      const err = await client.bind(dc.bindDn, 'not-the-password').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(InvalidCredentialsError)
      expect((err as InvalidCredentialsError).code).toBe(49)
      expect((err as Error).message).toMatch(/data 52e/)
    } finally {
      await client.unbind()
    }
  })

  describe('mutation helpers, in this file’s own OU', () => {
    let ou: string
    let org: SeededOrg
    const prefix = randomPrefix()

    beforeAll(async () => {
      ou = await samba().createTestOu('selftest')
      org = await seedOrg(samba(), { base: ou, users: 30, ous: 5, prefix })
    }, 120_000)
    afterAll(async () => {
      if (ou) await samba().deleteTree(ou)
    })

    const usn = async (dn: string) =>
      BigInt(
        String(
          (await svc.search(dn, { scope: 'base', attributes: ['uSNChanged'] })).searchEntries[0]!.uSNChanged,
        ),
      )

    test('a move changes only the moved user; reports see the new manager DN', async () => {
      const dc = samba()
      const manager = org.users.find((u) => u !== org.ceo && org.users.some((r) => r.manager === u.dn))!
      const report = org.users.find((u) => u.manager === manager.dn)!
      const reportUsn = await usn(report.dn)
      const before = await dc.highestCommittedUsn()
      const moved = await dc.moveEntry(manager.dn, org.ous[org.ous.length - 1]!)
      expect(await usn(moved)).toBeGreaterThan(before)
      expect(await usn(report.dn)).toBe(reportUsn)
      const { searchEntries } = await svc.search(report.dn, { scope: 'base', attributes: ['manager'] })
      expect(searchEntries[0]?.manager).toBe(moved)
    })

    test('renaming an OU leaves the uSNChanged of the entries below it alone', async () => {
      const dc = samba()
      const child = org.users.find((u) => u.ou === org.ous[1])!
      const childUsn = await usn(child.dn)
      const renamed = await dc.renameOu(org.ous[1]!, 'Renamed, Zürich')
      expect(renamed.startsWith('OU=Renamed\\, Zürich,')).toBe(true)
      expect(await usn(child.dn.replace(org.ous[1]!, renamed))).toBe(childUsn)
    })

    test('disable, expire, modify, group membership and create', async () => {
      const dc = samba()
      const u = org.users[org.users.length - 6]!
      await dc.disableUser(u.dn)
      await dc.setAccountExpires(u.dn, new Date('2021-06-01T00:00:00Z'))
      await dc.modify(u.dn, { title: 'Changed', department: null })
      await dc.addGroupMember(org.groups.managers.dn, u.dn)
      const e = (await dc.getEntry(u.dn, [
        'userAccountControl',
        'accountExpires',
        'title',
        'department',
        'memberOf',
      ]))!
      expect(e.userAccountControl).toBe('514')
      expect(e.accountExpires).toBe(fileTime(new Date('2021-06-01T00:00:00Z')).toString())
      expect(e.title).toBe('Changed')
      expect(e.department).toEqual([])
      expect([e.memberOf].flat()).toContain(org.groups.managers.dn)
      await dc.removeGroupMember(org.groups.managers.dn, u.dn)
      await dc.enableUser(u.dn)
      expect((await dc.getEntry(u.dn, ['userAccountControl']))?.userAccountControl).toBe('512')

      const dn = await dc.createUser(ou, {
        sAMAccountName: `${prefix}.new`,
        givenName: 'Zoë',
        sn: 'Nouveau',
        displayName: 'Nouveau, Zoë',
        mail: 'zoe@test.local',
        employeeID: 'NEW-1',
        manager: org.ceo.dn,
      })
      expect(dn).toBe(`CN=Nouveau\\, Zoë,${ou}`)
      await dc.modify(dn, [
        new Change({ operation: 'add', modification: new Attribute({ type: 'title', values: ['New'] }) }),
      ])
      expect((await dc.getEntry(dn, ['title']))?.title).toBe('New')
    })

    test('a deleted user is a tombstone the administrator sees and the service account does not', async () => {
      const dc = samba()
      const u = org.users[org.users.length - 5]!
      const { searchEntries } = await svc.search(u.dn, {
        scope: 'base',
        attributes: ['objectGUID'],
        explicitBufferAttributes: ['objectGUID'],
      })
      const guid = guidString(searchEntries[0]!.objectGUID as Buffer)
      await dc.deleteEntry(u.dn)
      const showDeleted = new Control(SHOW_DELETED, { critical: true })
      const filter = `(sAMAccountName=${u.sAMAccountName})`
      const asSvc = await svc.search(dc.baseDn, { filter, attributes: ['isDeleted'] }, showDeleted)
      expect(asSvc.searchEntries).toEqual([])
      // Samba 4.17 never matches a tombstone by an (objectGUID=…) filter; a <GUID=…> base search finds it.
      const tombstone = await dc.withAdmin(async (c) => {
        const byFilter = await c.search(dc.baseDn, { filter, attributes: ['objectGUID'] }, showDeleted)
        expect(byFilter.searchEntries).toHaveLength(1)
        return c.search(
          `<GUID=${guid}>`,
          { scope: 'base', attributes: ['isDeleted', 'lastKnownParent', 'sAMAccountName', 'mail'] },
          showDeleted,
        )
      })
      expect(tombstone.searchEntries[0]).toMatchObject({
        isDeleted: 'TRUE',
        lastKnownParent: u.ou,
        sAMAccountName: u.sAMAccountName,
        mail: [],
      })
      expect(tombstone.searchEntries[0]!.dn).toMatch(
        /\\0ADEL:[0-9a-f-]{36},CN=Deleted Objects,DC=test,DC=local$/,
      )
    })
  })
})
