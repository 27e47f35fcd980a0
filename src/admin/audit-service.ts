import type { Kysely, SelectQueryBuilder } from 'kysely'
import type { DB } from '../db/schema'
import { invalid } from '../errors'
import { csvCell } from './csv-cell'
import {
  asBuffer,
  CHAIN_COLUMNS,
  verifyAuditChain,
  type ChainRow,
  type VerifyResult,
} from '../org/audit-chain'
import { OrgStore } from '../org/org-store'
import { pruneAuditLog, type AuditPruneResult } from '../sync/audit-retention-job'
import type { SecurityPolicyStore } from './security-policy'

/** Which events: every field optional, all given ones must match. */
export interface AuditFilter {
  /** at >= from */
  from?: Date
  /** at < to */
  to?: Date
  /** An admin (or source, or job) by id, or by name (case-insensitive). */
  actor?: string
  /** Exact, or a prefix when it ends with `*` (`admin.grant*`). */
  action?: string
  targetType?: string
  targetId?: string
  /** Role grants and role definitions only (`admin.grant*`, `role.*`): the RBAC history. */
  rbac?: boolean
}

/** One event as the API, NDJSON and CSV show it. */
export interface AuditRecord {
  seq: number
  at: string
  actorType: string
  actorId: string | null
  actorName: string | null
  ip: string | null
  userAgent: string | null
  requestId: string | null
  action: string
  targetType: string
  targetId: string | null
  before: unknown
  after: unknown
  /** Hex: with these an export of the whole chain can be checked on its own. */
  prevHash: string
  hash: string
}

export type ExportFormat = 'csv' | 'ndjson'

/** Grant changes are ordinary events; this names them for `rbac=true`. */
export const RBAC_ACTION_PREFIXES = ['admin.grant', 'role.'] as const

/** An exported record carries the whole chained row, so an export can be checked offline. */
const RECORD_COLUMNS = CHAIN_COLUMNS

type EventQuery = SelectQueryBuilder<DB, 'audit_events', object>

/** `like` treats these as wildcards; a prefix is matched literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

function applyFilter(query: EventQuery, filter: AuditFilter): EventQuery {
  let q = query
  if (filter.from) q = q.where('at', '>=', filter.from)
  if (filter.to) q = q.where('at', '<', filter.to)
  if (filter.actor !== undefined) {
    const actor = filter.actor
    q = q.where((eb) =>
      eb.or([eb('actor_id', '=', actor), eb(eb.fn('lower', ['actor_name']), '=', actor.toLowerCase())]),
    )
  }
  if (filter.action !== undefined) {
    const action = filter.action
    q = action.endsWith('*')
      ? q.where('action', 'like', likePrefix(action.slice(0, -1)))
      : q.where('action', '=', action)
  }
  if (filter.targetType !== undefined) q = q.where('target_type', '=', filter.targetType)
  if (filter.targetId !== undefined) q = q.where('target_id', '=', filter.targetId)
  if (filter.rbac)
    q = q.where((eb) => eb.or(RBAC_ACTION_PREFIXES.map((p) => eb('action', 'like', likePrefix(p)))))
  return q
}

/** True when the filter selects everything: exporting that is the critical `audit.export-all`. */
/**
 * An export that selects no actor, action or target is the whole log, whatever its time range: a
 * range from the beginning of time would otherwise be a way around the approval.
 */
export function isWholeLog(filter: AuditFilter): boolean {
  return (
    filter.actor === undefined &&
    filter.action === undefined &&
    filter.targetType === undefined &&
    filter.targetId === undefined &&
    filter.rbac !== true
  )
}

function toRecord(row: ChainRow): AuditRecord {
  return {
    seq: row.seq,
    at: row.at.toISOString(),
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorName: row.actor_name,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    before: row.before,
    after: row.after,
    prevHash: asBuffer(row.prev_hash).toString('hex'),
    hash: asBuffer(row.hash).toString('hex'),
  }
}

export function encodeSeqCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`, 'utf8').toString('base64url')
}

export function decodeSeqCursor(cursor: string): number {
  const match = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!match) throw invalid('cursor is not one this server issued (start again without it)')
  return Number(match[1])
}

// ---- CSV (RFC 4180), safe to open in a spreadsheet ----

export const CSV_COLUMNS: readonly (keyof AuditRecord)[] = [
  'seq',
  'at',
  'actorType',
  'actorId',
  'actorName',
  'ip',
  'userAgent',
  'requestId',
  'action',
  'targetType',
  'targetId',
  'before',
  'after',
  'prevHash',
  'hash',
]

export { csvCell } from './csv-cell'

function csvLine(record: AuditRecord): string {
  return `${CSV_COLUMNS.map((c) => csvCell(record[c])).join(',')}\r\n`
}

const LIST_MAX = 1000
const EXPORT_PAGE = 1000

export class AuditService {
  constructor(private readonly db: Kysely<DB>) {}

  /** A page of events, newest first (or oldest first), keyset-paged on seq. */
  async list(
    filter: AuditFilter,
    page: { limit: number; cursor?: string; order?: 'asc' | 'desc' },
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > LIST_MAX)
      throw invalid(`limit must be an integer from 1 to ${LIST_MAX}`)
    const order = page.order ?? 'desc'
    let q = applyFilter(this.db.selectFrom('audit_events'), filter)
    if (page.cursor !== undefined)
      q = q.where('seq', order === 'desc' ? '<' : '>', decodeSeqCursor(page.cursor))
    const rows: ChainRow[] = await q
      .select(RECORD_COLUMNS)
      .orderBy('seq', order)
      .limit(page.limit + 1)
      .execute()
    const items = rows.slice(0, page.limit).map(toRecord)
    const nextCursor = rows.length > page.limit ? encodeSeqCursor(items.at(-1)!.seq) : null
    return { items, nextCursor }
  }

  verify(): Promise<VerifyResult> {
    return verifyAuditChain(this.db)
  }

  /**
   * The export body, a page at a time in seq order (memory stays at one page whatever the log's
   * size). It stops at the newest event when it started, so a busy log still ends.
   */
  async *export(filter: AuditFilter, format: ExportFormat): AsyncGenerator<string> {
    const newest = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst()
    const until = newest?.seq ?? 0
    if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`
    let after = 0
    while (after < until) {
      const rows: ChainRow[] = await applyFilter(this.db.selectFrom('audit_events'), filter)
        .select(RECORD_COLUMNS)
        .where('seq', '>', after)
        .where('seq', '<=', until)
        .orderBy('seq')
        .limit(EXPORT_PAGE)
        .execute()
      if (rows.length === 0) return
      const records = rows.map(toRecord)
      yield records.map((r) => (format === 'csv' ? csvLine(r) : `${JSON.stringify(r)}\n`)).join('')
      if (rows.length < EXPORT_PAGE) return
      after = records.at(-1)!.seq
    }
  }

  /** Applies the security policy's retention (`audit.retentionDays`; null keeps everything). */
  async prune(policies: SecurityPolicyStore, now?: Date): Promise<AuditPruneResult> {
    const policy = await policies.get()
    return pruneAuditLog(new OrgStore(this.db), policy.audit.retentionDays, { now })
  }
}
