import type { OrgStore, OrgWriter } from '../org/org-store'
import { isUuid } from '../org/write-context'
import { scimActor, type ScimCaller } from './scim-caller'
import { ScimError, badRequest } from './scim-error'
import { parseGroupPatch, validateGroup, type ScimGroupDoc } from './schema'
import { findGroup, type GroupRow } from './group-resources'

const notFound = (id: string) => new ScimError(404, undefined, `Group ${id} not found`)

/** The group's own attributes as stored: the document without id, meta and members. */
function storedDoc(doc: ScimGroupDoc): Record<string, unknown> {
  const { members: _members, id: _id, meta: _meta, ...rest } = doc as Record<string, unknown>
  return rest
}

function memberValues(doc: ScimGroupDoc): string[] {
  const members = (doc as Record<string, unknown>).members
  return Array.isArray(members) ? members.map((m) => String((m as { value: unknown }).value)) : []
}

/**
 * SCIM group writes. Members are people in the org tree; a provider names them by their SCIM ids,
 * resolved here to people in set operations, so adding one member costs the same in any group.
 */
export class ScimGroupService {
  constructor(private readonly store: OrgStore) {}

  /** People of these SCIM user ids of the caller's source. Unknown ids are an error when adding. */
  private async people(w: OrgWriter, caller: ScimCaller, values: readonly string[], strict: boolean) {
    const unique = [...new Set(values)]
    const bad = unique.filter((v) => !isUuid(v))
    if (bad.length > 0 && strict)
      throw badRequest(
        'invalidValue',
        `members: ${bad
          .slice(0, 5)
          .map((b) => JSON.stringify(b))
          .join(', ')} is not a user id`,
      )
    const ids = unique.filter((v) => isUuid(v)).map((v) => v.toLowerCase())
    const found = new Map<string, string>()
    for (let i = 0; i < ids.length; i += 1000) {
      // By primary key only (the source is checked here): a plan that starts from the source's rows
      // would read all of them when the statistics lag behind a fast-growing table.
      const rows = await w.transaction
        .selectFrom('identities')
        .select(['id', 'person_id', 'source_id'])
        .where('id', 'in', ids.slice(i, i + 1000))
        .where('removed_at', 'is', null)
        .execute()
      for (const r of rows) if (r.person_id && r.source_id === caller.sourceId) found.set(r.id, r.person_id)
    }
    if (strict && found.size < ids.length) {
      const missing = ids.filter((id) => !found.has(id))
      throw badRequest(
        'invalidValue',
        `members: no user ${missing.slice(0, 5).join(', ')} in this source (nested groups are not supported)`,
      )
    }
    return [...found.values()]
  }

  private async lock(w: OrgWriter, caller: ScimCaller, id: string, ifMatch?: readonly number[]) {
    const row = isUuid(id)
      ? await w.transaction
          .selectFrom('groups')
          .select(['id', 'version', 'display_name', 'raw'])
          .where('id', '=', id)
          .where('source_id', '=', caller.sourceId)
          .forUpdate()
          .executeTakeFirst()
      : undefined
    if (!row) throw notFound(id)
    if (ifMatch && !ifMatch.includes(row.version))
      throw new ScimError(412, undefined, `Group ${id} is at version W/"${row.version}"`)
    return row
  }

  async create(caller: ScimCaller, body: unknown): Promise<GroupRow> {
    const doc = validateGroup(body)
    const stored = storedDoc(doc)
    const id = await this.store.write(scimActor(caller), async (w) => {
      const people = await this.people(w, caller, memberValues(doc), true)
      const group = await w.createGroup({
        displayName: String(stored.displayName),
        sourceId: caller.sourceId,
        raw: stored,
      })
      if (people.length > 0) await w.addGroupMembers(group.id, people)
      return group.id
    })
    return this.read(caller, id)
  }

  async replace(
    caller: ScimCaller,
    id: string,
    body: unknown,
    ifMatch?: readonly number[],
  ): Promise<GroupRow> {
    const doc = validateGroup(body)
    const stored = storedDoc(doc)
    await this.store.write(scimActor(caller), async (w) => {
      const row = await this.lock(w, caller, id, ifMatch)
      const people = await this.people(w, caller, memberValues(doc), true)
      await w.updateGroup(row.id, { displayName: String(stored.displayName), raw: stored })
      await w.replaceGroupMembers(row.id, people)
    })
    return this.read(caller, id)
  }

  /** Applies the operations in order; returns the group's version after them. */
  async patch(caller: ScimCaller, id: string, body: unknown, ifMatch?: readonly number[]): Promise<number> {
    const steps = parseGroupPatch(body)
    return this.store.write(scimActor(caller), async (w) => {
      const row = await this.lock(w, caller, id, ifMatch)
      let raw = { ...((row.raw ?? {}) as Record<string, unknown>) }
      for (const step of steps) {
        switch (step.kind) {
          case 'set': {
            if (step.attribute === 'displayName') {
              if (step.value === null)
                throw new ScimError(400, 'mutability', 'displayName is required and cannot be removed')
              raw = { ...raw, displayName: step.value }
              await w.updateGroup(row.id, { displayName: step.value, raw })
            } else {
              const { externalId: _old, ...rest } = raw
              raw = step.value === null ? rest : { ...rest, externalId: step.value }
              await w.updateGroup(row.id, { raw })
            }
            break
          }
          case 'addMembers':
            await w.addGroupMembers(row.id, await this.people(w, caller, step.ids, true))
            break
          case 'removeMembers':
            await w.removeGroupMembers(row.id, await this.people(w, caller, step.ids, false))
            break
          case 'removeAllMembers':
            await w.replaceGroupMembers(row.id, [])
            break
          case 'replaceMembers':
            await w.replaceGroupMembers(row.id, await this.people(w, caller, step.ids, true))
            break
        }
      }
      const after = await w.transaction
        .selectFrom('groups')
        .select('version')
        .where('id', '=', row.id)
        .executeTakeFirstOrThrow()
      return after.version
    })
  }

  async remove(caller: ScimCaller, id: string, ifMatch?: readonly number[]): Promise<void> {
    await this.store.write(scimActor(caller), async (w) => {
      const row = await this.lock(w, caller, id, ifMatch)
      await w.deleteGroup(row.id)
    })
  }

  async read(caller: ScimCaller, id: string): Promise<GroupRow> {
    const row = await findGroup(this.store.db, caller.sourceId, id)
    if (!row) throw notFound(id)
    return row
  }
}
