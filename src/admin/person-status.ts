import type { Kysely } from 'kysely'
import type { DB, PersonStatus } from '../db/schema'
import { notFound } from '../errors'
import { getPerson } from '../org/people-queries'

export interface PersonStatusView {
  id: string
  userName: string
  displayName: string | null
  status: PersonStatus
  /** Why they are suspended or deprovisioned, by which source, since when, removed when. */
  suspendedReason: string | null
  suspendedAt: Date | null
  suspendedBy: { id: string; name: string } | null
  removeAfter: Date | null
  department: string | null
  /** Each source's word on them and when it last said it. */
  sources: { name: string; type: string; active: boolean; removedAt: Date | null; lastSync: Date }[]
}

/** What support needs to answer "why can't they sign in": status and why, without the rest of the record. */
export async function personStatus(db: Kysely<DB>, id: string): Promise<PersonStatusView> {
  const person = await getPerson(db, id)
  if (!person) throw notFound(`person ${id} does not exist`)
  const suspendedBy = person.suspendedBySourceId
    ? await db
        .selectFrom('sources')
        .select(['id', 'name'])
        .where('id', '=', person.suspendedBySourceId)
        .executeTakeFirst()
    : undefined
  return {
    id: person.id,
    userName: person.userName,
    displayName: person.displayName,
    status: person.status,
    suspendedReason: person.suspendedReason,
    suspendedAt: person.suspendedAt,
    suspendedBy: suspendedBy ?? null,
    removeAfter: person.removeAfter,
    department: person.department?.path ?? null,
    sources: person.identities.map((i) => ({
      name: i.source.name,
      type: i.source.type,
      active: i.active,
      removedAt: i.removedAt,
      lastSync: i.updatedAt,
    })),
  }
}
