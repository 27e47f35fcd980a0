import { sql, type Kysely } from 'kysely'

/**
 * Appending to the audit chain becomes one statement (src/org/audit-log.ts). Before, a writer took
 * an advisory lock, read the head, inserted its events and wrote the head back: four round trips
 * while every other writer waited, plus its commit. Now the application hashes nothing under the
 * lock: it sends each event's canonical text as parts around its before/after values (head || after
 * || mid || before || tail, src/org/audit-chain.ts eventJsonParts), in one JSON array (PostgreSQL
 * parses that faster than text arrays of the same values), and this function takes the head
 * row's lock, chains the hashes (sha256(prev_hash || utf8(text)), exactly what audit-chain.ts
 * verifies), inserts the events and moves the head, in one round trip. The hash and what verify
 * checks are unchanged, so events written before and after this migration form one chain.
 *
 * The head row's lock, held until commit, orders appenders across replicas; under repeatable read a
 * transaction whose snapshot predates another append fails on it instead of forking the chain.
 */
const functionSql = `
create or replace function orgsync_audit_append(
  p_at timestamptz,
  p_actor_type text,
  p_actor_id text,
  p_actor_name text,
  p_ip text,
  p_user_agent text,
  p_request_id text,
  p_events jsonb
) returns bigint
language plpgsql
as $fn$
declare
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
  -- p_events is a JSON array of [action, targetType, targetId, before, after, head, mid, tail]
  -- (before/after: canonical JSON texts or null); parsed once, into arrays.
  select array_agg(e ->> 0 order by ord), array_agg(e ->> 1 order by ord), array_agg(e ->> 2 order by ord),
         array_agg(e ->> 3 order by ord), array_agg(e ->> 4 order by ord),
         array_agg((e ->> 5) || coalesce(e ->> 4, 'null') || (e ->> 6) || coalesce(e ->> 3, 'null')
                   || (e ->> 7) order by ord)
    into v_actions, v_target_types, v_target_ids, v_befores, v_afters, v_texts
    from jsonb_array_elements(p_events) with ordinality as x(e, ord);
  if v_texts is null then
    return null;
  end if;
  if array_position(v_texts, null) is not null then
    raise exception 'orgsync_audit_append: an event lacks its canonical text parts';
  end if;
  select last_hash into v_hash from audit_chain_head where id = 1 for update;
  if not found then
    -- No head (a fresh test database truncated it): the chain restarts at genesis, as verify expects.
    -- There is no row to lock yet, so take the advisory lock the release before this one appended
    -- under (see audit-chain.ts): a replica still on it must not start a second chain meanwhile.
    perform pg_advisory_xact_lock(28530, 10);
    insert into audit_chain_head (id, last_seq, last_hash, anchor_seq, anchor_hash)
      values (1, 0, decode(repeat('00', 32), 'hex'), 0, decode(repeat('00', 32), 'hex'))
      on conflict (id) do nothing;
    select last_hash into v_hash from audit_chain_head where id = 1 for update;
  end if;
  -- FOREACH walks the array once; v_texts[i] would re-walk it from its start for every element.
  foreach v_text in array v_texts loop
    v_prevs := array_append(v_prevs, v_hash);
    v_hash := sha256(v_hash || convert_to(v_text, 'UTF8'));
    v_hashes := array_append(v_hashes, v_hash);
  end loop;
  -- Identity values are drawn in the order the rows arrive, so seq follows the chain.
  with inserted as (
    insert into audit_events (at, actor_type, actor_id, actor_name, ip, user_agent, request_id,
                              action, target_type, target_id, before, after, prev_hash, hash)
    select p_at, p_actor_type, p_actor_id, p_actor_name, p_ip, p_user_agent, p_request_id,
           e.action, e.target_type, e.target_id, e.before::jsonb, e.after::jsonb, e.prev_hash, e.hash
    from unnest(v_actions, v_target_types, v_target_ids, v_befores, v_afters, v_prevs, v_hashes)
         with ordinality as e(action, target_type, target_id, before, after, prev_hash, hash, ord)
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
  await sql
    .raw(
      'drop function if exists orgsync_audit_append(timestamptz, text, text, text, text, text, text, ' +
        'jsonb)',
    )
    .execute(db)
}
