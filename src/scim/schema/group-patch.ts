import { formatAttributePath, formatPatchPath, type FilterNode } from '../filter'
import { isAbsent, isPlainObject, describeJson } from './normalise-value'
import { operationError, parseOperationPath, parsePatchMessage, type PatchOperation } from './patch-message'
import { groupModel, resolveAttribute } from './schema-model'

/**
 * PATCH /Groups/{id} as a list of changes, in request order, for the store to apply. Membership is
 * changed by id, never by loading the member list: a change costs O(members changed), which is
 * why this does not go through SCIMMY (its PatchOp needs the whole resource, members included).
 */
export type GroupPatchStep =
  | { readonly kind: 'set'; readonly attribute: 'displayName' | 'externalId'; readonly value: string | null }
  | { readonly kind: 'addMembers'; readonly ids: readonly string[] }
  | { readonly kind: 'removeMembers'; readonly ids: readonly string[] }
  | { readonly kind: 'removeAllMembers' }
  | { readonly kind: 'replaceMembers'; readonly ids: readonly string[] }

/** Member values one PATCH may name in total; more is a 400 (tooMany is for filters). */
export const MAX_PATCH_MEMBER_VALUES = 10_000

export function parseGroupPatch(body: unknown): GroupPatchStep[] {
  const budget = new MemberBudget()
  const steps: GroupPatchStep[] = []
  for (const operation of parsePatchMessage(body)) {
    if (operation.path !== undefined) {
      steps.push(...pathSteps(operation, operation.path, operation.value, budget))
      continue
    }
    // Path-less (Okta): `{"op":"replace","value":{"id":"…","displayName":"…"}}`, `{"members":[…]}`.
    if (!isPlainObject(operation.value)) {
      throw operationError(
        operation,
        'invalidValue',
        'without a path, "value" must be an object of Group attributes',
      )
    }
    for (const [key, value] of Object.entries(operation.value)) {
      const lower = key.toLowerCase()
      // Okta sends the group's id along with the new name; it cannot change, so it is ignored.
      if (lower === 'id' || lower === 'schemas') continue
      steps.push(...pathSteps(operation, key, value, budget))
    }
  }
  return steps
}

function pathSteps(
  operation: PatchOperation,
  text: string,
  value: unknown,
  budget: MemberBudget,
): GroupPatchStep[] {
  const parsed = parseOperationPath(operation, text)
  const resolved = resolveAttribute(groupModel(), parsed.path.uri, parsed.path.name)
  if (!resolved) {
    throw operationError(
      operation,
      'invalidPath',
      `the Group has no attribute "${formatAttributePath(parsed.path)}"`,
    )
  }
  const name = resolved.attribute.name
  if (resolved.attribute.mutability === 'readOnly') {
    throw operationError(operation, 'mutability', `${name} is read-only`)
  }
  const subAttr = parsed.path.subAttr ?? parsed.subAttr
  if (name === 'members') {
    if (subAttr !== undefined) {
      // Member display names are not stored (they are the members' own), so there is nothing to set.
      throw operationError(
        operation,
        'invalidPath',
        `"${formatPatchPath(parsed)}": members are kept by id only; add or remove members instead of changing their ${subAttr}`,
      )
    }
    return parsed.filter
      ? filteredMemberSteps(operation, parsed.filter, budget)
      : memberSteps(operation, value, budget)
  }
  if (parsed.filter || subAttr !== undefined) {
    throw operationError(
      operation,
      'invalidPath',
      `${name} is a single string: no filter or sub-attribute applies`,
    )
  }
  if (name !== 'displayName' && name !== 'externalId') {
    throw new Error(`group schema attribute ${name} has no PATCH handling`)
  }
  return [setStep(operation, name, value)]
}

function setStep(
  operation: PatchOperation,
  attribute: 'displayName' | 'externalId',
  value: unknown,
): GroupPatchStep {
  const unassigned = operation.op === 'remove' || isAbsent(value)
  if (unassigned && attribute === 'displayName') {
    // RFC 7644 §3.5.2.2: removing a required attribute is a mutability error.
    throw operation.op === 'remove'
      ? operationError(operation, 'mutability', 'displayName is required and cannot be removed')
      : operationError(
          operation,
          'invalidValue',
          'displayName is required; it cannot be set to an empty value',
        )
  }
  if (unassigned) return { kind: 'set', attribute, value: null }
  if (typeof value !== 'string') {
    throw operationError(
      operation,
      'invalidValue',
      `${attribute} must be a string, found ${describeJson(value)}`,
    )
  }
  return { kind: 'set', attribute, value }
}

function memberSteps(operation: PatchOperation, value: unknown, budget: MemberBudget): GroupPatchStep[] {
  switch (operation.op) {
    case 'add': {
      const ids = memberIds(operation, value, budget)
      return ids.length > 0 ? [{ kind: 'addMembers', ids }] : []
    }
    case 'remove': {
      // No value: RFC 7644 §3.5.2.2, all members go. A value list (Entra): only those.
      if (isAbsent(value)) return [{ kind: 'removeAllMembers' }]
      const ids = memberIds(operation, value, budget)
      return ids.length > 0 ? [{ kind: 'removeMembers', ids }] : []
    }
    case 'replace':
      // RFC 7643 §2.5: null and [] both mean no members.
      if (isAbsent(value)) return [{ kind: 'removeAllMembers' }]
      return [{ kind: 'replaceMembers', ids: memberIds(operation, value, budget) }]
  }
}

/** `members[value eq "a" or value eq "b"]`: the only filter that needs no member list to evaluate. */
function filteredMemberSteps(
  operation: PatchOperation,
  filter: FilterNode,
  budget: MemberBudget,
): GroupPatchStep[] {
  if (operation.op !== 'remove') {
    throw operationError(
      operation,
      'invalidPath',
      `a filtered members path only works with remove; to ${operation.op} members, send "path": "members" and a value array`,
    )
  }
  const ids = unique(idsOfFilter(operation, filter))
  budget.take(operation, ids.length)
  return [{ kind: 'removeMembers', ids }]
}

function idsOfFilter(operation: PatchOperation, filter: FilterNode): string[] {
  if (filter.kind === 'or') return filter.filters.flatMap((f) => idsOfFilter(operation, f))
  const isValueEq =
    filter.kind === 'compare' &&
    filter.op === 'eq' &&
    filter.path.uri === undefined &&
    filter.path.subAttr === undefined &&
    filter.path.name.toLowerCase() === 'value'
  if (!isValueEq) {
    throw operationError(
      operation,
      'invalidPath',
      'a members filter must be value eq "<id>", or several of those joined by "or": other filters would need the whole member list',
    )
  }
  if (typeof filter.value !== 'string' || filter.value === '') {
    throw operationError(
      operation,
      'invalidValue',
      `member values are non-empty strings, found ${describeJson(filter.value)}`,
    )
  }
  return [filter.value]
}

/** `[{"value":"id", "display":…, "type":…, "$ref":…}, …]` → the ids, each once. */
function memberIds(operation: PatchOperation, value: unknown, budget: MemberBudget): string[] {
  const list = Array.isArray(value) ? value : isPlainObject(value) ? [value] : undefined
  if (!list) {
    throw operationError(
      operation,
      'invalidValue',
      `members takes an array of {"value": "<id>"} objects, found ${describeJson(value)}`,
    )
  }
  budget.take(operation, list.length)
  return unique(
    list.map((member: unknown, i) => {
      if (!isPlainObject(member)) {
        throw operationError(
          operation,
          'invalidValue',
          `members[${i}] must be an object {"value": "<id>"}, found ${describeJson(member)}`,
        )
      }
      let id: unknown
      for (const [key, v] of Object.entries(member)) {
        const lower = key.toLowerCase()
        if (lower === 'value') id = v
        else if (lower !== 'display' && lower !== 'type' && lower !== '$ref') {
          throw operationError(
            operation,
            'invalidSyntax',
            `unknown attribute "members[${i}].${key}" (members have value, display, type and $ref)`,
          )
        }
      }
      if (typeof id !== 'string' || id === '') {
        throw operationError(
          operation,
          'invalidValue',
          `members[${i}].value must be a non-empty string (a member's id), found ${describeJson(id)}`,
        )
      }
      return id
    }),
  )
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)]
}

/** Counts member values over the whole body, so that many small operations cannot get around it. */
class MemberBudget {
  private used = 0

  take(operation: PatchOperation, count: number): void {
    this.used += count
    if (this.used > MAX_PATCH_MEMBER_VALUES) {
      throw operationError(
        operation,
        'invalidValue',
        `the PATCH names more than ${MAX_PATCH_MEMBER_VALUES} member values in total; send the changes in several requests`,
      )
    }
  }
}
