import { createHash, randomUUID } from 'node:crypto'
import { sql, type Kysely, type Selectable } from 'kysely'
import type { z } from 'zod'
import { canonicalJson } from '../../canonical-json'
import type { ApprovalRequestsTable, ApprovalStatus, DB } from '../../db/schema'
import { AppError, conflict, forbidden, notFound } from '../../errors'
import type { Actor } from '../../org/actor'
import type { OrgStore } from '../../org/org-store'
import { isUuid } from '../../org/write-context'
import type { Authorizer } from '../authz/authorizer'
import type { Permission } from '../authz/permissions'
import type { AdminPrincipal } from '../authz/principal'
import { GLOBAL_ADMIN } from '../authz/roles'
import { anotherGlobalAdminExists } from '../grants'
import type { ResourceRef } from '../authz/route-rule'
import type { CriticalOperation, SecurityPolicyStore } from '../security-policy'

/** One operation that may need a second global admin: what it is, who may ask, and how it runs. */
export interface CriticalOperationDef<P = unknown> {
  operation: CriticalOperation
  /** The requester must be allowed this on the resource, when asking and again when it runs. */
  permission: Permission
  resource: (payload: P) => ResourceRef
  payload: z.ZodType<P>
  /** One line for the approver: exactly what will happen. */
  summary: (payload: P) => Promise<string> | string
  /** Runs the operation as `actor`; the result is what the caller gets back. */
  execute: (payload: P, actor: Actor) => Promise<unknown>
}

export interface ApprovalView {
  id: string
  operation: string
  summary: string
  payload: unknown
  payloadHash: string
  requestedBy: { id: string; name: string | null }
  requestedAt: Date
  expiresAt: Date
  /** `expired`: still pending in the table, but past its time: it can no longer be approved. */
  status: ApprovalStatus | 'expired'
  decidedBy: { id: string; name: string | null } | null
  decidedAt: Date | null
  result: unknown
  error: string | null
}

export type Outcome =
  { executed: true; result: unknown; waived?: string } | { executed: false; approval: ApprovalView }

/** sha256 over the operation and its canonical payload: what was asked is exactly what runs. */
export function payloadHash(operation: string, payload: unknown): Buffer {
  return createHash('sha256')
    .update(canonicalJson({ operation, payload }) ?? '')
    .digest()
}

type Row = Selectable<ApprovalRequestsTable> & { requester_name: string | null; decider_name: string | null }

/**
 * Dual approval. A critical operation the policy lists becomes a request that a different global
 * admin approves; it then runs exactly once: the approval claims the row with a conditional update
 * (pending, unexpired → executing), so of two concurrent approvals one runs it and the other is
 * told it was already decided.
 */
export class ApprovalService {
  readonly #ops = new Map<string, CriticalOperationDef>()

  constructor(
    private readonly store: OrgStore,
    private readonly policy: SecurityPolicyStore,
    private readonly authorizer: Authorizer,
  ) {}

  register<P>(def: CriticalOperationDef<P>): void {
    this.#ops.set(def.operation, def as CriticalOperationDef)
  }

  operations(): string[] {
    return [...this.#ops.keys()]
  }

  private get db(): Kysely<DB> {
    return this.store.db
  }

  private op(operation: string): CriticalOperationDef {
    const def = this.#ops.get(operation)
    if (!def)
      throw new AppError(
        'invalid',
        `unknown operation "${operation}"; known: ${this.operations().join(', ')}`,
      )
    return def
  }

  /**
   * What a critical endpoint calls: runs the operation now when the policy does not list it (or
   * waives approval for a sole global admin), otherwise files a request and returns it.
   */
  async perform(
    principal: AdminPrincipal,
    actor: Actor,
    operation: CriticalOperation,
    rawPayload: unknown,
  ): Promise<Outcome> {
    const def = this.op(operation)
    const payload = def.payload.parse(rawPayload)
    await this.authorizer.require(principal, def.permission, def.resource(payload))
    const policy = await this.policy.get()
    if (!policy.dualApproval.operations.includes(operation)) {
      return { executed: true, result: await def.execute(payload, actor) }
    }
    if (
      policy.dualApproval.allowSoleGlobalAdmin &&
      !(await anotherGlobalAdminExists(this.db, principal.adminId))
    ) {
      const waived = 'approval waived: sole global admin (policy dualApproval.allowSoleGlobalAdmin)'
      await this.store.write(actor, (w) =>
        w.audit({
          action: 'approval.waived',
          targetType: 'approval',
          targetId: null,
          after: { operation, payload, reason: waived },
        }),
      )
      return { executed: true, result: await def.execute(payload, actor), waived }
    }
    return { executed: false, approval: await this.file(principal, actor, def, payload) }
  }

  /** `POST /approvals`: ask for an operation explicitly. */
  async request(
    principal: AdminPrincipal,
    actor: Actor,
    operation: string,
    rawPayload: unknown,
  ): Promise<ApprovalView> {
    const def = this.op(operation)
    const parsed = def.payload.safeParse(rawPayload)
    if (!parsed.success) {
      throw new AppError(
        'invalid',
        `payload of ${operation} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')}`,
      )
    }
    await this.authorizer.require(principal, def.permission, def.resource(parsed.data))
    return this.file(principal, actor, def, parsed.data)
  }

  private async file(principal: AdminPrincipal, actor: Actor, def: CriticalOperationDef, payload: unknown) {
    const policy = await this.policy.get()
    const id = randomUUID()
    const summary = await def.summary(payload)
    const hash = payloadHash(def.operation, payload)
    await this.store.write(actor, async (w) => {
      await w.transaction
        .insertInto('approval_requests')
        .values({
          id,
          operation: def.operation,
          payload: JSON.stringify(payload),
          payload_hash: hash,
          summary,
          requested_by: principal.adminId,
          expires_at: sql<Date>`now() + make_interval(hours => ${policy.dualApproval.requestTtlHours})`,
          status: 'pending',
        })
        .execute()
      await w.audit({
        action: 'approval.request',
        targetType: 'approval',
        targetId: id,
        after: { operation: def.operation, summary, payloadHash: hash.toString('hex') },
      })
    })
    return this.get(id)
  }

  async approve(principal: AdminPrincipal, actor: Actor, id: string): Promise<ApprovalView> {
    const row = await this.row(id)
    if (row.requested_by === principal.adminId) {
      throw forbidden(
        `approval ${id}: the requester cannot approve their own request; another global admin must`,
      )
    }
    if (!principal.grants.some((g) => g.role === GLOBAL_ADMIN && !g.scopeDepartmentId && !g.scopeSourceId)) {
      throw forbidden(`approval ${id}: only a global admin (organisation-wide grant) can approve`)
    }
    const def = this.op(row.operation)
    const payload = row.payload
    // The row's payload must still be what was asked: an edited row is refused, not run.
    if (!payloadHash(row.operation, payload).equals(Buffer.from(row.payload_hash))) {
      throw conflict(`approval ${id}: its payload no longer matches the hash recorded when it was requested`)
    }
    const claimed = await this.store.write(actor, async (w) => {
      const updated = await w.transaction
        .updateTable('approval_requests')
        .set({ status: 'executing', decided_by: principal.adminId, decided_at: sql`now()` })
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .where('expires_at', '>', sql<Date>`now()`)
        .returning('id')
        .execute()
      if (updated.length === 0) return false
      await w.audit({
        action: 'approval.approve',
        targetType: 'approval',
        targetId: row.id,
        after: { operation: row.operation, requestedBy: row.requested_by },
      })
      return true
    })
    if (!claimed) {
      const now = await this.get(id)
      throw conflict(`approval ${id} is ${now.status}: only a pending, unexpired request can be approved`)
    }
    let result: unknown
    try {
      result = await def.execute(def.payload.parse(payload), {
        ...actor,
        name: `${actor.name ?? actor.id} (approving ${row.requester_name ?? row.requested_by})`,
      })
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      await this.finish(actor, row.id, 'failed', null, message)
      throw err
    }
    await this.finish(actor, row.id, 'executed', result ?? null, null)
    return this.get(id)
  }

  private async finish(
    actor: Actor,
    id: string,
    status: 'executed' | 'failed',
    result: unknown,
    error: string | null,
  ) {
    await this.store.write(actor, async (w) => {
      await w.transaction
        .updateTable('approval_requests')
        .set({ status, result: result === null ? null : JSON.stringify(result), error })
        .where('id', '=', id)
        .execute()
      await w.audit({
        action: `approval.${status}`,
        targetType: 'approval',
        targetId: id,
        after: { status, error },
      })
    })
  }

  /** A different global admin rejects, or the requester withdraws (cancel). */
  async decline(
    principal: AdminPrincipal,
    actor: Actor,
    id: string,
    how: 'reject' | 'cancel',
  ): Promise<ApprovalView> {
    const row = await this.row(id)
    if (how === 'cancel' && row.requested_by !== principal.adminId) {
      throw forbidden(`approval ${id}: only its requester can cancel it; others reject`)
    }
    if (how === 'reject' && row.requested_by === principal.adminId) {
      throw forbidden(`approval ${id}: the requester cancels their own request rather than rejecting it`)
    }
    const status = how === 'reject' ? 'rejected' : 'cancelled'
    const done = await this.store.write(actor, async (w) => {
      const updated = await w.transaction
        .updateTable('approval_requests')
        .set({ status, decided_by: principal.adminId, decided_at: sql`now()` })
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .returning('id')
        .execute()
      if (updated.length === 0) return false
      await w.audit({
        action: `approval.${how}`,
        targetType: 'approval',
        targetId: row.id,
        after: { status },
      })
      return true
    })
    if (!done)
      throw conflict(
        `approval ${id} is ${(await this.get(id)).status}: only a pending request can be ${status}`,
      )
    return this.get(id)
  }

  /**
   * Consumes an executed request whose effect is handed to its requester afterwards (the whole
   * audit export): true once, false ever after.
   */
  async consume(principal: AdminPrincipal, id: string, operation: CriticalOperation): Promise<boolean> {
    if (!isUuid(id)) return false
    const updated = await this.db
      .updateTable('approval_requests')
      .set({ result: JSON.stringify({ consumedAt: new Date().toISOString() }) })
      .where('id', '=', id)
      .where('operation', '=', operation)
      .where('requested_by', '=', principal.adminId)
      .where('status', '=', 'executed')
      .where((eb) => eb.or([eb('result', 'is', null), sql<boolean>`not (result ? 'consumedAt')`]))
      .returning('id')
      .execute()
    return updated.length === 1
  }

  async list(filter: { status?: string; limit: number }): Promise<ApprovalView[]> {
    let q = this.select().orderBy('r.requested_at', 'desc').limit(filter.limit)
    if (filter.status === 'expired') {
      q = q.where('r.status', '=', 'pending').where('r.expires_at', '<=', sql<Date>`now()`)
    } else if (filter.status === 'pending') {
      q = q.where('r.status', '=', 'pending').where('r.expires_at', '>', sql<Date>`now()`)
    } else if (filter.status) {
      q = q.where('r.status', '=', filter.status as ApprovalStatus)
    }
    return (await q.execute()).map(view)
  }

  async get(id: string): Promise<ApprovalView> {
    return view(await this.row(id))
  }

  private select() {
    return this.db
      .selectFrom('approval_requests as r')
      .leftJoin('admins as q', 'q.id', 'r.requested_by')
      .leftJoin('admins as d', 'd.id', 'r.decided_by')
      .selectAll('r')
      .select(['q.name as requester_name', 'd.name as decider_name'])
  }

  private async row(id: string): Promise<Row> {
    const row = isUuid(id) ? await this.select().where('r.id', '=', id).executeTakeFirst() : undefined
    if (!row) throw notFound(`approval ${id} does not exist`)
    return row
  }
}

function view(r: Row): ApprovalView {
  const expired = r.status === 'pending' && r.expires_at.getTime() <= Date.now()
  return {
    id: r.id,
    operation: r.operation,
    summary: r.summary,
    payload: r.payload,
    payloadHash: Buffer.from(r.payload_hash).toString('hex'),
    requestedBy: { id: r.requested_by, name: r.requester_name },
    requestedAt: r.requested_at,
    expiresAt: r.expires_at,
    status: expired ? 'expired' : r.status,
    decidedBy: r.decided_by ? { id: r.decided_by, name: r.decider_name } : null,
    decidedAt: r.decided_at,
    result: r.result,
    error: r.error,
  }
}
