import { types, type PGlite } from '@electric-sql/pglite'
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import { prepareValue } from 'pg/lib/utils'
import { beginStatement } from './begin-statement'
import { preparedName } from './prepared-statements'

/**
 * PGlite (the embedded store) for kysely, one call into the database per statement.
 *
 * PGlite's own `query()` makes six calls into its WebAssembly Postgres per statement (parse,
 * describe the parameters, bind, describe the portal, execute, sync), and that overhead, not the
 * statement, was most of a simple look-up's cost: about 0.9 ms against 0.2 ms for the same look-up
 * sent as one message. Here every statement is one message — parse, bind, describe, execute, sync —
 * and a statement registered in prepared-statements.ts is parsed once and then only bound.
 *
 * Parameters are turned into text the way node-postgres does it (its `prepareValue`), so both
 * stores see the very same values; results are parsed by PGlite's own type parsers, as before.
 * One connection, handed out in turn, as PGlite has only one.
 */
export class PgliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}

  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  createDriver(): Driver {
    return new PgliteDriver(this.pglite)
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler()
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }
}

class PgliteDriver implements Driver {
  private readonly connection: PgliteConnection
  private busy = false
  private readonly waiting: ((connection: PgliteConnection) => void)[] = []

  constructor(pglite: PGlite) {
    this.connection = new PgliteConnection(pglite)
  }

  async init(): Promise<void> {
    await this.connection.ready()
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.busy) {
      this.busy = true
      return this.connection
    }
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  async releaseConnection(): Promise<void> {
    const next = this.waiting.shift()
    if (next) next(this.connection)
    else this.busy = false
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(beginStatement(settings)))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  async destroy(): Promise<void> {
    // The handle closes PGlite itself (open-database.ts): it owns it.
  }
}

/** Describe portal "", Execute it (all rows), Sync: the fixed tail of every statement's message. */
const DESCRIBE_EXECUTE_SYNC = Buffer.from([
  0x44, 0, 0, 0, 6, 0x50, 0, 0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4,
])
const SYNC = Buffer.from([0x53, 0, 0, 0, 4])

/**
 * The frontend messages of one statement in one buffer: Parse (when `text` is given: of the unnamed
 * statement, or of `name` to keep), then, when `values` are given, Bind of `name` to the unnamed
 * portal with its Describe, Execute and Sync; without values only Sync follows. Parameters as text,
 * a Buffer as binary (bytea), results as text — what pg-protocol's serializer writes for the same
 * call, computed in one pass with one allocation.
 */
function extendedQuery(
  name: string,
  text: string | undefined,
  values: readonly (string | Buffer | null)[] | undefined,
): Buffer {
  const nameBytes = Buffer.byteLength(name)
  const parseLength = text === undefined ? 0 : 1 + 4 + nameBytes + 1 + Buffer.byteLength(text) + 1 + 2
  let binary = false
  let bindLength = 0
  if (values !== undefined) {
    bindLength = 1 + 4 + 1 + nameBytes + 1 + 2 + 2 + 2
    for (const v of values) {
      if (Buffer.isBuffer(v)) binary = true
      bindLength += 4 + (v === null ? 0 : Buffer.isBuffer(v) ? v.length : Buffer.byteLength(v))
    }
    if (binary) bindLength += 2 * values.length
  }
  const tail = values === undefined ? SYNC : DESCRIBE_EXECUTE_SYNC
  const out = Buffer.allocUnsafe(parseLength + bindLength + tail.length)
  let at = 0
  if (text !== undefined) {
    out[at++] = 0x50
    out.writeInt32BE(parseLength - 1, at)
    at += 4
    at += out.write(name, at)
    out[at++] = 0
    at += out.write(text, at)
    out[at++] = 0
    out.writeInt16BE(0, at)
    at += 2
  }
  if (values !== undefined) {
    out[at++] = 0x42
    out.writeInt32BE(bindLength - 1, at)
    at += 4
    out[at++] = 0 // the unnamed portal
    at += out.write(name, at)
    out[at++] = 0
    // Format codes: none (all text), or one per parameter when a Buffer goes as binary.
    out.writeInt16BE(binary ? values.length : 0, at)
    at += 2
    if (binary)
      for (const v of values) {
        out.writeInt16BE(Buffer.isBuffer(v) ? 1 : 0, at)
        at += 2
      }
    out.writeInt16BE(values.length, at)
    at += 2
    for (const v of values) {
      if (v === null) {
        out.writeInt32BE(-1, at)
        at += 4
      } else if (Buffer.isBuffer(v)) {
        out.writeInt32BE(v.length, at)
        at += 4
        at += v.copy(out, at)
      } else {
        const length = out.write(v, at + 4)
        out.writeInt32BE(length, at)
        at += 4 + length
      }
    }
    out.writeInt16BE(0, at) // result columns: all text
    at += 2
  }
  tail.copy(out, at)
  return out
}

/** The backend messages a statement's answer is read from (pg-protocol's shapes). */
interface RowDescription {
  name: 'rowDescription'
  fields: { name: string; dataTypeID: number }[]
}
interface DataRow {
  name: 'dataRow'
  fields: (string | null)[]
}
interface CommandComplete {
  name: 'commandComplete'
  text: string
}

class PgliteConnection implements DatabaseConnection {
  /** Registered statements this database has parsed already (by name). */
  private readonly parsed = new Set<string>()

  constructor(private readonly pglite: PGlite) {}

  async ready(): Promise<void> {
    await this.pglite.waitReady
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const name = preparedName(query.sql)
    if (name !== undefined && !this.parsed.has(name)) {
      // On its own, so a failure of the statement's first run cannot leave us unsure whether the
      // name exists.
      await this.exchange(extendedQuery(name, query.sql, undefined))
      this.parsed.add(name)
    }
    // As node-postgres sends them: text, or bytes for a Buffer (its second argument is internal).
    const values = query.parameters.map((value) => prepareValue(value) as string | Buffer | null)
    const messages = await this.exchange(
      name === undefined ? extendedQuery('', query.sql, values) : extendedQuery(name, undefined, values),
    )
    return this.resultOf<R>(messages)
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported: page with keyset queries instead')
  }

  /** One message to the database and its answer; a database error is thrown as PGlite throws it. */
  private async exchange(message: Uint8Array): Promise<unknown[]> {
    // PGlite's own query() says so too; its protocol entry point would fail obscurely instead.
    if (this.pglite.closed) throw new Error('the embedded database (PGlite) is closed')
    // syncToFs: the file systems we open PGlite on (memory, and a directory through NODEFS) have
    // nothing to sync after a statement; PGlite's sync step would only queue on its mutex for nothing.
    const { messages } = await this.pglite._runExclusiveQuery(() =>
      this.pglite.execProtocol(message, { syncToFs: false }),
    )
    return messages
  }

  private resultOf<R>(messages: unknown[]): QueryResult<R> {
    let fields: RowDescription['fields'] = []
    const rows: Record<string, unknown>[] = []
    let command = ''
    for (const message of messages as { name: string }[]) {
      if (message.name === 'rowDescription') fields = (message as RowDescription).fields
      else if (message.name === 'dataRow') {
        const row: Record<string, unknown> = {}
        const values = (message as DataRow).fields
        for (let i = 0; i < fields.length; i++) {
          const field = fields[i]!
          row[field.name] = types.parseType(values[i] ?? null, field.dataTypeID, this.pglite.parsers)
        }
        rows.push(row)
      } else if (message.name === 'commandComplete') command = (message as CommandComplete).text
    }
    const [verb, a, b] = command.split(' ')
    const affected =
      verb === 'INSERT' ? b : verb === 'UPDATE' || verb === 'DELETE' || verb === 'MERGE' ? a : undefined
    return {
      rows: rows as R[],
      ...(affected === undefined ? {} : { numAffectedRows: BigInt(affected) }),
    }
  }
}
