import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { ActorType, DB } from '../db/schema'

/**
 * The audit log's hash chain. Each event's hash covers the hash of the event before it and
 * everything the event says, so changing or deleting a row breaks the chain from there on; the
 * one-row `audit_chain_head` pins both ends, so deleting the newest rows (which leaves no later row
 * to break) shows too, and a retention prune moves the start (the anchor) on record.
 *
 * It is tamper-evident against edits of rows, not against someone who rewrites the chain and its head
 * together: for that, keep the head hash `verify` prints somewhere else and compare it later.
 */

/** The hash before the first event ever written: 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32)

/** The namespace of orgsync's advisory locks (see write-context.ts) and the audit chain's key in it. */
const LOCK_NAMESPACE = 0x6f72
// Also taken by orgsync_audit_append and orgsync_audit_append_events (migrations 0009, 0010) when the head
// row is missing: keep them equal.
const CHAIN_LOCK_KEY = 10

/** What one event says: exactly the fields its hash covers. Where it is stored (seq) is not among them. */
export interface AuditEventFields {
  at: Date
  actorType: ActorType
  actorId: string | null
  actorName: string | null
  ip: string | null
  userAgent: string | null
  requestId: string | null
  action: string
  targetType: string
  targetId: string | null
}

/**
 * Orders an object's keys for JSON.stringify as `canonicalJson` does, in one pass instead of its
 * stringify, parse and stringify again: a bulk write hashes a hundred thousand values. The replacer
 * sees values after toJSON (a Date is its ISO string by then), as canonicalJson's second pass does.
 */
function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  // JSON.stringify unwraps these itself after the replacer.
  if (value instanceof Number || value instanceof String || value instanceof Boolean) return value
  const keys = Object.keys(value)
  let sorted = true
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!
  if (sorted) return value
  // A null prototype keeps a "__proto__" key an own property, as JSON.parse would.
  const copy = Object.create(null) as Record<string, unknown>
  for (const key of keys.sort()) copy[key] = (value as Record<string, unknown>)[key]
  return copy
}

/**
 * A before/after value as canonical JSON (the same text as `canonicalJson`, a test holds them
 * equal); 'null' for none, and for a value JSON cannot hold.
 */
export function valueJson(value: unknown): string {
  return (JSON.stringify(value, sortKeys) as string | undefined) ?? 'null'
}

const json = JSON.stringify

/**
 * The canonical JSON of an event around its before/after values: `head + after + mid + before + tail`
 * is the event's text. The database chains events from these parts (orgsync_audit_append_events), so each
 * value travels once, as the text stored in its jsonb column.
 */
export interface EventJsonParts {
  head: string
  mid: string
  tail: string
}

export function eventJsonParts(e: AuditEventFields): EventJsonParts {
  return {
    head:
      `{"action":${json(e.action)},"actorId":${json(e.actorId)},"actorName":${json(e.actorName)}` +
      `,"actorType":${json(e.actorType)},"after":`,
    mid: `,"at":${json(e.at.toISOString())},"before":`,
    tail:
      `,"ip":${json(e.ip)},"requestId":${json(e.requestId)}` +
      `,"targetId":${json(e.targetId)},"targetType":${json(e.targetType)},"userAgent":${json(e.userAgent)}}`,
  }
}

/**
 * The canonical JSON of an event: the same text `canonicalJson` gives for the event as one object
 * (keys in sorted order, at as an ISO string), built around before/after texts that are already
 * canonical, so a bulk write serialises each value once. A test holds the two equal.
 */
export function eventJson(e: AuditEventFields, beforeJson: string, afterJson: string): string {
  const { head, mid, tail } = eventJsonParts(e)
  return head + afterJson + mid + beforeJson + tail
}

/** sha256(prev_hash || utf8(canonical JSON of the event)). */
export function eventHash(prevHash: Uint8Array, eventText: string): Buffer {
  return createHash('sha256').update(prevHash).update(eventText, 'utf8').digest()
}

/** pg hands bytea back as Buffer, PGlite as a plain Uint8Array. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return asBuffer(a).equals(asBuffer(b))
}

export interface ChainHead {
  /** The newest event in the chain (0 and the genesis hash before the first). */
  lastSeq: number
  lastHash: Uint8Array
  /** Where the chain starts now: the last event a prune removed (0 and the genesis hash if none). */
  anchorSeq: number
  anchorHash: Uint8Array
}

const GENESIS_HEAD: ChainHead = { lastSeq: 0, lastHash: GENESIS_HASH, anchorSeq: 0, anchorHash: GENESIS_HASH }

function headOf(
  row: { last_seq: number; last_hash: Uint8Array; anchor_seq: number; anchor_hash: Uint8Array } | undefined,
): ChainHead {
  // No head row (a test truncated it, or someone deleted it): the chain restarts at genesis, and
  // verify reports the events left from before, which no longer link to it.
  if (!row) return GENESIS_HEAD
  return {
    lastSeq: row.last_seq,
    lastHash: row.last_hash,
    anchorSeq: row.anchor_seq,
    anchorHash: row.anchor_hash,
  }
}

/**
 * Takes the chain for this transaction and reads its head (a retention prune does, before it moves
 * the anchor). Appenders take the head row's lock in orgsync_audit_append_events (migration 0010), so the
 * row lock, held until commit, orders both; the advisory lock also covers a missing head row. The
 * head is read by a statement after the lock, so it sees the previous holder's commit; `for update`
 * makes a transaction whose snapshot predates that commit (repeatable read) fail instead of forking
 * the chain.
 */
export async function lockChainHead(trx: Kysely<DB>): Promise<ChainHead> {
  // Outside a transaction the lock would end with the statement and two writers could fork the chain.
  if (!trx.isTransaction) throw new Error('audit chain: appending or pruning needs a transaction')
  await sql`select pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${CHAIN_LOCK_KEY})`.execute(trx)
  const row = await trx
    .selectFrom('audit_chain_head')
    .select(['last_seq', 'last_hash', 'anchor_seq', 'anchor_hash'])
    .where('id', '=', 1)
    .forUpdate()
    .executeTakeFirst()
  return headOf(row)
}

/** Writes the head (under the chain lock). */
export async function saveChainHead(trx: Kysely<DB>, head: ChainHead): Promise<void> {
  const values = {
    last_seq: head.lastSeq,
    last_hash: asBuffer(head.lastHash),
    anchor_seq: head.anchorSeq,
    anchor_hash: asBuffer(head.anchorHash),
  }
  await trx
    .insertInto('audit_chain_head')
    .values({ id: 1, ...values })
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .execute()
}

/** The columns a check needs: the event, its link and its hash. */
export const CHAIN_COLUMNS = [
  'seq',
  'at',
  'actor_type',
  'actor_id',
  'actor_name',
  'ip',
  'user_agent',
  'request_id',
  'action',
  'target_type',
  'target_id',
  'before',
  'after',
  'prev_hash',
  'hash',
] as const

export interface ChainRow {
  seq: number
  at: Date
  actor_type: ActorType
  actor_id: string | null
  actor_name: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  action: string
  target_type: string
  target_id: string | null
  before: unknown
  after: unknown
  prev_hash: Uint8Array
  hash: Uint8Array
}

/** The hash a stored row should carry, recomputed from what it says now. */
export function rowHash(row: ChainRow): Buffer {
  const fields: AuditEventFields = {
    at: row.at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorName: row.actor_name,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
  }
  return eventHash(row.prev_hash, eventJson(fields, valueJson(row.before), valueJson(row.after)))
}

export const BROKEN = {
  link: 'chain broken: previous row missing or changed',
  content: 'hash mismatch: row content changed',
  headDeleted: 'head mismatch: newest rows deleted',
  headChanged: 'head mismatch: newest row changed',
  beyondHead: 'head mismatch: row not recorded in the chain head (added outside orgsync?)',
} as const

/** Walks rows in seq order from an anchor; says what is wrong with the first row that does not fit. */
export class ChainWalker {
  private prevSeq: number
  private prevHash: Uint8Array

  constructor(start: { seq: number; hash: Uint8Array }) {
    this.prevSeq = start.seq
    this.prevHash = start.hash
  }

  /** The last row accepted (the anchor before any). */
  get last(): { seq: number; hash: Uint8Array } {
    return { seq: this.prevSeq, hash: this.prevHash }
  }

  /** undefined when the row fits; else the reason, and the walker stays where it was. */
  step(row: ChainRow): string | undefined {
    if (!sameBytes(row.prev_hash, this.prevHash)) return BROKEN.link
    if (!sameBytes(rowHash(row), row.hash)) return BROKEN.content
    this.prevSeq = row.seq
    this.prevHash = row.hash
    return undefined
  }
}

export type VerifyResult =
  | { ok: true; checked: number; anchorSeq: number; lastSeq: number; lastHash: string }
  | { ok: false; checked: number; firstBroken: { seq: number; reason: string } }

const VERIFY_PAGE = 2000

/**
 * Re-reads the chain from its anchor to its head and recomputes every hash. Runs in one read-only
 * repeatable-read transaction, so the head and the rows come from one snapshot while writers go on
 * (on PGlite, with its one connection, writers wait until it is done). Memory stays at one page.
 */
export function verifyAuditChain(db: Kysely<DB>, options: { pageSize?: number } = {}): Promise<VerifyResult> {
  const pageSize = options.pageSize ?? VERIFY_PAGE
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const head = headOf(
        await trx
          .selectFrom('audit_chain_head')
          .select(['last_seq', 'last_hash', 'anchor_seq', 'anchor_hash'])
          .where('id', '=', 1)
          .executeTakeFirst(),
      )
      const walker = new ChainWalker({ seq: head.anchorSeq, hash: head.anchorHash })
      let checked = 0
      const broken = (seq: number, reason: string): VerifyResult => ({
        ok: false,
        checked,
        firstBroken: { seq, reason },
      })
      for (;;) {
        const rows: ChainRow[] = await trx
          .selectFrom('audit_events')
          .select(CHAIN_COLUMNS)
          .where('seq', '>', walker.last.seq)
          .orderBy('seq')
          .limit(pageSize)
          .execute()
        for (const row of rows) {
          if (row.seq > head.lastSeq) return broken(row.seq, BROKEN.beyondHead)
          const reason = walker.step(row)
          if (reason) return broken(row.seq, reason)
          checked++
        }
        if (rows.length < pageSize) break
      }
      const last = walker.last
      if (last.seq < head.lastSeq) return broken(head.lastSeq, BROKEN.headDeleted)
      if (!sameBytes(last.hash, head.lastHash)) {
        // The newest row is the broken one (though it verified on its own), unless there is none.
        if (last.seq > head.anchorSeq) checked--
        return broken(last.seq, BROKEN.headChanged)
      }
      return {
        ok: true,
        checked,
        anchorSeq: head.anchorSeq,
        lastSeq: head.lastSeq,
        lastHash: asBuffer(head.lastHash).toString('hex'),
      }
    })
}
