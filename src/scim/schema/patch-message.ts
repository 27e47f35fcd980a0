import { parsePatchPath, ScimFilterError, type PatchPath } from '../filter'
import { badRequest, type ScimError, type ScimType } from '../scim-error'
import { describeJson, isPlainObject } from './normalise-value'

export const PATCH_OP_URN = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'

export type PatchOpName = 'add' | 'remove' | 'replace'

/** One entry of a PatchOp's Operations, checked for shape (not yet against a schema). */
export interface PatchOperation {
  /** 1-based, as error messages count. */
  readonly index: number
  /** Lower-cased: providers send "Replace", "Add", "Remove" (Entra). */
  readonly op: PatchOpName
  /** Absent when the client sent none (or ""). */
  readonly path?: string
  /** `undefined` when the client sent no value. */
  readonly value: unknown
}

const OPS: ReadonlySet<string> = new Set<PatchOpName>(['add', 'remove', 'replace'])

/**
 * The PatchOp message (RFC 7644 §3.5.2): `schemas` naming the PatchOp URN and a non-empty
 * `Operations` array (both 400 invalidSyntax otherwise). Keys are matched without regard to case,
 * like attribute names.
 */
export function parsePatchMessage(body: unknown): PatchOperation[] {
  if (!isPlainObject(body)) {
    throw badRequest(
      'invalidSyntax',
      `a PATCH body must be a PatchOp message (a JSON object), found ${describeJson(body)}`,
    )
  }
  const schemas = field(body, 'schemas')
  if (
    !Array.isArray(schemas) ||
    !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP_URN.toLowerCase())
  ) {
    throw badRequest('invalidSyntax', `a PATCH body's "schemas" must be ["${PATCH_OP_URN}"]`)
  }
  const operations = field(body, 'Operations')
  if (!Array.isArray(operations) || operations.length === 0) {
    throw badRequest(
      'invalidSyntax',
      `a PATCH body needs "Operations": a non-empty array, found ${describeJson(operations)}`,
    )
  }
  return operations.map((raw: unknown, i): PatchOperation => {
    const index = i + 1
    if (!isPlainObject(raw)) {
      throw badRequest(
        'invalidSyntax',
        `PATCH operation ${index} must be an object, found ${describeJson(raw)}`,
      )
    }
    const op = field(raw, 'op')
    if (typeof op !== 'string' || !OPS.has(op.toLowerCase())) {
      throw badRequest(
        'invalidSyntax',
        `PATCH operation ${index}: "op" must be add, remove or replace, found ${describeJson(op)}`,
      )
    }
    const rawPath = field(raw, 'path')
    if (rawPath !== undefined && rawPath !== null && typeof rawPath !== 'string') {
      throw badRequest(
        'invalidPath',
        `PATCH operation ${index}: "path" must be a string, found ${describeJson(rawPath)}`,
      )
    }
    const operation: PatchOperation = {
      index,
      op: op.toLowerCase() as PatchOpName,
      path: typeof rawPath === 'string' && rawPath.trim() !== '' ? rawPath.trim() : undefined,
      value: field(raw, 'value'),
    }
    // RFC 7644 §3.5.2.2: a remove without a path fails with noTarget.
    if (operation.op === 'remove' && operation.path === undefined) {
      throw operationError(operation, 'noTarget', 'a remove needs a "path" saying what to remove')
    }
    if (operation.op !== 'remove' && operation.value === undefined) {
      throw operationError(operation, 'invalidValue', `an ${operation.op} needs a "value"`)
    }
    return operation
  })
}

/** `PATCH operation 2 (replace emails[type eq "work"].value)`: the prefix of every error about it. */
export function describeOperation(operation: PatchOperation): string {
  return `PATCH operation ${operation.index} (${operation.op} ${operation.path ?? 'without a path'})`
}

export function operationError(operation: PatchOperation, scimType: ScimType, detail: string): ScimError {
  return badRequest(scimType, `${describeOperation(operation)}: ${detail}`)
}

/** Our RFC 7644 path parser, its errors as invalidPath ScimErrors about this operation. */
export function parseOperationPath(operation: PatchOperation, text: string): PatchPath {
  try {
    return parsePatchPath(text)
  } catch (err) {
    if (err instanceof ScimFilterError) throw operationError(operation, 'invalidPath', err.message)
    throw err
  }
}

/** A key of a JSON object, found without regard to case (RFC 7643 §2.1). */
function field(object: Record<string, unknown>, name: string): unknown {
  if (name in object) return object[name]
  const lower = name.toLowerCase()
  const key = Object.keys(object).find((k) => k.toLowerCase() === lower)
  return key === undefined ? undefined : object[key]
}
