/**
 * A SCIM protocol error (RFC 7644 §3.12): the HTTP status, the scimType where the RFC defines one for
 * that status, and a detail written for the identity provider's admin.
 */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive'

export const SCIM_ERROR_URN = 'urn:ietf:params:scim:api:messages:2.0:Error'

export class ScimError extends Error {
  constructor(
    readonly status: number,
    readonly scimType: ScimType | undefined,
    detail: string,
  ) {
    super(detail)
    this.name = 'ScimError'
  }

  get detail(): string {
    return this.message
  }

  /** The wire body; status is a string, as RFC 7644 §3.12 shows it. */
  toJSON(): { schemas: string[]; status: string; scimType?: ScimType; detail: string } {
    return {
      schemas: [SCIM_ERROR_URN],
      status: String(this.status),
      ...(this.scimType ? { scimType: this.scimType } : {}),
      detail: this.message,
    }
  }
}

export const badRequest = (scimType: ScimType, detail: string) => new ScimError(400, scimType, detail)
