import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'
import type { Actor } from './actor'
import * as departments from './department-writes'
import * as groups from './group-writes'
import * as claims from './identity-claims'
import * as identities from './identity-writes'
import { applyNewClaims, type ClaimUnit } from './new-claims'
import * as people from './person-writes'
import { WriteContext } from './write-context'

/**
 * The operations of one write transaction. Every change to people, departments, groups and
 * identities goes through here, and each one records its audit event in the same transaction.
 */
export class OrgWriter {
  constructor(private readonly ctx: WriteContext) {}

  get actor(): Actor {
    return this.ctx.actor
  }

  createDepartment = (input: departments.NewDepartment) => departments.createDepartment(this.ctx, input)
  renameDepartment = (id: string, name: string) => departments.renameDepartment(this.ctx, id, name)
  moveDepartment = (id: string, parentId: string | null) => departments.moveDepartment(this.ctx, id, parentId)
  updateDepartment = (id: string, patch: { name?: string; parentId?: string | null }) =>
    departments.updateDepartment(this.ctx, id, patch)
  deleteDepartment = (id: string) => departments.deleteDepartment(this.ctx, id)
  /**
   * Moves departments (their names) and identities (their user names) out of the way of the unique
   * indexes for the rest of this transaction, so changes that only fit together as a whole — swaps —
   * apply in any order; every write of a parked row and its audit event work as usual.
   * `unparkAll` gives each parked row its final name; call it before the transaction ends.
   */
  parkDepartments = (ids: readonly string[]) => departments.parkDepartments(this.ctx, ids)
  parkIdentityUserNames = (ids: readonly string[]) => identities.parkIdentityUserNames(this.ctx, ids)
  unparkAll = async (): Promise<void> => {
    await departments.unparkDepartments(this.ctx)
    await identities.unparkIdentities(this.ctx)
  }

  createPerson = (fields: people.PersonFields) => people.createPerson(this.ctx, fields)
  /** Many people in a few statements (a sync's first run); each still audited. */
  createPeople = (list: readonly people.PersonFields[]) => people.createPeople(this.ctx, list)
  setManagers = (links: readonly { personId: string; managerId: string | null }[]) =>
    people.setManagers(this.ctx, links)
  updatePerson = (id: string, patch: Partial<people.PersonFields>, options?: { expectedVersion?: number }) =>
    people.updatePerson(this.ctx, id, patch, options)
  suspendPerson = (id: string, input: { reason: string; removeAfter?: Date | null }) =>
    people.suspendPerson(this.ctx, id, input)
  reactivatePerson = (id: string) => people.reactivatePerson(this.ctx, id)
  deprovisionPerson = (id: string, input: { reason: string }) => people.deprovisionPerson(this.ctx, id, input)

  saveIdentity = (input: identities.IdentityInput) => identities.saveIdentity(this.ctx, input)
  createIdentities = (inputs: readonly identities.IdentityInput[]) =>
    identities.createIdentities(this.ctx, inputs)
  removeIdentity = (id: string) => identities.removeIdentity(this.ctx, id)

  createGroup = (input: groups.NewGroup) => groups.createGroup(this.ctx, input)
  updateGroup = (id: string, patch: { displayName?: string; description?: string | null; raw?: unknown }) =>
    groups.updateGroup(this.ctx, id, patch)
  deleteGroup = (id: string) => groups.deleteGroup(this.ctx, id)
  addGroupMembers = (groupId: string, personIds: readonly string[]) =>
    groups.addGroupMembers(this.ctx, groupId, personIds)
  removeGroupMembers = (groupId: string, personIds: readonly string[]) =>
    groups.removeGroupMembers(this.ctx, groupId, personIds)
  replaceGroupMembers = (groupId: string, personIds: readonly string[]) =>
    groups.replaceGroupMembers(this.ctx, groupId, personIds)

  /** What one source says about one user now, reconciled into the org tree at once (a SCIM push). */
  applyClaim = (source: claims.ClaimSource, input: claims.ClaimInput) =>
    claims.applyClaim(this.ctx, source, input)
  /**
   * New users that arrive together, each under its own unit's writer (see new-claims.ts): the same
   * outcome as applyClaim for each, in a few statements for all of them.
   */
  static applyNewClaims = (writers: readonly OrgWriter[], units: readonly ClaimUnit[]) =>
    applyNewClaims(
      writers.map((w) => w.ctx),
      units,
    )
  /** The source no longer has this user (a SCIM DELETE): the identity goes, the person is a leaver. */
  withdrawClaim = (source: claims.ClaimSource, identityId: string, expectedVersions?: readonly number[]) =>
    claims.withdrawClaim(this.ctx, source, identityId, expectedVersions)
  /** Held leavers of a source: apply (approve) or drop (discard) them. */
  decideHeldLeavers = (
    source: claims.ClaimSource,
    decision: 'approve' | 'discard',
    ids?: readonly string[],
  ) => claims.decideHeldLeavers(this.ctx, source, decision, ids)

  /** Serialises work on one named thing across transactions and replicas, until this transaction ends. */
  lockNamed = (name: string) => this.ctx.lockNamed(name)

  /** Audit an event that is not one of the writes above (e.g. a source's configuration changed). */
  audit = (entry: Parameters<WriteContext['audit']>[0]) => this.ctx.audit(entry)

  /** The raw transaction, for writes of tables outside the org tree (sources, tokens) in the same unit. */
  get transaction(): Kysely<DB> {
    return this.ctx.trx
  }
}

export class OrgStore {
  /** Write transactions worth running at once (see DatabaseHandle.parallelWrites); batchers use it. */
  readonly parallelWrites: number

  constructor(
    readonly db: Kysely<DB>,
    options: { parallelWrites?: number } = {},
  ) {
    this.parallelWrites = options.parallelWrites ?? 4
  }

  /**
   * Runs `work` in one transaction: everything it writes commits together with its audit events,
   * or nothing does.
   */
  write<T>(actor: Actor, work: (w: OrgWriter) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      const ctx = new WriteContext(trx, actor)
      const result = await work(new OrgWriter(ctx))
      await ctx.flushAudit({ beforeCommit: true })
      return result
    })
  }

  /**
   * Runs independent units of work one after another in one transaction, each with its own actor and
   * audit events: all of them commit, or none does (see WriteCoalescer, which retries them alone).
   */
  writeEach<T>(units: readonly { actor: Actor; work: (w: OrgWriter) => Promise<T> }[]): Promise<T[]> {
    return this.writeTogether(units, async (writers) => {
      const results: T[] = []
      for (let i = 0; i < units.length; i++) results.push(await units[i]!.work(writers[i]!))
      return results
    })
  }

  /**
   * Runs the work of several units at once in one transaction, with one writer per unit, so each
   * unit's audit events name its own actor: all of it commits, or nothing does. `work` gets the
   * units' inputs and returns a result for each, in order. The units' audit events are appended at
   * the end, together in one call, so the chain is locked only for the commit.
   */
  writeTogether<I, T>(
    units: readonly { actor: Actor; input?: I }[],
    work: (writers: readonly OrgWriter[], inputs: readonly I[]) => Promise<T[]>,
  ): Promise<T[]> {
    return this.db.transaction().execute(async (trx) => {
      const contexts = units.map((unit) => new WriteContext(trx, unit.actor))
      const results = await work(
        contexts.map((ctx) => new OrgWriter(ctx)),
        units.map((unit) => unit.input as I),
      )
      if (results.length !== units.length)
        throw new Error(`writeTogether: ${results.length} results for ${units.length} units`)
      await WriteContext.flushAuditTogether(contexts, { beforeCommit: true })
      return results
    })
  }
}
