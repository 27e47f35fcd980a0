import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { CORE_GROUP_URN, CORE_USER_URN, ENTERPRISE_USER_URN } from '../filter'

/**
 * The SCIM schemas (RFC 7643 §7) orgsync serves and validates against, read from the repository's
 * `schemas/` folder. The JSON files are the single source: GET /Schemas returns them (plus meta),
 * and the SCIMMY definitions that validate writes are built from them.
 */

export { CORE_GROUP_URN, CORE_USER_URN, ENTERPRISE_USER_URN }
/**
 * Not under urn:ietf:params:scim: that namespace is IANA's (RFC 7643 §10.2); a vendor extension
 * lives under its own.
 */
export const ORGSYNC_USER_URN = 'urn:orgsync:scim:schemas:extension:2.0:User'
export const SCHEMA_URN = 'urn:ietf:params:scim:schemas:core:2.0:Schema'

export type AttributeType =
  'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'binary' | 'reference' | 'complex'
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly'
export type Returned = 'always' | 'never' | 'default' | 'request'
export type Uniqueness = 'none' | 'server' | 'global'

/** One attribute definition (RFC 7643 §7, "attributes"). */
export interface AttributeDocument {
  readonly name: string
  readonly type: AttributeType
  readonly multiValued: boolean
  readonly description: string
  readonly required: boolean
  readonly caseExact?: boolean
  readonly mutability: Mutability
  readonly returned: Returned
  readonly uniqueness?: Uniqueness
  readonly subAttributes?: readonly AttributeDocument[]
  readonly canonicalValues?: readonly string[]
  readonly referenceTypes?: readonly string[]
}

/** A Schema resource as GET /Schemas/{id} returns it, without meta (the server adds that). */
export interface SchemaDocument {
  readonly schemas: readonly [typeof SCHEMA_URN]
  readonly id: string
  readonly name: string
  readonly description: string
  readonly attributes: readonly AttributeDocument[]
}

const FILES: Readonly<Record<string, string>> = {
  [CORE_USER_URN]: 'user.schema.json',
  [ENTERPRISE_USER_URN]: 'enterprise-user.schema.json',
  [ORGSYNC_USER_URN]: 'orgsync-user.schema.json',
  [CORE_GROUP_URN]: 'group.schema.json',
}

let loaded: readonly SchemaDocument[] | undefined

/** The four documents: core User, enterprise User, orgsync User, core Group. Read once, frozen. */
export function schemaDocuments(): readonly SchemaDocument[] {
  if (!loaded) {
    const dir = findSchemasDir()
    loaded = Object.freeze(
      Object.entries(FILES).map(([urn, file]) => deepFreeze(readSchemaDocument(join(dir, file), urn))),
    )
  }
  return loaded
}

export function schemaDocument(urn: string): SchemaDocument {
  const doc = schemaDocuments().find((d) => d.id === urn)
  if (!doc) throw new Error(`no SCIM schema document for ${urn}`)
  return doc
}

/**
 * The code runs from src/ (tsx, jest) and from dist/src/ (after the build), so the folder is found
 * by walking up to the package root rather than by a fixed relative path.
 */
function findSchemasDir(): string {
  let dir = __dirname
  for (;;) {
    const candidate = join(dir, 'schemas')
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no schemas/ folder beside a package.json above ${__dirname}`)
    dir = parent
  }
}

/** A malformed file is a broken release, not a client error: fail loudly at first use. */
function readSchemaDocument(file: string, urn: string): SchemaDocument {
  const doc: unknown = JSON.parse(readFileSync(file, 'utf8'))
  const fail = (why: string): never => {
    throw new Error(`SCIM schema ${file}: ${why}`)
  }
  if (!isObject(doc)) return fail('not a JSON object')
  if (doc.id !== urn) fail(`id is ${JSON.stringify(doc.id)}, expected ${urn}`)
  if (!Array.isArray(doc.schemas) || doc.schemas.length !== 1 || doc.schemas[0] !== SCHEMA_URN)
    fail(`schemas must be ["${SCHEMA_URN}"]`)
  if (typeof doc.name !== 'string' || typeof doc.description !== 'string')
    fail('name and description are strings')
  if (!Array.isArray(doc.attributes)) return fail('attributes is not an array')
  doc.attributes.forEach((a: unknown, i: number) => checkAttribute(a, `attributes[${i}]`, fail, false))
  return doc as unknown as SchemaDocument
}

const TYPES = new Set([
  'string',
  'boolean',
  'decimal',
  'integer',
  'dateTime',
  'binary',
  'reference',
  'complex',
])
const MUTABILITY = new Set(['readOnly', 'readWrite', 'immutable', 'writeOnly'])
const RETURNED = new Set(['always', 'never', 'default', 'request'])
const UNIQUENESS = new Set(['none', 'server', 'global'])

function checkAttribute(a: unknown, where: string, fail: (why: string) => never, isSub: boolean): void {
  if (!isObject(a)) return fail(`${where} is not an object`)
  const name = typeof a.name === 'string' ? a.name : fail(`${where}.name is not a string`)
  const at = `${where} (${name})`
  if (!TYPES.has(String(a.type))) fail(`${at}: unknown type ${JSON.stringify(a.type)}`)
  for (const key of ['multiValued', 'required'] as const) {
    if (typeof a[key] !== 'boolean') fail(`${at}: ${key} is not a boolean`)
  }
  if (typeof a.description !== 'string') fail(`${at}: description is not a string`)
  if (!MUTABILITY.has(String(a.mutability))) fail(`${at}: bad mutability ${JSON.stringify(a.mutability)}`)
  if (!RETURNED.has(String(a.returned))) fail(`${at}: bad returned ${JSON.stringify(a.returned)}`)
  if (a.uniqueness !== undefined && !UNIQUENESS.has(String(a.uniqueness)))
    fail(`${at}: bad uniqueness ${JSON.stringify(a.uniqueness)}`)
  if (a.type === 'reference' && !isStringArray(a.referenceTypes))
    fail(`${at}: a reference needs referenceTypes`)
  if (a.canonicalValues !== undefined && !isStringArray(a.canonicalValues))
    fail(`${at}: canonicalValues is not a list of strings`)
  if (a.type === 'complex') {
    // RFC 7643 §2.3.8: sub-attributes are never complex themselves.
    if (isSub) fail(`${at}: a sub-attribute cannot be complex`)
    if (!Array.isArray(a.subAttributes) || a.subAttributes.length === 0)
      fail(`${at}: a complex attribute needs subAttributes`)
    ;(a.subAttributes as unknown[]).forEach((s, i) =>
      checkAttribute(s, `${at}.subAttributes[${i}]`, fail, true),
    )
  } else if (a.subAttributes !== undefined) {
    fail(`${at}: only complex attributes have subAttributes`)
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
