import { sameJson } from '../canonical-json'
import type { ClaimResult } from '../org/identity-claims'
import type { ClaimUnit } from '../org/new-claims'
import { OrgWriter, type OrgStore } from '../org/org-store'
import { WriteCoalescer } from '../org/write-coalescer'
import { isUuid } from '../org/write-context'
import { claimSource, scimActor, type ScimCaller } from './scim-caller'
import { ScimError } from './scim-error'
import { ORGSYNC_USER_URN, patchUser, validateUser, type ScimUserDoc } from './schema'
import { claimOf } from './user-claim'
import { findUser, type UserRow } from './user-resources'

const notFound = (id: string) => new ScimError(404, undefined, `User ${id} not found`)

/**
 * The document as stored: it lists the orgsync extension, as every served user does (it carries
 * personId), so a filter on `schemas` sees what a GET shows.
 */
function stored(doc: ScimUserDoc): ScimUserDoc {
  return doc.schemas.includes(ORGSYNC_USER_URN)
    ? doc
    : { ...doc, schemas: [...doc.schemas, ORGSYNC_USER_URN] }
}

/**
 * SCIM user writes: validate at the edge, then one transaction through the org store — the identity,
 * the person it resolves to, their department, manager and status, and the audit events, or nothing.
 */
export class ScimUserService {
  /**
   * Creates arriving together (a provider's initial push, many requests in flight) share
   * transactions; each still gets its own result, conflict or error.
   */
  private readonly creates: WriteCoalescer<ClaimUnit, ClaimResult>

  constructor(private readonly store: OrgStore) {
    this.creates = new WriteCoalescer<ClaimUnit, ClaimResult>(store, {
      one: (w, unit) => w.applyClaim(unit.source, unit.input),
      many: OrgWriter.applyNewClaims,
    })
  }

  async create(caller: ScimCaller, body: unknown): Promise<UserRow> {
    const doc = stored(validateUser(body))
    const source = claimSource(caller)
    const { identity } = await this.creates.write(scimActor(caller), {
      source,
      input: { claim: claimOf(doc), raw: doc },
    })
    // Served from what was written: no read back.
    return {
      id: identity.id,
      raw: doc,
      active: identity.active,
      person_id: identity.personId,
      version: identity.version,
      created_at: identity.createdAt,
      updated_at: identity.updatedAt,
    }
  }

  async replace(
    caller: ScimCaller,
    id: string,
    body: unknown,
    ifMatch?: readonly number[],
  ): Promise<UserRow> {
    const doc = stored(validateUser(body))
    const source = claimSource(caller)
    if (!isUuid(id)) throw notFound(id)
    await this.store.write(scimActor(caller), (w) =>
      w.applyClaim(source, { identityId: id, claim: claimOf(doc), raw: doc, expectedVersions: ifMatch }),
    )
    return this.read(caller, id)
  }

  async patch(caller: ScimCaller, id: string, body: unknown, ifMatch?: readonly number[]): Promise<UserRow> {
    if (!isUuid(id)) throw notFound(id)
    const source = claimSource(caller)
    await this.store.write(scimActor(caller), async (w) => {
      const row = await w.transaction
        .selectFrom('identities')
        .select(['raw', 'version'])
        .where('id', '=', id)
        .where('source_id', '=', caller.sourceId)
        .where('removed_at', 'is', null)
        .forUpdate()
        .executeTakeFirst()
      if (!row) throw notFound(id)
      if (ifMatch && !ifMatch.includes(row.version))
        throw new ScimError(412, undefined, `User ${id} is at version W/"${row.version}"`)
      const current = (row.raw ?? {}) as ScimUserDoc
      const next = stored(await patchUser(current, body))
      // A PATCH that changes nothing (providers re-send what is set) leaves the version alone.
      if (sameJson(next, current)) return
      await w.applyClaim(source, { identityId: id, claim: claimOf(next), raw: next })
    })
    return this.read(caller, id)
  }

  async remove(caller: ScimCaller, id: string, ifMatch?: readonly number[]): Promise<void> {
    if (!isUuid(id)) throw notFound(id)
    const source = claimSource(caller)
    await this.store.write(scimActor(caller), (w) => w.withdrawClaim(source, id, ifMatch))
  }

  async read(caller: ScimCaller, id: string): Promise<UserRow> {
    const row = await findUser(this.store.db, caller.sourceId, id)
    if (!row) throw notFound(id)
    return row
  }
}
