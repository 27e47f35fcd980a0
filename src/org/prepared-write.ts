import type { CompiledQuery } from 'kysely'
import { executeTogether } from '../db/pipelined-postgres'
import type { WriteContext } from './write-context'

/**
 * A write whose statement is built but not sent: the statement, what its rows become (audited), and
 * the error a failure of it means. Writes that do not need each other's results can then go to the
 * database together, in one round trip (runTogether).
 */
export interface PreparedWrite<T> {
  query: CompiledQuery
  done(rows: readonly unknown[]): Promise<T>
  failed(err: unknown): unknown
}

export async function runPrepared<T>(ctx: WriteContext, write: PreparedWrite<T>): Promise<T> {
  let rows: unknown[]
  try {
    rows = (await ctx.trx.executeQuery(write.query)).rows
  } catch (err) {
    throw write.failed(err)
  }
  return write.done(rows)
}

/**
 * Sends the writes' statements together and finishes them in order. They run in the order given, so a
 * later one may reference what an earlier one inserts (by an id known before sending); the first
 * failure is the error (the statements after it fail only because the transaction is aborted).
 */
export async function runTogether<A, B>(
  ctx: WriteContext,
  a: PreparedWrite<A>,
  b: PreparedWrite<B>,
): Promise<[A, B]> {
  const [ra, rb] = await executeTogether(ctx.trx, [a.query, b.query])
  if (ra!.status === 'rejected') throw a.failed(ra!.reason)
  if (rb!.status === 'rejected') throw b.failed(rb!.reason)
  return [await a.done(ra!.value.rows), await b.done(rb!.value.rows)]
}
