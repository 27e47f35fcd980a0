import { Messages } from 'scimmy'
import { formatAttributePath, type FilterNode, type PatchPath } from '../filter'
import { ScimError } from '../scim-error'
import { isAbsent, isPlainObject, normaliseElement, normaliseValue } from './normalise-value'
import {
  describeOperation,
  operationError,
  parseOperationPath,
  parsePatchMessage,
  PATCH_OP_URN,
  type PatchOperation,
  type PatchOpName,
} from './patch-message'
import { scimmyDeclarations } from './scimmy-declarations'
import { rethrowAsScimError } from './scimmy-errors'
import { CORE_USER_URN } from './schema-documents'
import {
  canonicalPath,
  resolveAttribute,
  userModel,
  type AttributeDef,
  type ResolvedAttribute,
  type ResourceModel,
  type SchemaPart,
} from './schema-model'
import { validateUser, type ScimUserDoc } from './validate-resource'
import { checkValueFilter, elementFromFilter, elementMatches, matchesValueFilter } from './value-filter'

/**
 * PATCH /Users/{id} (RFC 7644 §3.5.2) on the stored document: returns the new document, validated as
 * validateUser validates a PUT body; `current` is never changed.
 *
 * SCIMMY's PatchOp applies the operations and its schema coercion checks every value, but it falls
 * short on what providers send, so each operation is first normalised here into one SCIMMY can apply
 * as the RFC means it:
 * - paths and keys resolved against our schema (unknown → invalidPath, readOnly → mutability,
 *   removing userName → mutability), values normalised (Entra's "True"/"False", its bare-string
 *   manager, "" or null meaning "no value");
 * - value filters (`emails[type eq "work"].value`) are evaluated here, and the operation becomes a
 *   replace of the whole multi-valued attribute: SCIMMY's Filter is case-sensitive where the schema
 *   says caseExact false, and when it matches nothing SCIMMY appends a duplicate or fails, where
 *   Entra expects the element to be created. Adds to multi-valued attributes are merged here too
 *   (RFC 7644 §3.5.2.1: an existing value is not added twice; a new primary clears the old one);
 * - a sub-attribute set (`name.givenName`, `urn:…:manager.value`) becomes an add of the parent
 *   with that one sub-attribute: SCIMMY fails on the sub-attribute path when the parent is unset,
 *   and its replace of a complex attribute drops the sub-attributes not given, where RFC 7644
 *   §3.5.2.3 says they are left unchanged.
 *
 * Async because SCIMMY's PatchOp.apply is; nothing here waits on I/O.
 */
export async function patchUser(current: ScimUserDoc, body: unknown): Promise<ScimUserDoc> {
  const operations = parsePatchMessage(body)
  const model = userModel()
  let state = initialState(current)
  for (const operation of operations) {
    for (const target of expandOperation(model, operation)) {
      for (const step of planTarget(state, target)) state = await applyWithScimmy(state, step, operation)
    }
  }
  try {
    return validateUser(state)
  } catch (err) {
    if (err instanceof ScimError) {
      throw new ScimError(
        err.status,
        err.scimType,
        `the User after the PATCH operations is not valid: ${err.detail}`,
      )
    }
    throw err
  }
}

type Doc = Record<string, unknown>

/** One attribute an operation changes, resolved against the schema. */
interface TargetOp {
  readonly operation: PatchOperation
  readonly resolved: ResolvedAttribute
  readonly sub?: AttributeDef
  readonly filter?: FilterNode
  /** The value for this target (for a path-less operation, the value of its key). */
  readonly value: unknown
  /** The target as messages name it. */
  readonly where: string
}

/** What SCIMMY is asked to do: a path it handles well (no value filter), one at a time. */
interface ScimmyStep {
  readonly op: PatchOpName
  readonly path: string
  readonly value?: unknown
}

function initialState(current: ScimUserDoc): Doc {
  const state = structuredClone(current) as Doc
  if (!Array.isArray(state.schemas)) state.schemas = [CORE_USER_URN]
  return state
}

// ---------------------------------------------------------------------------------------------
// Operation → targets (schema only, no state)
// ---------------------------------------------------------------------------------------------

function expandOperation(model: ResourceModel, operation: PatchOperation): TargetOp[] {
  const { path, value } = operation
  if (path === undefined) return expandValueMap(model, operation, value, undefined)
  // A path naming a whole extension (`urn:…:enterprise:2.0:User`): its attributes, one by one.
  const extension = model.part(path)
  if (extension?.extension) {
    if (operation.op !== 'remove') return expandValueMap(model, operation, value, extension)
    return extension.attributes
      .filter((attribute) => attribute.mutability === 'readWrite')
      .map((attribute) => ({
        operation,
        resolved: { part: extension, attribute },
        value: undefined,
        where: canonicalPath({ part: extension, attribute }),
      }))
  }
  const target = resolveTarget(model, operation, parseOperationPath(operation, path), value)
  return target ? [target] : []
}

/**
 * A path-less add or replace (Okta's `{"op":"replace","value":{"active":false}}`): each key is a
 * path of its own — an attribute, `name.givenName`, `urn:…:User:department`, or an extension URN
 * holding an object of that extension's attributes.
 */
function expandValueMap(
  model: ResourceModel,
  operation: PatchOperation,
  value: unknown,
  extension: SchemaPart | undefined,
): TargetOp[] {
  if (extension && isAbsent(value)) {
    // `"urn:…:enterprise:2.0:User": null`: every attribute of the extension unassigned.
    return extension.attributes
      .filter((attribute) => attribute.mutability === 'readWrite')
      .map((attribute) => ({
        operation,
        resolved: { part: extension, attribute },
        value: null,
        where: canonicalPath({ part: extension, attribute }),
      }))
  }
  if (!isPlainObject(value)) {
    const what = extension
      ? `"${extension.urn}" takes an object of its attributes`
      : 'without a path, "value" must be an object of attributes'
    throw operationError(operation, 'invalidValue', what)
  }
  const targets: TargetOp[] = []
  for (const [key, v] of Object.entries(value)) {
    if (!extension) {
      const lower = key.toLowerCase()
      // Clients echo these back with their changes; neither can change, so neither is an error.
      if (lower === 'schemas' || lower === 'id') continue
      const ext = model.part(key)
      if (ext?.extension) {
        targets.push(...expandValueMap(model, operation, v, ext))
        continue
      }
    }
    const text = extension ? `${extension.urn}:${key}` : key
    const parsed = parseOperationPath(operation, text)
    if (parsed.filter) {
      throw operationError(
        operation,
        'invalidPath',
        `"${key}": a value filter belongs in "path", not in a key of "value"`,
      )
    }
    const target = resolveTarget(model, operation, parsed, v)
    if (target) targets.push(target)
  }
  return targets
}

/** undefined: an operation on the password, which is accepted and dropped (orgsync stores none). */
function resolveTarget(
  model: ResourceModel,
  operation: PatchOperation,
  parsed: PatchPath,
  value: unknown,
): TargetOp | undefined {
  const { path, filter } = parsed
  const resolved = resolveAttribute(model, path.uri, path.name)
  if (!resolved) {
    const why =
      path.uri !== undefined && !model.part(path.uri)
        ? `"${path.uri}" is not a schema of the User`
        : `the User has no attribute "${formatAttributePath({ ...path, subAttr: undefined })}"`
    throw operationError(operation, 'invalidPath', why)
  }
  const { attribute } = resolved
  if (attribute.mutability === 'writeOnly') return undefined
  if (attribute.mutability === 'readOnly') {
    throw operationError(operation, 'mutability', `${canonicalPath(resolved)} is read-only`)
  }
  const subName = path.subAttr ?? parsed.subAttr
  let sub: AttributeDef | undefined
  if (subName !== undefined) {
    sub = attribute.sub.get(subName.toLowerCase())
    if (!sub) {
      const has =
        attribute.type === 'complex'
          ? `its sub-attributes are ${attribute.subAttributes.map((s) => s.name).join(', ')}`
          : 'it is not complex'
      throw operationError(
        operation,
        'invalidPath',
        `${attribute.name} has no sub-attribute "${subName}" (${has})`,
      )
    }
    if (sub.mutability === 'readOnly') {
      throw operationError(operation, 'mutability', `${canonicalPath(resolved, sub)} is read-only`)
    }
  }
  if (filter) {
    if (!attribute.multiValued || attribute.type !== 'complex') {
      throw operationError(
        operation,
        'invalidPath',
        `a value filter selects values of a multi-valued attribute; ${attribute.name} is not one`,
      )
    }
    checkValueFilter(filter, attribute, describeOperation(operation))
  } else if (sub && attribute.multiValued) {
    throw operationError(
      operation,
      'invalidPath',
      `${attribute.name}.${sub.name} would change every ${attribute.name} value; select them with a filter, e.g. ${attribute.name}[type eq "work"].${sub.name}`,
    )
  }
  // RFC 7644 §3.5.2.2: removing a required attribute is a mutability error.
  if (operation.op === 'remove' && !sub && !filter && attribute.required) {
    throw operationError(operation, 'mutability', `${attribute.name} is required and cannot be removed`)
  }
  return { operation, resolved, sub, filter, value, where: canonicalPath(resolved, sub) }
}

// ---------------------------------------------------------------------------------------------
// Target → SCIMMY steps (against the state the previous operations left)
// ---------------------------------------------------------------------------------------------

function planTarget(state: Doc, t: TargetOp): ScimmyStep[] {
  if (t.filter) return planFiltered(state, t, t.filter)
  const attribute = t.resolved.attribute
  if (t.operation.op === 'remove') {
    if (attribute.multiValued && !isAbsent(t.value)) return removeListed(state, t)
    return unassign(state, t)
  }
  const raw = attribute.multiValued && isPlainObject(t.value) ? [t.value] : t.value
  const value = t.sub ? normaliseElement(t.sub, raw, t.where) : normaliseValue(attribute, raw, t.where)
  if (value === undefined) {
    if (attribute.required && !t.sub) {
      throw operationError(
        t.operation,
        'invalidValue',
        `${attribute.name} is required; it cannot be set to an empty value`,
      )
    }
    return unassign(state, t)
  }
  const path = canonicalPath(t.resolved)
  if (t.sub) return [{ op: 'add', path, value: { [t.sub.name]: value } }]
  if (attribute.multiValued) {
    if (t.operation.op === 'replace') return [{ op: 'replace', path, value }]
    return setElements(state, t, appendNew(elementsOf(state, t), value as unknown[]))
  }
  // RFC 7644 §3.5.2.3: a complex value replaces the sub-attributes it gives and leaves the others
  // (SCIMMY's add does that). Except for a new manager id: the old $ref would point at someone else.
  if (
    attribute.type === 'complex' &&
    !(isPlainObject(value) && 'value' in value && attribute.sub.has('value'))
  ) {
    return [{ op: 'add', path, value }]
  }
  return [{ op: 'replace', path, value }]
}

function unassign(state: Doc, t: TargetOp): ScimmyStep[] {
  const current = readAttribute(state, t.resolved)
  if (t.sub) {
    // SCIMMY fails removing `name.givenName` when there is no name: nothing to remove is no change.
    if (!isPlainObject(current) || current[t.sub.name] === undefined) return []
    return [{ op: 'remove', path: canonicalPath(t.resolved, t.sub) }]
  }
  return current === undefined ? [] : [{ op: 'remove', path: canonicalPath(t.resolved) }]
}

/** `{"op":"remove","path":"emails","value":[{"value":"a@b.c"}]}`: only the listed values go. */
function removeListed(state: Doc, t: TargetOp): ScimmyStep[] {
  const attribute = t.resolved.attribute
  const listed = Array.isArray(t.value) ? t.value : [t.value]
  const probes = listed
    .map((v, i) => normaliseElement(attribute, v, `${t.where}[${i}]`))
    .filter((p): p is Record<string, unknown> => isPlainObject(p))
  const before = elementsOf(state, t)
  return setElements(
    state,
    t,
    before.filter((e) => !probes.some((p) => elementMatches(e, p, attribute))),
  )
}

/**
 * `emails[type eq "work"]` and `emails[type eq "work"].value`, resolved here (see patchUser) into a
 * replace of the whole attribute.
 */
function planFiltered(state: Doc, t: TargetOp, filter: FilterNode): ScimmyStep[] {
  const attribute = t.resolved.attribute
  const before = elementsOf(state, t)
  const hits = before.map((e) => matchesValueFilter(filter, e, attribute))
  const matched = hits.some(Boolean)
  const sub = t.sub
  if (t.operation.op === 'remove') {
    // RFC 7644 §3.5.2.2 names noTarget for a remove without a path only; a filter selecting nothing
    // leaves nothing to remove, and providers repeat a remove whose answer they did not get.
    if (!matched) return []
    const next = sub
      ? before.map((e, i) => (hits[i] ? withSub(e, sub.name, undefined) : e))
      : before.filter((_, i) => !hits[i])
    return setElements(
      state,
      t,
      next.filter((e) => e !== undefined),
    )
  }
  // Add and replace mean the same here: Entra sends either for a value that did not exist before.
  const value = sub ? normaliseElement(sub, t.value, t.where) : normaliseElement(attribute, t.value, t.where)
  const makesPrimary = sub ? sub.name === 'primary' && value === true : isPrimary(value)
  if (matched) {
    const next = before.map((e, i) => {
      if (!hits[i]) return makesPrimary ? clearPrimary(e) : e
      return sub ? withSub(e, sub.name, value) : value
    })
    return setElements(
      state,
      t,
      next.filter((e) => e !== undefined),
    )
  }
  if (value === undefined) return []
  // RFC 7644 §3.5.2.3 says noTarget here; Entra expects `emails[type eq "work"].value` to create the
  // work email. We create the element when the filter says what it is (eq comparisons, and-ed).
  const seed = elementFromFilter(filter, attribute)
  if (!seed) {
    throw operationError(
      t.operation,
      'noTarget',
      `no ${attribute.name} value matches the filter, and only "eq" comparisons joined by "and" describe a value that could be created`,
    )
  }
  const created = normaliseElement(
    attribute,
    sub ? { ...seed, [sub.name]: value } : { ...seed, ...(value as Doc) },
    t.where,
  )
  const base = isPrimary(created) ? before.map(clearPrimary) : before
  return setElements(state, t, [...base, created])
}

/** The multi-valued attribute set to `next` (removed when empty); no step when nothing changed. */
function setElements(state: Doc, t: TargetOp, next: readonly unknown[]): ScimmyStep[] {
  const path = canonicalPath(t.resolved)
  if (sameJson(elementsOf(state, t), next)) return []
  return next.length === 0 ? [{ op: 'remove', path }] : [{ op: 'replace', path, value: next }]
}

/** RFC 7644 §3.5.2.1: a value already there is not added again; a new primary clears the old one. */
function appendNew(existing: readonly unknown[], incoming: readonly unknown[]): unknown[] {
  const fresh: unknown[] = []
  for (const v of incoming) {
    if (!existing.some((e) => sameJson(e, v)) && !fresh.some((f) => sameJson(f, v))) fresh.push(v)
  }
  const kept = fresh.some(isPrimary) ? existing.map(clearPrimary) : [...existing]
  return [...kept, ...fresh]
}

function readAttribute(state: Doc, resolved: ResolvedAttribute): unknown {
  const holder = resolved.part.extension ? state[resolved.part.urn] : state
  return isPlainObject(holder) ? holder[resolved.attribute.name] : undefined
}

function elementsOf(state: Doc, t: TargetOp): unknown[] {
  const value = readAttribute(state, t.resolved)
  return Array.isArray(value) ? value : []
}

/** The element with sub-attribute `name` set (or removed, for undefined); undefined once empty. */
function withSub(element: unknown, name: string, value: unknown): Doc | undefined {
  const copy: Doc = isPlainObject(element) ? { ...element } : {}
  if (value === undefined) delete copy[name]
  else copy[name] = value
  return Object.keys(copy).length > 0 ? copy : undefined
}

function isPrimary(value: unknown): boolean {
  return isPlainObject(value) && value.primary === true
}

/** RFC 7644 §3.5.2: setting one value primary sets "primary" to false on the others. */
function clearPrimary(element: unknown): unknown {
  return isPrimary(element) ? { ...(element as Doc), primary: false } : element
}

/** Deep equality of JSON values, whatever the key order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]))
    )
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined)
    const other = Object.keys(b).filter((k) => b[k] !== undefined)
    return keys.length === other.length && keys.every((k) => sameJson(a[k], b[k]))
  }
  return a === b
}

// ---------------------------------------------------------------------------------------------
// SCIMMY
// ---------------------------------------------------------------------------------------------

/** One step through SCIMMY's PatchOp: it applies the step and coerces the result against the schema. */
async function applyWithScimmy(state: Doc, step: ScimmyStep, operation: PatchOperation): Promise<Doc> {
  const { UserResource } = scimmyDeclarations()
  try {
    const message = new Messages.PatchOp({ schemas: [PATCH_OP_URN], Operations: [{ ...step }] })
    const patched = await message.apply(new UserResource(state))
    // apply() answers undefined when the step changed nothing.
    if (patched === undefined) return state
    const doc = JSON.parse(JSON.stringify(patched)) as Doc
    delete doc.meta
    return doc
  } catch (err) {
    return rethrowAsScimError(err, describeOperation(operation))
  }
}
