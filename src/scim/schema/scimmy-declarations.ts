import { Types } from 'scimmy'
import {
  CORE_GROUP_URN,
  CORE_USER_URN,
  ENTERPRISE_USER_URN,
  ORGSYNC_USER_URN,
  schemaDocument,
  type AttributeDocument,
  type Mutability,
  type SchemaDocument,
} from './schema-documents'

/** A SCIMMY Schema class (what Messages.PatchOp.apply works on) bound to one of our definitions. */
export type ScimmyResourceClass = new (data: object, direction?: string) => Types.Schema

export interface ScimmyDeclarations {
  /** Core User extended with the enterprise and orgsync extensions. */
  readonly user: Types.SchemaDefinition
  readonly group: Types.SchemaDefinition
  readonly UserResource: ScimmyResourceClass
  readonly GroupResource: ScimmyResourceClass
}

let declarations: ScimmyDeclarations | undefined

/**
 * SCIMMY definitions built from our schema documents, so the JSON served at /Schemas is what
 * validates writes. They are our own instances, never SCIMMY's Schemas.User/Group singletons nor
 * anything registered with Schemas.declare: those are process-wide and anyone may extend or
 * truncate them. Built on first use; later calls return the same objects.
 */
export function scimmyDeclarations(): ScimmyDeclarations {
  if (!declarations) {
    const user = definitionOf(schemaDocument(CORE_USER_URN))
      .extend(definitionOf(schemaDocument(ENTERPRISE_USER_URN)), false)
      .extend(definitionOf(schemaDocument(ORGSYNC_USER_URN)), false)
    const group = definitionOf(schemaDocument(CORE_GROUP_URN))
    declarations = Object.freeze({
      user,
      group,
      UserResource: resourceClass(user),
      GroupResource: resourceClass(group),
    })
  }
  return declarations
}

/** SCIMMY only accepts ids under urn:ietf:params:scim:schemas: (its constructor checks). */
const SCIMMY_ID_PREFIX = 'urn:ietf:params:scim:schemas:'

function definitionOf(doc: SchemaDocument): Types.SchemaDefinition {
  const attributes = doc.attributes.map(attributeOf)
  if (doc.id.startsWith(SCIMMY_ID_PREFIX)) {
    return new Types.SchemaDefinition(doc.name, doc.id, doc.description, attributes)
  }
  // Our vendor URN (urn:orgsync:…) is a valid schema URI (RFC 7643 §10.2 reserves only the IETF
  // namespace), but SCIMMY's constructor refuses it. The check is in the constructor only, and `id` is
  // a plain public property that extension lookup reads afterwards, so we construct with a stand-in id
  // and set the real one before the definition is used anywhere.
  const definition = new Types.SchemaDefinition(
    doc.name,
    `${SCIMMY_ID_PREFIX}extension:orgsync-standin:${doc.name}`,
    doc.description,
    attributes,
  )
  definition.id = doc.id
  return definition
}

const MUTABLE: Readonly<Record<Mutability, boolean | string>> = {
  readWrite: true,
  writeOnly: true,
  readOnly: false,
  immutable: 'immutable',
}

/**
 * RFC 7643 characteristics → SCIMMY's attribute config. SCIMMY models mutability as `mutable`
 * (true, false or a word) plus a `direction`: readOnly is not accepted in requests ("out"), writeOnly
 * is never returned ("in"). Any mutable value other than `true` makes its setters refuse changes, so
 * readWrite must be `true` and writeOnly too (with direction "in").
 *
 * canonicalValues are left out on purpose: RFC 7643 §7 calls them suggestions a provider "MAY" use,
 * and SCIMMY would reject any other value case-sensitively (a "Work" email type, a "Skype" ims).
 * They stay in the documents, for clients to read.
 */
function attributeOf(doc: AttributeDocument): Types.Attribute {
  const config: Types.Attribute.AttributeConfig = {
    multiValued: doc.multiValued,
    description: doc.description,
    required: doc.required,
    mutable: MUTABLE[doc.mutability],
    returned: doc.returned,
    direction: doc.mutability === 'readOnly' ? 'out' : doc.mutability === 'writeOnly' ? 'in' : 'both',
    // SCIMMY refuses a binary attribute that is not caseExact, or unique in any way.
    uniqueness: doc.type === 'binary' ? 'none' : (doc.uniqueness ?? 'none'),
  }
  if (doc.caseExact !== undefined) config.caseExact = doc.type === 'binary' ? true : doc.caseExact
  if (doc.referenceTypes) config.referenceTypes = [...doc.referenceTypes]
  return new Types.Attribute(doc.type, doc.name, config, (doc.subAttributes ?? []).map(attributeOf))
}

/** What SCIMMY's own Schemas.User is, for our definition: a Schema subclass whose instances coerce. */
function resourceClass(definition: Types.SchemaDefinition): ScimmyResourceClass {
  return class extends Types.Schema {
    static override readonly id = definition.id
    static override readonly definition = definition

    constructor(data: object, direction = 'both') {
      super(data, direction)
      Object.assign(this, definition.coerce(data, direction))
    }
  }
}
