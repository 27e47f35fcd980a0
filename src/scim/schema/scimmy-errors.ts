import { Types } from 'scimmy'
import { ScimError, type ScimType } from '../scim-error'

const SCIM_TYPES: ReadonlySet<string> = new Set<ScimType>([
  'invalidFilter',
  'tooMany',
  'uniqueness',
  'mutability',
  'invalidSyntax',
  'invalidPath',
  'noTarget',
  'invalidValue',
  'invalidVers',
  'sensitive',
])

/**
 * Turns what SCIMMY throws into our ScimError, with `context` saying which request part failed.
 * SCIMMY throws its SCIMError for protocol problems and plain TypeErrors from schema coercion (a
 * value that does not fit its attribute: invalidValue). Anything else is a bug in our code or
 * SCIMMY's, and is rethrown as it is: it must surface as a 500, not as a client's mistake.
 */
export function rethrowAsScimError(err: unknown, context: string): never {
  if (err instanceof ScimError) throw err
  if (err instanceof Types.Error) {
    const scimType = SCIM_TYPES.has(err.scimType) ? (err.scimType as ScimType) : 'invalidValue'
    const status = err.status >= 400 && err.status < 500 ? err.status : 400
    throw new ScimError(status, scimType, `${context}: ${withoutScimmyLocation(err.message)}`)
  }
  if (err instanceof TypeError) {
    throw new ScimError(400, 'invalidValue', `${context}: ${withoutScimmyLocation(err.message)}`)
  }
  throw err
}

/**
 * SCIMMY ends PATCH messages with "for 'add' op of operation 1 in PatchOp request body"; we run it
 * one operation at a time, so its numbering is wrong and our context says it better.
 */
function withoutScimmyLocation(message: string): string {
  return message.replace(/ for '(?:add|remove|replace)' op of operation \d+ in PatchOp request body$/, '')
}
