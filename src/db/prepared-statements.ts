import { createHash } from 'node:crypto'

/**
 * Statements that the database should parse and plan once per connection instead of on every run
 * (PostgreSQL through pg, PGlite through pglite-dialect.ts).
 *
 * A hot, fixed statement (the `userName eq` look-up every provider sends) spends more of the
 * server's CPU in parse and plan than in execution: measured on the identities look-up, 260 µs of
 * PostgreSQL CPU per run unnamed against 100 µs prepared. Naming it makes pg prepare it on each
 * pooled connection the first time and then only bind and execute.
 *
 * Only statements whose text is fixed by our code belong here (a template with bound values), never
 * one whose text varies with input: every name is a statement the server keeps for the connection's
 * life. The registry is therefore small and capped, and a statement past the cap simply runs
 * unnamed.
 */
export const MAX_PREPARED_STATEMENTS = 64
const names = new Map<string, string>()

/** Marks `sql` as prepared once per connection; returns its name (undefined past the cap). */
export function prepareOnEachConnection(sql: string): string | undefined {
  let name = names.get(sql)
  if (name === undefined && names.size < MAX_PREPARED_STATEMENTS) {
    name = `orgsync_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`
    names.set(sql, name)
  }
  return name
}

/** The prepared name of `sql`, where it has one. */
export function preparedName(sql: string): string | undefined {
  return names.get(sql)
}
