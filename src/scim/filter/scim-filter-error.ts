/**
 * A filter or PATCH path the server will not evaluate: malformed, naming an unknown attribute, or
 * comparing an attribute in a way its type does not allow. The SCIM layer answers it with 400 and
 * this `scimType` (RFC 7644 §3.12) — never with an unfiltered list or an empty one.
 */
export class ScimFilterError extends Error {
  readonly status = 400

  constructor(
    message: string,
    /** invalidFilter for `filter=` (and value filters), invalidPath for a PATCH operation's path. */
    readonly scimType: 'invalidFilter' | 'invalidPath' = 'invalidFilter',
    /** 0-based offset into the filter text of what was wrong, when one place is to blame. */
    readonly position?: number,
  ) {
    super(message)
    this.name = 'ScimFilterError'
  }
}
