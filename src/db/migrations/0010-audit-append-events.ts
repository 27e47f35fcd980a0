import { sql, type Kysely } from 'kysely'

/**
 * Appending the audit events of several actors in one statement (src/org/audit-log.ts). Creates that
 * arrive together share a transaction (WriteCoalescer), each with its own actor — its own request id
 * and address — and orgsync_audit_append (migration 0009) takes one actor per call, so such a
 * transaction called it once per create: each call parsed its arguments, locked the chain's head,
 * inserted its events and wrote the head back. On PGlite, 16 creates of two events each cost 0.56 ms
 * per create that way and 0.16 ms in one call.
 *
 * orgsync_audit_append_events takes each event with its own time and actor, and otherwise chains
 * exactly as 0009 does (the same texts, sha256(prev_hash || utf8(text)), the head row's lock until
 * commit), so events from both functions form one chain. 0009's function stays: a replica still on
 * the release before this one appends with it, under the same lock.
 */
const functionSql = `
create or replace function orgsync_audit_append_events(p_events jsonb) returns bigint
language plpgsql
as $fn$
declare
  v_ats timestamptz[];
  v_actor_types text[];
  v_actor_ids text[];
  v_actor_names text[];
  v_ips text[];
  v_user_agents text[];
  v_request_ids text[];
  v_actions text[];
  v_target_types text[];
  v_target_ids text[];
  v_befores text[];
  v_afters text[];
  v_texts text[];
  v_hash bytea;
  v_prevs bytea[] := '{}';
  v_hashes bytea[] := '{}';
  v_last_seq bigint;
  v_text text;
begin
  -- p_events is a JSON array of [at, actorType, actorId, actorName, ip, userAgent, requestId,
  -- action, targetType, targetId, before, after, head, mid, tail] (before/after: canonical JSON
  -- texts or null; the text hashed is head || after || mid || before || tail), parsed once.
  select array_agg((e ->> 0)::timestamptz order by ord), array_agg(e ->> 1 order by ord),
         array_agg(e ->> 2 order by ord), array_agg(e ->> 3 order by ord), array_agg(e ->> 4 order by ord),
         array_agg(e ->> 5 order by ord), array_agg(e ->> 6 order by ord), array_agg(e ->> 7 order by ord),
         array_agg(e ->> 8 order by ord), array_agg(e ->> 9 order by ord), array_agg(e ->> 10 order by ord),
         array_agg(e ->> 11 order by ord),
         array_agg((e ->> 12) || coalesce(e ->> 11, 'null') || (e ->> 13) || coalesce(e ->> 10, 'null')
                   || (e ->> 14) order by ord)
    into v_ats, v_actor_types, v_actor_ids, v_actor_names, v_ips, v_user_agents, v_request_ids,
         v_actions, v_target_types, v_target_ids, v_befores, v_afters, v_texts
    from jsonb_array_elements(p_events) with ordinality as x(e, ord);
  if v_texts is null then
    return null;
  end if;
  if array_position(v_texts, null) is not null or array_position(v_ats, null) is not null then
    raise exception 'orgsync_audit_append_events: an event lacks its time or its canonical text parts';
  end if;
  select last_hash into v_hash from audit_chain_head where id = 1 for update;
  if not found then
    -- As in orgsync_audit_append (migration 0009): the chain restarts at genesis, under the advisory
    -- lock older releases appended under.
    perform pg_advisory_xact_lock(28530, 10);
    insert into audit_chain_head (id, last_seq, last_hash, anchor_seq, anchor_hash)
      values (1, 0, decode(repeat('00', 32), 'hex'), 0, decode(repeat('00', 32), 'hex'))
      on conflict (id) do nothing;
    select last_hash into v_hash from audit_chain_head where id = 1 for update;
  end if;
  foreach v_text in array v_texts loop
    v_prevs := array_append(v_prevs, v_hash);
    v_hash := sha256(v_hash || convert_to(v_text, 'UTF8'));
    v_hashes := array_append(v_hashes, v_hash);
  end loop;
  with inserted as (
    insert into audit_events (at, actor_type, actor_id, actor_name, ip, user_agent, request_id,
                              action, target_type, target_id, before, after, prev_hash, hash)
    select e.at, e.actor_type, e.actor_id, e.actor_name, e.ip, e.user_agent, e.request_id,
           e.action, e.target_type, e.target_id, e.before::jsonb, e.after::jsonb, e.prev_hash, e.hash
    from unnest(v_ats, v_actor_types, v_actor_ids, v_actor_names, v_ips, v_user_agents, v_request_ids,
                v_actions, v_target_types, v_target_ids, v_befores, v_afters, v_prevs, v_hashes)
         with ordinality as e(at, actor_type, actor_id, actor_name, ip, user_agent, request_id,
                              action, target_type, target_id, before, after, prev_hash, hash, ord)
    order by e.ord
    returning seq
  )
  select max(seq) into v_last_seq from inserted;
  update audit_chain_head set last_seq = v_last_seq, last_hash = v_hash where id = 1;
  return v_last_seq;
end
$fn$`

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(functionSql).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('drop function if exists orgsync_audit_append_events(jsonb)').execute(db)
}
