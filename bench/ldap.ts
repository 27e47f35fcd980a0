/**
 * Active Directory connector benchmark (issue 7): 20,000 users in the Samba AD DC the tests use
 * (test/ldap/samba-dc.sh), read by connectors/ldap through the engine into a scratch PostgreSQL
 * database — a full sync, then an incremental round after 100 changes.
 *
 *   npx tsx bench/ldap.ts          (or: npm run bench:ldap)
 *
 * Env: BENCH_LDAP_USERS=20000 users in the bench OU; BENCH_DATABASE_URL (default
 *      postgres://postgres@127.0.0.1:5432/postgres); ORGSYNC_SAMBA_DIR (default /tmp/orgsync-samba).
 *
 * The bench OU (OU=bench-<users>,OU=People) is seeded once and kept: Samba adds ~60 users/s here and
 * deleting 20,000 entries takes minutes, so later runs reuse it (the 100 changes accumulate, which
 * changes nothing measured). The scratch database is dropped at the end.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Kysely } from 'kysely'
import { ldapConnector } from '../connectors/ldap'
import { SecretBox } from '../src/crypto/secret-box'
import { migrateToLatest } from '../src/db/migrate'
import { openDatabase } from '../src/db/open-database'
import { createLogger } from '../src/logger'
import type { Actor } from '../src/org/actor'
import { OrgStore } from '../src/org/org-store'
import { buildServices } from '../src/wiring'
import { startSamba } from '../test/helpers/samba'
import { seedOrg } from '../test/helpers/samba-seed'
import { fmtSeconds, machine, MB, MemorySampler, positiveInt, scratchDatabase, table } from './bench-support'

const USERS = positiveInt(process.env.BENCH_LDAP_USERS, 20_000)
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const admin: Actor = { type: 'admin', id: null, name: 'bench' }

async function main(): Promise<void> {
  const rows: string[][] = []
  const memory = new MemorySampler()
  const timed = async <T>(phase: string, what: () => Promise<T>, note = ''): Promise<T> => {
    memory.start()
    const started = performance.now()
    const result = await what()
    memory.stop()
    rows.push([phase, fmtSeconds(performance.now() - started), `${Math.round(memory.peak / MB)} MB`, note])
    process.stderr.write(`  ${phase}: ${fmtSeconds(performance.now() - started)}\n`)
    return result
  }

  const dc = await startSamba()
  const ou = `OU=bench-${USERS},${dc.peopleDn}`
  let groupsOu = `OU=Groups,${ou}`
  const existing = await dc.getEntry(ou, ['ou'])
  if (!existing) {
    const t = performance.now()
    const org = await seedOrg(dc, {
      base: ou,
      users: USERS,
      prefix: `b${randomBytes(2).toString('hex')}`,
      onProgress: (done, total) => {
        if (done % 1000 === 0) process.stderr.write(`\r  seeding ${done}/${total}`)
      },
    })
    groupsOu = org.groupsOu
    process.stderr.write(`\n  seeded ${USERS} users in ${fmtSeconds(performance.now() - t)} (untimed)\n`)
  }

  const scratch = await scratchDatabase(ADMIN_URL)
  const handle = await openDatabase({ kind: 'postgres', url: scratch.url })
  try {
    await migrateToLatest(handle.db as Kysely<unknown>)
    const services = buildServices({
      store: new OrgStore(handle.db),
      box: new SecretBox(randomBytes(32)),
      connectors: { ldap: ldapConnector },
      logger: createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn'),
    })
    const source = await services.sources.create(admin, {
      type: 'ldap',
      name: 'Bench AD',
      config: {
        url: dc.url,
        bindDn: dc.bindDn,
        bindPassword: dc.bindPassword,
        baseDn: ou,
        tlsCa: dc.ca,
        ignoredOus: [groupsOu],
        pageSize: 1000,
      },
      policy: { deletionThreshold: { count: 1000, share: 1 } },
    })
    const planAndApply = async () => {
      const plan = await services.plans.createPlan(source.id, { trigger: 'manual', actor: admin })
      if (plan.status !== 'ready') throw new Error(`plan ${plan.status}: ${plan.error ?? plan.heldReason}`)
      await services.plans.apply(plan.id, admin)
      return plan
    }
    const full = await timed('full sync: plan + apply', planAndApply)
    const people = full.summary.people?.create ?? 0
    rows[rows.length - 1]![3] = `${full.changeCount.toLocaleString('en')} changes, ${people} people`

    // 100 changes: titles, moves between OUs, disables, deletes, manager changes.
    const client = await dc.connect({ as: 'admin' })
    const users = (
      await client.search(ou, {
        scope: 'sub',
        filter:
          '(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
        attributes: ['distinguishedName'],
        paged: { pageSize: 1000 },
      })
    ).searchEntries.map((e) => e.dn)
    const ous = (
      await client.search(ou, {
        scope: 'sub',
        filter: '(objectClass=organizationalUnit)',
        attributes: ['ou'],
      })
    ).searchEntries
      .map((e) => e.dn)
      .filter((d) => d !== ou && !d.includes('OU=Groups'))
    await client.unbind()
    const pick = users.slice(-100)
    const t0 = performance.now()
    for (const [i, dn] of pick.entries()) {
      if (i < 50) await dc.modify(dn, { title: `Bench title ${Date.now()}` })
      else if (i < 70) await dc.moveEntry(dn, ous[i % ous.length]!)
      else if (i < 80) await dc.disableUser(dn)
      else if (i < 90) await dc.deleteEntry(dn)
      else await dc.modify(dn, { manager: pick[0]! })
    }
    process.stderr.write(`  made 100 changes in ${fmtSeconds(performance.now() - t0)} (untimed)\n`)
    const delta = await timed('incremental after 100 changes: plan + apply', planAndApply)
    rows[rows.length - 1]![3] = `${delta.listing}, ${delta.changeCount} changes`
    if (delta.listing !== 'incremental') throw new Error('the second plan should be incremental')
  } finally {
    await handle.close()
    await scratch.drop()
  }
  console.log(`\nAD connector (Samba AD DC, ${USERS.toLocaleString('en')} users) → PostgreSQL\n`)
  console.log(table(['phase', 'time', 'peak RSS', 'notes'], rows))
  console.log(`\nmachine: ${machine()}; ${new Date().toISOString().slice(0, 10)}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
