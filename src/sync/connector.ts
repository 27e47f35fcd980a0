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
  /**
   * Or the department as names from the top ("Head Office", "Finance"), for sources whose users carry
   * a department name rather than a reference to a department object (Entra's `department`, Google's
   * `organizations[].department`). The engine keeps such a tree per source; it wins over
   * departmentExternalId, and an empty array means no department.
   */
  departmentPath?: readonly string[] | null
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

/**
 * One change an incremental source reports since a delta token. Sources that send whole records
 * use `user`; those that send only what changed (Graph's delta) use `user.partial`, whose absent
 * fields keep the values the engine has. The same object may be reported more than once in a round:
 * the last report wins, partial ones merging into what came before.
 */
export type RemoteChange =
  | { kind: 'user'; user: RemoteUser }
  | { kind: 'user.partial'; user: Partial<RemoteUser> & { externalId: string } }
  /** Gone from the source: `deleted` for good (→ deprovision), or `soft` (restorable; → suspend). */
  | { kind: 'user.removed'; externalId: string; deleted: boolean }
  | { kind: 'department'; department: RemoteDepartment }
  | { kind: 'department.removed'; externalId: string }
  /** A group as a whole, members included (they replace what the engine has). */
  | { kind: 'group'; group: RemoteGroup }
  /** Changes to a group: its names when given, and members added and removed (by user externalId). */
  | {
      kind: 'group.delta'
      externalId: string
      displayName?: string
      description?: string | null
      added: string[]
      removed: string[]
    }
  | { kind: 'group.removed'; externalId: string }
  /**
   * Part of a complete list of the users the source has now (a round may send it over several
   * pages): any of this source's users the round neither names nor lists is gone. For sources whose
   * change feed does not report deletions (AD read by a least-privileged account).
   */
  | { kind: 'user.roster'; externalIds: string[] }

export interface ChangePage {
  changes: RemoteChange[]
  /** Where the next page of this round starts; absent on the last page. */
  nextCursor?: string
  /** On the last page: the token the next round starts from. */
  deltaToken?: string
}

export interface CheckResult {
  ok: boolean
  /** What was checked, each with its outcome, for the admin's screen. */
  checks: { name: string; ok: boolean; message: string }[]
}

/**
 * `resync-required`: the delta token is no longer valid (expired, or the source's state was reset);
 * the engine answers with a full listing.
 */
export type ConnectorErrorKind =
  'auth' | 'permission' | 'throttled' | 'transient' | 'invalid-config' | 'permanent' | 'resync-required'

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
  /**
   * Incremental sources: after a full listing, the token from which `changes` reports what changed
   * since it (the engine saves it as the source's cursor when the plan applies).
   */
  deltaToken?(): string | undefined
  /** Incremental sources: what changed since `token`, page by page within the round. */
  changes?(token: string, cursor: string | undefined, signal: AbortSignal): Promise<ChangePage>
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
