import type { Logger } from 'pino'
import type { z } from 'zod'

/**
 * The connector contract (../shared/DESIGN.md §3). A connector only reads its source and returns
 * normalised records keyed by the source's own stable ids; the engine owns paging loops, diffing,
 * cursors and retries, and nothing a connector does touches the database.
 */

/** A user as the source describes them. Absent optional fields mean "the source does not say". */
export interface RemoteUser {
  /** The source's stable id (Graph object id, objectGUID, employee id…). */
  externalId: string
  userName: string
  displayName?: string | null
  givenName?: string | null
  familyName?: string | null
  email?: string | null
  employeeNumber?: string | null
  title?: string | null
  /** externalId of one of this source's departments, or null for none. */
  departmentExternalId?: string | null
  /** The manager, by this source's externalId, or by email or employee number when that is all it has. */
  manager?: { externalId?: string; email?: string; employeeNumber?: string } | null
  /** false: the source says this person has left (disabled account, suspended, terminated). */
  active: boolean
  /** The record as the source sent it, kept on the identity for support and debugging. */
  raw?: unknown
}

/** A department (org unit, OU) as the source describes it. */
export interface RemoteDepartment {
  externalId: string
  name: string
  /** null: a top-level department of this source. */
  parentExternalId: string | null
}

export interface RemoteGroup {
  externalId: string
  displayName: string
  description?: string | null
  /** externalIds of this source's users. */
  memberExternalIds: string[]
}

export interface Page<T> {
  items: T[]
  /** Where the next page starts; absent on the last page. */
  nextCursor?: string
}

export interface CheckResult {
  ok: boolean
  /** What was checked, each with its outcome, for the admin's screen. */
  checks: { name: string; ok: boolean; message: string }[]
}

export type ConnectorErrorKind =
  'auth' | 'permission' | 'throttled' | 'transient' | 'invalid-config' | 'permanent'

/**
 * A connector's failure, written for an admin (`entra: client secret expired on 2026-10-01`).
 * `throttled` and `transient` are retried with backoff; the others fail the run at once.
 */
export class ConnectorError extends Error {
  constructor(
    readonly kind: ConnectorErrorKind,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number; details?: unknown },
  ) {
    super(message, options)
    this.name = 'ConnectorError'
    this.retryAfterMs = options?.retryAfterMs
    this.details = options?.details
  }
  readonly retryAfterMs: number | undefined
  /** Structured detail for the admin (e.g. every invalid CSV row), stored with the failed plan. */
  readonly details: unknown
}

export interface Connector {
  readonly type: string
  check(signal: AbortSignal): Promise<CheckResult>
  listUsers(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteUser>>
  listDepartments(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteDepartment>>
  listGroups(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>>
}

export interface ConnectorDeps {
  logger: Logger
  fetch: typeof fetch
  /** The request body of an upload-driven source (a CSV file), when the run has one. */
  upload?: { contentType: string; body: Buffer }
}

export interface ConnectorDefinition<C extends Record<string, unknown> = Record<string, unknown>> {
  readonly type: string
  readonly description: string
  readonly configSchema: z.ZodType<C>
  /** Config keys stored encrypted and never returned by the API. */
  readonly secretKeys: readonly string[]
  /** Sources of this type are fed by uploads (the plan request's body), not by a schedule. */
  readonly upload?: boolean
  open(config: C, deps: ConnectorDeps): Connector
}

/** The registry the engine is given: a plain map from type to definition (tests pass their own). */
export type ConnectorRegistry = Readonly<Record<string, ConnectorDefinition>>
