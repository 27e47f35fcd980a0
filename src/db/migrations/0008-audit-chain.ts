import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { canonicalJson } from '../../canonical-json'

/**
 * The audit log becomes a hash chain (src/org/audit-chain.ts): each event carries its predecessor's
 * hash and its own, and `audit_chain_head` pins the newest event and the start left by retention.
 * Events written before this migration are sealed here, in seq order, so verify covers them too.
 * Also: the user agent of each event, and 'anonymous' actors (a failed sign-in for an unknown name).
 */
const before = [
  `alter table audit_events
     add column user_agent text,
     add column prev_hash bytea,
     add column hash bytea`,
  `alter table audit_events drop constraint audit_events_actor_type_check`,
  `alter table audit_events add constraint audit_events_actor_type_check
     check (actor_type in ('admin', 'source', 'system', 'anonymous'))`,
  // Hashes cover `at` as a JavaScript Date sees it (milliseconds): old rows got now()'s microseconds.
  `update audit_events set at = date_trunc('milliseconds', at)
     where at <> date_trunc('milliseconds', at)`,
  `create table audit_chain_head (
    id integer primary key check (id = 1),
    last_seq bigint not null,
    last_hash bytea not null,
    anchor_seq bigint not null,
    anchor_hash bytea not null
  )`,
  // "What did this admin do": the common audit question, served in seq order.
  `create index audit_events_actor on audit_events (actor_id, seq)`,
]

const after = [
  // Every event from now on is chained: a writer that does not know the chain cannot slip one in.
  `alter table audit_events alter column prev_hash set not null, alter column hash set not null`,
]

const GENESIS = Buffer.alloc(32)
const PAGE = 1000

interface OldRow {
  seq: number | string
  at: Date
  actor_type: string
  actor_id: string | null
  actor_name: string | null
  ip: string | null
  request_id: string | null
  action: string
  target_type: string
  target_id: string | null
  before: unknown
  after: unknown
}

/**
 * The chain's hash as this migration shipped it. A copy on purpose: a migration must do forever what
 * it did when it shipped, and db/ does not import the domain. test/org/audit-chain-migration.test.ts
 * checks that rows sealed here verify with the app's own code.
 */
function sealHash(prev: Buffer, row: OldRow): Buffer {
  const text = canonicalJson({
    at: row.at.toISOString(),
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorName: row.actor_name,
    ip: row.ip,
    userAgent: null,
    requestId: row.request_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    before: row.before ?? null,
    after: row.after ?? null,
  })
  return createHash('sha256')
    .update(prev)
    .update(text ?? '', 'utf8')
    .digest()
}

async function sealExistingEvents(db: Kysely<unknown>): Promise<{ lastSeq: number; lastHash: Buffer }> {
  let lastSeq = 0
  let lastHash: Buffer = GENESIS
  for (;;) {
    const { rows } = await sql<OldRow>`
      select seq, at, actor_type, actor_id, actor_name, ip, request_id, action, target_type, target_id,
             before, after
      from audit_events where seq > ${lastSeq} order by seq limit ${PAGE}`.execute(db)
    if (rows.length === 0) break
    const seqs: number[] = []
    const prevs: string[] = []
    const hashes: string[] = []
    for (const row of rows) {
      const hash = sealHash(lastHash, row)
      seqs.push(Number(row.seq))
      prevs.push(lastHash.toString('hex'))
      hashes.push(hash.toString('hex'))
      lastHash = hash
      lastSeq = Number(row.seq)
    }
    await sql`
      update audit_events e set prev_hash = decode(v.prev_hash, 'hex'), hash = decode(v.hash, 'hex')
      from unnest(${seqs}::bigint[], ${prevs}::text[], ${hashes}::text[]) as v(seq, prev_hash, hash)
      where e.seq = v.seq`.execute(db)
    if (rows.length < PAGE) break
  }
  return { lastSeq, lastHash }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of before) await sql.raw(statement).execute(db)
  const { lastSeq, lastHash } = await sealExistingEvents(db)
  await sql`
    insert into audit_chain_head (id, last_seq, last_hash, anchor_seq, anchor_hash)
    values (1, ${lastSeq}, ${lastHash}, 0, ${GENESIS})`.execute(db)
  for (const statement of after) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'drop index if exists audit_events_actor',
    'drop table if exists audit_chain_head',
    `alter table audit_events drop constraint audit_events_actor_type_check`,
    `alter table audit_events add constraint audit_events_actor_type_check
       check (actor_type in ('admin', 'source', 'system'))`,
    `alter table audit_events drop column if exists user_agent, drop column if exists prev_hash,
       drop column if exists hash`,
  ]) {
    await sql.raw(statement).execute(db)
  }
}
