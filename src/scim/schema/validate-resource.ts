import type { Types } from 'scimmy'
import { badRequest } from '../scim-error'
import { describeJson, isAbsent, isPlainObject, normaliseValue } from './normalise-value'
import { scimmyDeclarations } from './scimmy-declarations'
import { rethrowAsScimError } from './scimmy-errors'
import { groupModel, userModel, type ResourceModel, type SchemaPart } from './schema-model'

/**
 * A User as orgsync stores it: canonical attribute names, extensions under their URN, `schemas`
 * listing the core URN and the extensions present; no id, meta, groups, personId or password.
 */
export interface ScimUserDoc extends Record<string, unknown> {
  schemas: string[]
  userName: string
}

export interface ScimGroupMember {
  value: string
  display?: string
  type?: string
}

/** A Group as stored; its members are kept apart from the document by the caller. */
export interface ScimGroupDoc extends Record<string, unknown> {
  schemas: string[]
  displayName: string
  members?: ScimGroupMember[]
}

/** A POST or PUT body for /Users, checked and normalised into the document to store. */
export function validateUser(body: unknown): ScimUserDoc {
  const doc = normaliseResource(userModel(), body)
  coerceWithScimmy(scimmyDeclarations().user, doc, 'User')
  return doc as ScimUserDoc
}

/** A POST or PUT body for /Groups, checked and normalised into the document to store. */
export function validateGroup(body: unknown): ScimGroupDoc {
  const doc = normaliseResource(groupModel(), body)
  if (isPlainObject(body)) checkMemberValues(body)
  if (Array.isArray(doc.members)) doc.members = doc.members.map(storedMember)
  coerceWithScimmy(scimmyDeclarations().group, doc, 'Group')
  return doc as ScimGroupDoc
}

/**
 * The walk: canonical names, unknown attributes refused, readOnly ones dropped (RFC 7643 §2.2 says
 * a request's readOnly values SHALL be ignored), writeOnly ones dropped too (the only one is the
 * password, which orgsync never stores). Keys come out in schema order, so equal resources give
 * equal documents whatever order the client used.
 */
function normaliseResource(model: ResourceModel, body: unknown): Record<string, unknown> {
  const resourceType = model.resourceType
  if (!isPlainObject(body)) {
    throw badRequest(
      'invalidSyntax',
      `the request body must be a ${resourceType} as a JSON object, found ${describeJson(body)}`,
    )
  }
  const schemasKeys = Object.keys(body).filter((k) => k.toLowerCase() === 'schemas')
  checkSchemas(model, schemasKeys.length === 1 ? body[schemasKeys[0] ?? ''] : undefined)

  const values = new Map<SchemaPart, Map<string, unknown>>()
  const put = (part: SchemaPart, key: string, value: unknown) => {
    const attribute = part.byName.get(key.toLowerCase())
    if (!attribute) throw unknownAttribute(model, part, key)
    const into = values.get(part) ?? new Map<string, unknown>()
    values.set(part, into)
    if (into.has(attribute.name)) {
      throw badRequest('invalidSyntax', `"${attribute.name}" is given twice (attribute names ignore case)`)
    }
    const keep = attribute.mutability !== 'readOnly' && attribute.mutability !== 'writeOnly'
    const where = part.extension ? `${part.urn}:${attribute.name}` : attribute.name
    into.set(attribute.name, keep ? normaliseValue(attribute, value, where) : undefined)
  }

  for (const [key, value] of Object.entries(body)) {
    if (key.toLowerCase() === 'schemas') continue
    const extension = model.part(key)
    if (extension?.extension) {
      if (isAbsent(value)) continue
      if (!isPlainObject(value)) {
        throw badRequest(
          'invalidValue',
          `"${extension.urn}" must be an object of that extension's attributes, found ${describeJson(value)}`,
        )
      }
      if (values.has(extension)) throw badRequest('invalidSyntax', `"${extension.urn}" is given twice`)
      values.set(extension, new Map())
      for (const [name, v] of Object.entries(value)) put(extension, name, v)
    } else {
      put(model.core, key, value)
    }
  }

  const doc: Record<string, unknown> = { schemas: [model.core.urn] }
  const core = values.get(model.core)
  for (const attribute of model.core.attributes) {
    const v = core?.get(attribute.name)
    if (v !== undefined) doc[attribute.name] = v
  }
  // Entra sends the enterprise object without listing its URN in `schemas`: presence decides.
  for (const part of model.extensions) {
    const given = values.get(part)
    const ext: Record<string, unknown> = {}
    for (const attribute of part.attributes) {
      const v = given?.get(attribute.name)
      if (v !== undefined) ext[attribute.name] = v
    }
    if (Object.keys(ext).length > 0) {
      doc[part.urn] = ext
      ;(doc.schemas as string[]).push(part.urn)
    }
  }
  return doc
}

/**
 * RFC 7644 §3.12 has no code for a bad `schemas` list; invalidSyntax ("did not conform to the request
 * schema") fits it better than invalidValue, which is about attribute values.
 */
function checkSchemas(model: ResourceModel, schemas: unknown): void {
  const core = model.core.urn
  if (schemas === undefined) {
    throw badRequest('invalidSyntax', `"schemas" is missing: a ${model.resourceType} must list "${core}"`)
  }
  if (!Array.isArray(schemas) || !schemas.every((s): s is string => typeof s === 'string')) {
    throw badRequest(
      'invalidSyntax',
      `"schemas" must be an array of schema URNs, found ${describeJson(schemas)}`,
    )
  }
  if (!schemas.some((s) => s.toLowerCase() === core.toLowerCase())) {
    throw badRequest('invalidSyntax', `"schemas" must include "${core}"`)
  }
  // A URN we do not know, listed without attributes under it, is ignored: Entra ID has listed its own
  // legacy group schema this way. Attributes under an unknown URN are still refused (unknownAttribute).
}

function unknownAttribute(model: ResourceModel, part: SchemaPart, key: string) {
  if (part.extension) return badRequest('invalidSyntax', `unknown attribute "${key}" in "${part.urn}"`)
  if (key.includes(':')) {
    return badRequest(
      'invalidSyntax',
      `unknown attribute or schema extension "${key}" in the ${model.resourceType}`,
    )
  }
  return badRequest('invalidSyntax', `unknown attribute "${key}" in the ${model.resourceType}`)
}

/**
 * Checked on the request as sent: the normalising walk drops an element whose only value is "", and a
 * member without an id must be refused, not skipped.
 */
function checkMemberValues(body: Record<string, unknown>): void {
  for (const [key, members] of Object.entries(body)) {
    if (key.toLowerCase() !== 'members' || !Array.isArray(members)) continue
    members.forEach((member: unknown, i) => {
      const value = isPlainObject(member)
        ? Object.entries(member).find(([k]) => k.toLowerCase() === 'value')?.[1]
        : undefined
      if (typeof value !== 'string' || value === '') {
        throw badRequest(
          'invalidValue',
          `members[${i}].value must be a non-empty string (the id of a User or Group), found ${describeJson(value)}`,
        )
      }
    })
  }
}

/** `$ref` is dropped: the server derives it from the id when it serves the group. */
function storedMember(member: unknown): ScimGroupMember {
  const m = member as Record<string, unknown>
  const out: ScimGroupMember = { value: m.value as string }
  if (m.display !== undefined) out.display = m.display as string
  if (m.type !== undefined) out.type = m.type as string
  return out
}

/** SCIMMY checks types, required attributes and reference formats against the same documents. */
function coerceWithScimmy(
  definition: Types.SchemaDefinition,
  doc: Record<string, unknown>,
  resourceType: string,
): void {
  try {
    definition.coerce(doc, 'in')
  } catch (err) {
    rethrowAsScimError(err, `invalid ${resourceType}`)
  }
}
