import {
  CORE_GROUP_URN,
  CORE_USER_URN,
  ENTERPRISE_USER_URN,
  ORGSYNC_USER_URN,
  schemaDocument,
  type AttributeDocument,
  type AttributeType,
  type Mutability,
} from './schema-documents'

/**
 * The schema documents as lookup tables for walking a request: attribute names are case-insensitive
 * (RFC 7643 §2.1), so every lookup goes through lower-cased maps and yields the canonical spelling.
 */

export interface AttributeDef {
  readonly name: string
  readonly type: AttributeType
  readonly multiValued: boolean
  readonly required: boolean
  readonly caseExact: boolean
  readonly mutability: Mutability
  readonly subAttributes: readonly AttributeDef[]
  /** Lower-cased name → sub-attribute. */
  readonly sub: ReadonlyMap<string, AttributeDef>
}

/** The attributes of one schema (core or extension) of a resource type. */
export interface SchemaPart {
  readonly urn: string
  readonly extension: boolean
  readonly attributes: readonly AttributeDef[]
  readonly byName: ReadonlyMap<string, AttributeDef>
}

export interface ResourceModel {
  readonly resourceType: 'User' | 'Group'
  readonly core: SchemaPart
  readonly extensions: readonly SchemaPart[]
  /** The core schema or an extension, by URN in any case. */
  part(urn: string): SchemaPart | undefined
}

/** An attribute found by name, with the schema it belongs to. */
export interface ResolvedAttribute {
  readonly part: SchemaPart
  readonly attribute: AttributeDef
}

/**
 * RFC 7643 §3.1: every resource has id, externalId and meta, though no Schema resource lists them;
 * `schemas` is server-managed here (derived from the extensions present), so it is readOnly to PATCH.
 */
const COMMON_ATTRIBUTES: readonly AttributeDocument[] = [
  common('id', 'string', 'readOnly'),
  common('externalId', 'string', 'readWrite'),
  {
    ...common('meta', 'complex', 'readOnly'),
    subAttributes: ['resourceType', 'created', 'lastModified', 'location', 'version'].map((n) =>
      common(n, 'string', 'readOnly'),
    ),
  },
  { ...common('schemas', 'reference', 'readOnly'), multiValued: true, referenceTypes: ['uri'] },
]

function common(name: string, type: AttributeType, mutability: Mutability): AttributeDocument {
  return {
    name,
    type,
    multiValued: false,
    description: '',
    required: false,
    caseExact: true,
    mutability,
    returned: 'default',
  }
}

export function toAttributeDef(doc: AttributeDocument): AttributeDef {
  const subAttributes = (doc.subAttributes ?? []).map(toAttributeDef)
  return {
    name: doc.name,
    type: doc.type,
    multiValued: doc.multiValued,
    required: doc.required,
    caseExact: doc.caseExact ?? false,
    mutability: doc.mutability,
    subAttributes,
    sub: new Map(subAttributes.map((s) => [s.name.toLowerCase(), s])),
  }
}

function schemaPart(urn: string, extension: boolean, extra: readonly AttributeDocument[] = []): SchemaPart {
  const attributes = [...extra, ...schemaDocument(urn).attributes].map(toAttributeDef)
  return { urn, extension, attributes, byName: new Map(attributes.map((a) => [a.name.toLowerCase(), a])) }
}

function resourceModel(
  resourceType: 'User' | 'Group',
  core: SchemaPart,
  extensions: SchemaPart[],
): ResourceModel {
  const parts = new Map([core, ...extensions].map((p) => [p.urn.toLowerCase(), p]))
  return { resourceType, core, extensions, part: (urn) => parts.get(urn.toLowerCase()) }
}

let models: { user: ResourceModel; group: ResourceModel } | undefined

function built(): { user: ResourceModel; group: ResourceModel } {
  models ??= {
    user: resourceModel('User', schemaPart(CORE_USER_URN, false, COMMON_ATTRIBUTES), [
      schemaPart(ENTERPRISE_USER_URN, true),
      schemaPart(ORGSYNC_USER_URN, true),
    ]),
    group: resourceModel('Group', schemaPart(CORE_GROUP_URN, false, COMMON_ATTRIBUTES), []),
  }
  return models
}

export const userModel = (): ResourceModel => built().user
export const groupModel = (): ResourceModel => built().group

/**
 * `name` in the core schema, or in the schema `uri` names (core or extension). Extension attributes
 * need their URN (RFC 7644 §3.10): `department` alone is not the enterprise department.
 */
export function resolveAttribute(
  model: ResourceModel,
  uri: string | undefined,
  name: string,
): ResolvedAttribute | undefined {
  const part = uri === undefined ? model.core : model.part(uri)
  const attribute = part?.byName.get(name.toLowerCase())
  return part && attribute ? { part, attribute } : undefined
}

/** The path SCIMMY and error messages use: `emails`, `name.givenName`, `urn:…:User:manager`. */
export function canonicalPath(resolved: ResolvedAttribute, sub?: AttributeDef): string {
  const name = sub ? `${resolved.attribute.name}.${sub.name}` : resolved.attribute.name
  return resolved.part.extension ? `${resolved.part.urn}:${name}` : name
}
