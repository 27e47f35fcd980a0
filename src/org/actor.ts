import type { ActorType } from '../db/schema'

/** Who makes a change: recorded with every audit event and every attribute's provenance. */
export interface Actor {
  readonly type: ActorType
  /** Admin id, source id, or the system job's name. */
  readonly id: string | null
  readonly name: string | null
  readonly ip?: string | null
  readonly requestId?: string | null
  /** The HTTP client's User-Agent, recorded with the audit event (truncated there). */
  readonly userAgent?: string | null
}

export const systemActor = (job: string): Actor => ({ type: 'system', id: job, name: job })
