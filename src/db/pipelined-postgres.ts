import {
  AbortedTransactionError,
  CompiledQuery,
  PostgresDialect,
  type DatabaseConnection,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import pg from 'pg'
import { beginStatement } from './begin-statement'
import { preparedName } from './prepared-statements'

/**
 * PostgreSQL for kysely with fewer round trips per transaction. The pool's clients run in pg's
 * pipeline mode, and statements whose results nobody waits for travel in the same write as the next
 * statement that is waited for:
 *
 * - `BEGIN` is not sent on its own: it goes out with the transaction's first statement;
 * - statements handed to `sendWithCommit` (the audit append, the store's last step) go out with
 *   `COMMIT`.
 *
 * A short transaction (a SCIM create) is then four round trips instead of six; each one costs both
 * processes a socket write, a read and a wake-up, which is what these writes are mostly made of.
 *
 * Errors stay where they were: a failed deferred statement aborts the transaction, so the `COMMIT`
 * behind it reports `ROLLBACK` and the commit throws that statement's error; nothing commits.
 */
export class PipelinedPostgresDialect extends PostgresDialect {
  constructor(private readonly pool: pg.Pool) {
    super({ pool })
  }

  override createDriver(): Driver {
    return new PipelinedPostgresDriver(this.pool)
  }
}

/**
 * Sends `query` together with the transaction's COMMIT where the connection can (PostgreSQL through
 * PipelinedPostgresDialect), and at once elsewhere (PGlite: in-process, there is no round trip to save).
 * Errors then surface from the commit, so the caller must not need the result — nor run anything
 * after it in this transaction that depends on it having run.
 */
export async function sendWithCommit(
  trx: Pick<Kysely<unknown>, 'isTransaction' | 'getExecutor'>,
  query: CompiledQuery,
): Promise<void> {
  if (!trx.isTransaction) throw new Error('sendWithCommit: needs a transaction')
  await trx.getExecutor().provideConnection(async (connection) => {
    if (connection instanceof PipelinedConnection) connection.defer(query)
    else await connection.executeQuery(query)
  })
}

/**
 * Runs statements that do not need one another's results in one round trip where the connection can
 * (PostgreSQL through PipelinedPostgresDialect), one after another elsewhere. They run in the order
 * given; each one's outcome is reported on its own (after a failure, the rest of a transaction's
 * statements fail too: it is aborted).
 */
export async function executeTogether(
  trx: Pick<Kysely<unknown>, 'getExecutor'>,
  queries: readonly CompiledQuery[],
): Promise<PromiseSettledResult<QueryResult<unknown>>[]> {
  return trx.getExecutor().provideConnection(async (connection) => {
    if (connection instanceof PipelinedConnection) return connection.executeAll(queries)
    const settled: PromiseSettledResult<QueryResult<unknown>>[] = []
    for (const query of queries) {
      try {
        settled.push({ status: 'fulfilled', value: await connection.executeQuery(query) })
      } catch (reason) {
        settled.push({ status: 'rejected', reason })
      }
    }
    return settled
  })
}

class PipelinedPostgresDriver implements Driver {
  private readonly lane: SharedLane

  constructor(private pool: pg.Pool | undefined) {
    this.lane = new SharedLane(pool!.options)
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.pool) throw new Error('the database driver is already destroyed')
    // No pooled client yet: a lone prepared statement may never need one (see SharedLane).
    return new PipelinedConnection(this.pool, this.lane)
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const pipelined = asPipelined(connection)
    await pipelined.checkOut()
    pipelined.begin(CompiledQuery.raw(beginStatement(settings)))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await asPipelined(connection).commit()
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await asPipelined(connection).rollback()
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    asPipelined(connection).release()
  }

  async destroy(): Promise<void> {
    const pool = this.pool
    this.pool = undefined
    await this.lane.close()
    await pool?.end()
  }
}

/** Past this, the lane's oldest statement is a slow one: new statements go to the pool instead. */
const LANE_STALL_MS = 5
const LANE_MAX_IN_FLIGHT = 64

/**
 * One connection of its own, outside the pool, on which the prepared statements (the fixed, hot
 * look-ups: see prepared-statements.ts) run when no transaction needs them: concurrent requests'
 * look-ups travel in one write and come back in one read, where each would otherwise check out a
 * pooled client and cost both processes a write, a read and a wake-up of its own. On this machine
 * those socket calls were the largest single cost of a SCIM `userName eq` GET.
 *
 * Each statement still has its own Sync, so one's error is its own. Statements answer in order, so
 * a slow one would hold up the ones behind it: when the oldest outstanding statement has run longer
 * than LANE_STALL_MS, or too many are outstanding, new ones check out a pooled client as before.
 */
class SharedLane {
  private client: pg.Client | undefined
  private connecting: Promise<pg.Client> | undefined
  /** When each outstanding statement was sent, oldest first (they complete in that order). */
  private readonly sentAt: number[] = []
  private corked = false
  private closed = false

  constructor(private readonly config: pg.ClientConfig) {}

  available(): boolean {
    if (this.closed) return false
    const outstanding = this.sentAt.length
    return (
      outstanding === 0 ||
      (outstanding < LANE_MAX_IN_FLIGHT && performance.now() - this.sentAt[0]! < LANE_STALL_MS)
    )
  }

  async execute(query: CompiledQuery): Promise<pg.QueryResult> {
    const client = this.client ?? (await this.connect())
    this.corkUntilNextTurn(client)
    this.sentAt.push(performance.now())
    try {
      return await client.query(queryConfig(query))
    } catch (err) {
      if (!isServerError(err) || endsSession(err)) this.discard(client)
      throw err
    } finally {
      this.sentAt.shift()
    }
  }

  async close(): Promise<void> {
    this.closed = true
    const client = this.client ?? (await this.connecting?.catch(() => undefined))
    this.client = undefined
    this.connecting = undefined
    await client?.end().catch(() => undefined)
  }

  /** Statements sent during this turn of the event loop leave in one write, at its check phase. */
  private corkUntilNextTurn(client: pg.Client): void {
    const stream = (client as unknown as CorkableClient).connection?.stream
    if (this.corked || !stream?.cork || !stream.uncork) return
    this.corked = true
    stream.cork()
    setImmediate(() => {
      this.corked = false
      stream.uncork!()
    })
  }

  private connect(): Promise<pg.Client> {
    this.connecting ??= (async () => {
      const client = new pg.Client(this.config)
      // A lost server must not crash the process: the statements in flight fail, the next reconnects.
      client.on('error', () => this.discard(client))
      client.on('end', () => this.discard(client))
      try {
        await client.connect()
      } catch (err) {
        this.connecting = undefined
        throw err
      }
      if (this.closed) {
        await client.end().catch(() => undefined)
        throw new Error('the database driver is already destroyed')
      }
      this.client = client
      return client
    })()
    return this.connecting
  }

  private discard(client: pg.Client): void {
    if (this.client === client) {
      this.client = undefined
      this.connecting = undefined
    }
    client.end().catch(() => undefined)
  }
}

/** pg's form of a statement: named where it is one to prepare once per connection. */
function queryConfig(query: CompiledQuery): pg.QueryConfig {
  const name = preparedName(query.sql)
  const values = [...query.parameters]
  return name === undefined ? { text: query.sql, values } : { name, text: query.sql, values }
}

function toResult<R>({ command, rowCount, rows }: pg.QueryResult): QueryResult<R> {
  if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command } as R] }
  return {
    numAffectedRows:
      command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE'
        ? BigInt(rowCount ?? 0)
        : undefined,
    rows: (rows ?? []) as R[],
  }
}

/** An error the server sent (it has a SQLSTATE): the connection itself is fine. */
function isServerError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((err as { code: string }).code)
  )
}

/** A FATAL (or PANIC) error from the server: it has closed the session (pg_terminate_backend, shutdown). */
function endsSession(err: unknown): boolean {
  const severity = (err as { severity?: unknown }).severity
  return severity === 'FATAL' || severity === 'PANIC'
}

function asPipelined(connection: DatabaseConnection): PipelinedConnection {
  if (!(connection instanceof PipelinedConnection)) throw new Error('not a pipelined PostgreSQL connection')
  return connection
}

/** pg's client keeps its socket on `connection.stream`; corking it makes a batch one write. */
interface CorkableClient {
  connection?: { stream?: { cork?: () => void; uncork?: () => void } }
}

class PipelinedConnection implements DatabaseConnection {
  /** Sent ahead of the next statement that is waited for, in order, in the same write. */
  private pending: CompiledQuery[] = []
  private inTransaction = false
  /** BEGIN is still in `pending`: nothing of the transaction has reached the server yet. */
  private beginPending = false
  private broken = false
  /** The pooled client, once something needs one (a transaction, or a statement the lane does not take). */
  private checkedOut: pg.PoolClient | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly lane: SharedLane,
  ) {}

  async checkOut(): Promise<pg.PoolClient> {
    this.checkedOut ??= await this.pool.connect()
    return this.checkedOut
  }

  private get client(): pg.PoolClient {
    if (!this.checkedOut) throw new Error('no pooled client checked out on this connection')
    return this.checkedOut
  }

  begin(query: CompiledQuery): void {
    this.assertUsable()
    if (this.inTransaction) throw new Error('a transaction is already open on this connection')
    this.inTransaction = true
    this.beginPending = true
    this.pending.push(query)
  }

  defer(query: CompiledQuery): void {
    // Outside a transaction a deferred statement's error would land on an unrelated statement.
    if (!this.inTransaction) throw new Error('deferred statements need a transaction')
    this.pending.push(query)
  }

  async commit(): Promise<void> {
    if (this.beginPending && this.pending.length === 1) {
      // Nothing ran: there is nothing to commit.
      this.endTransaction()
      return
    }
    try {
      const { rows } = await this.executeQuery(CompiledQuery.raw('commit'))
      // PostgreSQL completes COMMIT with a ROLLBACK tag when an earlier error aborted the transaction.
      if ((rows[0] as { command?: string } | undefined)?.command === 'ROLLBACK')
        throw new AbortedTransactionError()
    } catch (err) {
      // The server answered (a deferred statement failed, so COMMIT rolled back; or COMMIT itself
      // failed): the transaction is over and the connection is fine. Anything else: discard it.
      if (!isServerError(err) && !(err instanceof AbortedTransactionError)) this.broken = true
      throw err
    } finally {
      this.endTransaction()
    }
  }

  async rollback(): Promise<void> {
    // Nothing reached the server, or a commit already ended the transaction (kysely rolls back
    // after a failed commit): nothing to roll back.
    if (this.beginPending || !this.inTransaction) {
      this.endTransaction()
      return
    }
    this.pending = []
    try {
      await this.executeQuery(CompiledQuery.raw('rollback'))
    } catch (err) {
      this.broken = true
      throw err
    } finally {
      this.endTransaction()
    }
  }

  release(): void {
    // A connection given back mid-transaction (or with a failed rollback) is not fit for reuse.
    this.checkedOut?.release(this.broken || this.inTransaction || this.pending.length > 0)
    this.checkedOut = undefined
    this.broken = false
    this.inTransaction = false
    this.beginPending = false
    this.pending = []
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.pending.length === 0) {
      this.assertUsable()
      if (!this.inTransaction && !this.checkedOut && preparedName(query.sql) && this.lane.available())
        return toResult<R>(await this.lane.execute(query))
      const client = await this.checkOut()
      return toResult<R>(await client.query(queryConfig(query)))
    }
    const [only] = await this.executeAll<R>([query])
    if (only!.status === 'rejected') throw only!.reason
    return only!.value
  }

  /** The statements (and what is pending), in one write; each one's outcome on its own. */
  async executeAll<R>(queries: readonly CompiledQuery[]): Promise<PromiseSettledResult<QueryResult<R>>[]> {
    this.assertUsable()
    await this.checkOut()
    const settled = await this.send(queries)
    return settled.map((s) =>
      s.status === 'rejected' ? s : { status: 'fulfilled', value: toResult<R>(s.value) },
    )
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported: page with keyset queries instead')
  }

  /**
   * The pending statements and then `queries`, in one write. A failed pending statement is the
   * error of the whole send; otherwise each of `queries` reports its own outcome.
   */
  private async send(queries: readonly CompiledQuery[]): Promise<PromiseSettledResult<pg.QueryResult>[]> {
    const ahead = this.pending
    const withBegin = this.beginPending
    this.pending = []
    this.beginPending = false
    const all = [...ahead, ...queries]
    const stream = all.length > 1 ? (this.client as unknown as CorkableClient).connection?.stream : undefined
    stream?.cork?.()
    let sent: Promise<pg.QueryResult>[]
    try {
      sent = all.map((q) => this.client.query(queryConfig(q)))
    } finally {
      stream?.uncork?.()
    }
    const settled = await Promise.allSettled(sent)
    const failedAhead = settled
      .slice(0, ahead.length)
      .find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failedAhead) {
      // A failed BEGIN let the statements behind it run on their own: never reuse this connection.
      if (withBegin && settled[0]!.status === 'rejected') this.broken = true
      throw failedAhead.reason
    }
    return settled.slice(ahead.length)
  }

  private endTransaction(): void {
    this.inTransaction = false
    this.beginPending = false
    this.pending = []
  }

  private assertUsable(): void {
    if (this.broken) throw new Error('this PostgreSQL connection failed and has been discarded')
  }
}
